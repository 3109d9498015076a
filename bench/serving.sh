#!/usr/bin/env bash
# Serving benchmark: hlsd against nginx serving the identical bytes from tmpfs.
#
#   bench/serving.sh                 # 10 s per run, 64 connections, 2 client threads
#   DURATION=5 CONNS=256 bench/serving.sh
#
# Starts a release hlsd on 127.0.0.1 (demo off) and publishes a 720p ~4 Mbit/s clip to it in
# real time with `hlsd push --loop`. Before each hlsd run it takes the newest segment (and
# the media playlist) from hlsd and writes the same bytes to a tmpfs directory that nginx
# (worker_processes auto, sendfile, keep-alive, open_file_cache; config written here)
# serves. Then the same wrk (HTTP/1.1 keep-alive) and h2load (HTTP/2 over cleartext with
# prior knowledge, h2c) runs go to each server, one after the other, and the script prints
# requests/s, hlsd/nginx and each server's CPU time per request (µs, all its processes and
# threads). Client and servers share the machine's cores.
# Needs wrk, nginx, h2load (nghttp2-client), ffmpeg, curl, python3: installed with apt when
# missing and run as root.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
STREAMS="${STREAMS:-10}" # h2load concurrent streams per connection

need wrk:wrk nginx:nginx h2load:nghttp2-client ffmpeg:ffmpeg curl:curl python3:python3
build_hlsd
CLIP="$(make_clip)"

TMP="$(mktemp -d)"
SHM="$(mktemp -d -p /dev/shm hlsd-bench.XXXXXX)"
chmod 755 "$TMP" "$SHM"
HP="$(free_port)"
NP="$(free_port)"
N2P="$(free_port)"

# hlsd: the shipped configuration with the demo off and a loopback listener.
start_hlsd "$HP"
"$HLSD" push --loop "$CLIP" "http://127.0.0.1:$HP/ingest/bench" 2>"$TMP/push.log" &
PIDS+=($!)

cat >"$TMP/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 100000000;
  open_file_cache max=64 inactive=60s;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  client_body_temp_path $TMP/body;
  proxy_temp_path $TMP/proxy;
  fastcgi_temp_path $TMP/fastcgi;
  uwsgi_temp_path $TMP/uwsgi;
  scgi_temp_path $TMP/scgi;
  server {
    listen 127.0.0.1:$NP;
    listen 127.0.0.1:$N2P http2;
    root $SHM;
  }
}
EOF
echo ok >"$SHM/ok"
nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

LIVE="http://127.0.0.1:$HP/live/bench/main"
# The first playlist request waits for the first segment.
wait_http "$LIVE/media.m3u8" 30
wait_http "http://127.0.0.1:$NP/ok" 10

echo "hlsd ${HLSD_BIN:-$(git -C "$ROOT" rev-parse --short HEAD)}, $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), h2load $(h2load --version | awk '{print $2}')"
echo "$(nproc) cores; $CONNS connections, $THREADS client threads, ${DURATION}s per run"

# fresh_segment: copies the newest listed segment (and the playlist as it is now) to tmpfs;
# prints the segment's name.
fresh_segment() {
  curl -fsS "$LIVE/media.m3u8" -o "$SHM/media.m3u8"
  local seg
  seg="$(grep -E '^seg-.*\.ts$' "$SHM/media.m3u8" | tail -1)"
  curl -fsS "$LIVE/$seg" -o "$SHM/$seg"
  echo "$seg"
}

# run_wrk URL: prints requests/s; fails on any non-2xx answer or socket error.
run_wrk() {
  local out
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "$1")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "wrk against $1 saw errors:" >&2
    echo "$out" >&2
    return 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

# run_h2load URL: prints requests/s; fails when a request did not succeed.
run_h2load() {
  local out
  out="$(h2load -c"$CONNS" -t"$THREADS" -m"$STREAMS" -D "$DURATION" "$1")"
  if ! grep -qE '^requests: [1-9][0-9]* total.* 0 failed, 0 errored' <<<"$out" ||
    ! grep -qE '^status codes: .* 0 4xx, 0 5xx' <<<"$out"; then
    echo "h2load against $1 saw failures:" >&2
    echo "$out" >&2
    return 1
  fi
  awk '/^finished in/ {print $4}' <<<"$out"
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

# Server CPU (user + system, every process) per request, in µs: the machine's cores are
# shared, so requests/s move with whatever else runs; a server's own CPU per answer moves
# much less.
nginx_ticks() {
  local t=0 p
  for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
hlsd_ticks() { cpu_ticks "$HLSD_PID"; }
# measure TICKS_FN RUN_FN URL: prints "requests/s µs-per-request".
measure() {
  local t0 rps t1
  t0="$($1)"
  rps="$($2 "$3")"
  t1="$($1)"
  echo "$rps $(python3 -c "print(f'{($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / ($rps * $DURATION):.1f}')")"
}

printf '%-26s %10s %11s %11s %10s %9s %9s\n' "" "bytes" "hlsd req/s" "nginx req/s" "hlsd/nginx" "hlsd µs" "nginx µs"
row() { # label bytes client hlsd-url nginx-url
  local h n
  read -r -a h <<<"$(measure hlsd_ticks "$3" "$4")"
  read -r -a n <<<"$(measure nginx_ticks "$3" "$5")"
  printf '%-26s %10s %11.0f %11.0f %10s %9s %9s\n' "$1" "$2" "${h[0]}" "${n[0]}" "$(ratio "${h[0]}" "${n[0]}")" "${h[1]}" "${n[1]}"
}

seg="$(fresh_segment)"
row "HTTP/1.1 segment" "$(stat -c %s "$SHM/$seg")" run_wrk "$LIVE/$seg" "http://127.0.0.1:$NP/$seg"

curl -fsS "$LIVE/media.m3u8" -o "$SHM/media.m3u8"
row "HTTP/1.1 media playlist" "$(stat -c %s "$SHM/media.m3u8")" run_wrk "$LIVE/media.m3u8" "http://127.0.0.1:$NP/media.m3u8"

seg="$(fresh_segment)"
row "HTTP/2 (h2c) segment" "$(stat -c %s "$SHM/$seg")" run_h2load "$LIVE/$seg" "http://127.0.0.1:$N2P/$seg"

curl -fsS "$LIVE/media.m3u8" -o "$SHM/media.m3u8"
row "HTTP/2 (h2c) media playlist" "$(stat -c %s "$SHM/media.m3u8")" run_h2load "$LIVE/media.m3u8" "http://127.0.0.1:$N2P/media.m3u8"

echo "hlsd CPU over the whole script: $(($(cpu_ticks "$HLSD_PID") / $(getconf CLK_TCK))) s, RSS $(($(rss_kb "$HLSD_PID") / 1024)) MiB"
