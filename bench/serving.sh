#!/usr/bin/env bash
# Serving benchmark: hlsd against nginx serving the identical bytes from tmpfs.
#
#   bench/serving.sh                      # 10 s per run, 64 connections, 2 client threads
#   DURATION=5 CONNS=256 bench/serving.sh
#   PIN=0/1 bench/serving.sh              # servers on core 0, wrk/h2load on core 1 ("1+1")
#   PIN=0/1 ROUNDS=3 HLSD_BINS="/tmp/hlsd-old target/release/hlsd" bench/serving.sh
#
# Starts a release hlsd on 127.0.0.1 (demo off) and publishes a 720p ~4 Mbit/s clip to it in
# real time with `hlsd push --loop`, plus FEEDS (default 200, 0 for none) feeds of a 6 s
# 360p clip pushed once with `--fast`, which then stay readable (reconnect grace and linger
# an hour). From hlsd it takes the newest segment, the media playlist and the many feeds'
# playlists and writes the same bytes to a tmpfs directory that nginx (sendfile,
# keep-alive, open_file_cache; config written here) serves. Then the same wrk (HTTP/1.1
# keep-alive) and h2load (HTTP/2 over cleartext with prior knowledge, h2c) runs go to each
# server, one after the other: a segment (≈1.2 MB) and its keyframe's LL-HLS part (≈200 KB) over
# HTTP/1.1, the media playlist over HTTP/1.1 and h2c, and the many feeds' playlists, requests spread round-robin over the feeds (the
# registry lookup matters more there). It prints requests/s, hlsd/nginx and each server's
# CPU time per request (µs, all its processes and threads).
#
# PIN=SERVER/LOAD (taskset CPU lists, e.g. 0/1 or 0-3/4-7) pins hlsd and nginx (one worker
# per server CPU) to SERVER and wrk, h2load and the publishers to LOAD, whose CPU count
# gives the client threads; without it everything shares the machine's cores.
# HLSD_BINS="A B ..." measures several hlsd builds in the same command, alternated within
# each of ROUNDS rounds (nginx once per round); the table gives medians over the rounds.
# Needs wrk, nginx, h2load (nghttp2-client), ffmpeg, curl, python3: installed with apt when
# missing and run as root.
# FLOOR=1 adds, in each round, examples/http_floor: tokio and hyper as hlsd runs them
# (runtime, `hlsd::serve::builder`) answering every request with one fixed answer, the bytes
# and headers hlsd gave for that row; the segment, part and media playlist rows only. Its
# req/s against nginx is the most any hlsd could reach on this stack without hlsd's own
# work per request.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
STREAMS="${STREAMS:-10}" # h2load concurrent streams per connection
FEEDS="${FEEDS:-200}"
ROUNDS="${ROUNDS:-1}"
PIN="${PIN:-}"
FLOOR="${FLOOR:-0}"

need wrk:wrk nginx:nginx h2load:nghttp2-client ffmpeg:ffmpeg curl:curl python3:python3 taskset:util-linux
if [ -z "${HLSD_BINS:-}" ]; then
  build_hlsd
  HLSD_BINS="$HLSD"
fi
read -r -a BINS <<<"$HLSD_BINS"
if [ "$FLOOR" = 1 ]; then
  (cd "$ROOT" && cargo build --release --quiet --example http_floor)
  FLOOR_BIN="$ROOT/target/release/examples/http_floor"
fi
CLIP="$(make_clip)"
SMALL="$(make_small_clip 6)"

# cpu_count LIST: CPUs in a taskset list such as 0-3,8.
cpu_count() {
  python3 -c "import sys; print(sum(int(b) - int(a) + 1 if a != b else 1 for a, _, b in (p.partition('-') if '-' in p else (p, '-', p) for p in sys.argv[1].split(','))))" "$1"
}
if [ -n "$PIN" ]; then
  SRV=(taskset -c "${PIN%/*}")
  LOAD=(taskset -c "${PIN#*/}")
  WORKERS="$(cpu_count "${PIN%/*}")"
  THREADS="${THREADS:-$(cpu_count "${PIN#*/}")}"
else
  SRV=()
  LOAD=()
  WORKERS=auto
  THREADS="${THREADS:-2}"
fi

TMP="$(mktemp -d)"
SHM="$(mktemp -d -p /dev/shm hlsd-bench.XXXXXX)"
chmod 755 "$TMP" "$SHM"
NP="$(free_port)"
N2P="$(free_port)"

cat >"$TMP/nginx.conf" <<NGINX
worker_processes $WORKERS;
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
  open_file_cache max=1024 inactive=60s;
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
NGINX
echo ok >"$SHM/ok"
"${SRV[@]}" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NP/ok" 10

echo "hlsd ${BINS[*]}, $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), h2load $(h2load --version | awk '{print $2}')"
echo "$(nproc) cores, pinned: ${PIN:-no} (server/load CPUs); $CONNS connections, $THREADS client threads, ${DURATION}s per run, $FEEDS feeds, $ROUNDS round(s)"

# start_server BIN: a fresh hlsd from BIN (demo off, feeds kept an hour after their
# publisher leaves) with the looped publish of bench/main and the FEEDS one-off publishes;
# sets HP, HLSD_PID, PUSH_PID and LIVE once every feed has a playlist.
start_server() {
  HP="$(free_port)"
  hlsd_toml "$HP" -e 's|^reconnect_grace = .*|reconnect_grace = 3600.0|' \
    -e 's|^linger = .*|linger = 3600.0|' >"$TMP/hlsd.toml"
  "${SRV[@]}" "$1" --config "$TMP/hlsd.toml" 2>"$TMP/hlsd.log" &
  HLSD_PID=$!
  PIDS+=("$HLSD_PID")
  wait_http "http://127.0.0.1:$HP/healthz"
  "${LOAD[@]}" "$1" push --loop "$CLIP" "http://127.0.0.1:$HP/ingest/bench" 2>>"$TMP/push.log" &
  PUSH_PID=$!
  PIDS+=("$PUSH_PID")
  local i batch=()
  for ((i = 0; i < FEEDS; i++)); do
    "${LOAD[@]}" "$1" push --fast "$SMALL" "http://127.0.0.1:$HP/ingest/f$i" 2>>"$TMP/push.log" &
    batch+=($!)
    if [ ${#batch[@]} -ge 20 ]; then
      wait "${batch[@]}"
      batch=()
    fi
  done
  [ ${#batch[@]} -eq 0 ] || wait "${batch[@]}"
  LIVE="http://127.0.0.1:$HP/live/bench/main"
  # The first playlist request waits for the first segment.
  wait_http "$LIVE/media.m3u8" 30
  : >"$TMP/hlsd-urls"
  : >"$TMP/nginx-urls"
  for ((i = 0; i < FEEDS; i++)); do
    mkdir -p "$SHM/f$i/main"
    curl -fsS "http://127.0.0.1:$HP/live/f$i/main/media.m3u8" -o "$SHM/f$i/main/media.m3u8"
    echo "http://127.0.0.1:$HP/live/f$i/main/media.m3u8" >>"$TMP/hlsd-urls"
    echo "http://127.0.0.1:$NP/f$i/main/media.m3u8" >>"$TMP/nginx-urls"
  done
}

stop_server() {
  kill "$PUSH_PID" "$HLSD_PID" 2>/dev/null || true
  wait "$PUSH_PID" "$HLSD_PID" 2>/dev/null || true
}

# fresh_segment: copies the newest listed segment (and the playlist as it is now) to tmpfs;
# prints the segment's name.
fresh_segment() {
  curl -fsS "$LIVE/media.m3u8" -o "$SHM/media.m3u8"
  local seg
  seg="$(grep -E '^seg-.*\.ts$' "$SHM/media.m3u8" | tail -1)"
  curl -fsS "$LIVE/$seg" -o "$SHM/$seg"
  echo "$seg"
}

# fresh_part: copies a part of a listed segment to tmpfs; prints its name.
fresh_part() {
  local part
  # The keyframe's (INDEPENDENT) part of the last listed segment: the largest.
  part="$(awk '/INDEPENDENT=YES/ && match($0, /part-[^"]*\.ts/) {p = substr($0, RSTART, RLENGTH)} /^seg-/ {last = p} END {print last}' "$SHM/media.m3u8")"
  curl -fsS "$LIVE/$part" -o "$SHM/$part"
  echo "$part"
}

# Requests spread round-robin over the URLs (one a line) of the file in $URLS.
cat >"$TMP/spread.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("URLS")) do
  paths[#paths + 1] = line:gsub("^http://[^/]*", "")
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
LUA

# run_wrk URL|@FILE: prints requests/s; fails on any non-2xx answer or socket error. @FILE
# spreads the requests over the URLs in FILE.
run_wrk() {
  local out url="$1" script=()
  if [[ "$url" == @* ]]; then
    script=(-s "$TMP/spread.lua")
    export URLS="${url#@}"
    url="$(head -1 "$URLS")"
  fi
  out="$("${LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "${script[@]}" "$url")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "wrk against $1 saw errors:" >&2
    echo "$out" >&2
    return 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

# run_h2load URL|@FILE: prints requests/s; fails when a request did not succeed.
run_h2load() {
  local out target=("$1")
  [[ "$1" == @* ]] && target=(-i "${1#@}")
  out="$("${LOAD[@]}" h2load -c"$CONNS" -t"$THREADS" -m"$STREAMS" -D "$DURATION" "${target[@]}")"
  if ! grep -qE '^requests: [1-9][0-9]* total.* 0 failed, 0 errored' <<<"$out" ||
    ! grep -qE '^status codes: .* 0 4xx, 0 5xx' <<<"$out"; then
    echo "h2load against $1 saw failures:" >&2
    echo "$out" >&2
    return 1
  fi
  awk '/^finished in/ {print $4}' <<<"$out"
}

# Server CPU (user + system, every process) per request, in µs: unpinned, the machine's
# cores are shared, so requests/s move with whatever else runs; a server's own CPU per
# answer moves much less.
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

ROWS=(seg1 part1 pl1 pl2 many1 many2)
declare -A LABEL=([seg1]="HTTP/1.1 segment" [part1]="HTTP/1.1 part" [pl1]="HTTP/1.1 media playlist" [pl2]="h2c media playlist"
  [many1]="HTTP/1.1 playlists, $FEEDS feeds" [many2]="h2c playlists, $FEEDS feeds")
declare -A BYTES RPS US
# record ROW WHO "rps µs"
record() {
  local v
  read -r -a v <<<"$3"
  RPS[$1|$2]+="${v[0]} "
  US[$1|$2]+="${v[1]} "
}

# rows WHO TICKS_FN: every row against hlsd (WHO = its index in BINS) or nginx, with the
# files nginx serves as hlsd last wrote them.
rows() {
  local seg host host2 pl many
  if [ "$1" = nginx ]; then host="http://127.0.0.1:$NP" host2="http://127.0.0.1:$N2P" pl=/media.m3u8 many="$TMP/nginx-urls"
  else host="${LIVE}" host2="$LIVE" pl=/media.m3u8 many="$TMP/hlsd-urls"; fi
  seg="$(cat "$TMP/seg")"
  record seg1 "$1" "$(measure "$2" run_wrk "$host/$seg")"
  record part1 "$1" "$(measure "$2" run_wrk "$host/$(cat "$TMP/part")")"
  record pl1 "$1" "$(measure "$2" run_wrk "$host$pl")"
  record pl2 "$1" "$(measure "$2" run_h2load "$host2$pl")"
  if [ "$FEEDS" -gt 0 ]; then
    record many1 "$1" "$(measure "$2" run_wrk "@$many")"
    if [ "$1" = nginx ]; then sed "s|:$NP/|:$N2P/|" "$many" >"$TMP/nginx2-urls"; many="$TMP/nginx2-urls"; fi
    record many2 "$1" "$(measure "$2" run_h2load "@$many")"
  fi
}

# floor_rows: the segment, part and playlist rows against examples/http_floor, one instance
# per answer (FLOOR=1).
floor_rows() {
  local row file fp
  for row in seg1 part1 pl1; do
    case "$row" in
      seg1) file="$SHM/$(cat "$TMP/seg")" ;;
      part1) file="$SHM/$(cat "$TMP/part")" ;;
      pl1) file="$SHM/media.m3u8" ;;
    esac
    fp="$(free_port)"
    "${SRV[@]}" "$FLOOR_BIN" "127.0.0.1:$fp" "$file" "$TMP/h-$row" 2>>"$TMP/floor.log" &
    FLOOR_PID=$!
    PIDS+=("$FLOOR_PID")
    wait_http "http://127.0.0.1:$fp/" 10
    record "$row" floor "$(measure floor_ticks run_wrk "http://127.0.0.1:$fp/")"
    if [ "$row" = pl1 ]; then
      record pl2 floor "$(measure floor_ticks run_h2load "http://127.0.0.1:$fp/")"
    fi
    kill "$FLOOR_PID" 2>/dev/null || true
    wait "$FLOOR_PID" 2>/dev/null || true
  done
}
floor_ticks() { cpu_ticks "$FLOOR_PID"; }

for ((round = 1; round <= ROUNDS; round++)); do
  for b in "${!BINS[@]}"; do
    start_server "${BINS[$b]}"
    fresh_segment >"$TMP/seg"
    fresh_part >"$TMP/part"
    BYTES[seg1]="$(stat -c %s "$SHM/$(cat "$TMP/seg")")"
    BYTES[part1]="$(stat -c %s "$SHM/$(cat "$TMP/part")")"
    BYTES[pl1]="$(stat -c %s "$SHM/media.m3u8")"
    BYTES[pl2]="${BYTES[pl1]}"
    if [ "$FEEDS" -gt 0 ]; then
      BYTES[many1]="$(stat -c %s "$SHM/f0/main/media.m3u8")"
      BYTES[many2]="${BYTES[many1]}"
    fi
    # The answers' headers, for the floor.
    curl -fsS -D "$TMP/h-seg1" -o /dev/null "$LIVE/$(cat "$TMP/seg")"
    curl -fsS -D "$TMP/h-part1" -o /dev/null "$LIVE/$(cat "$TMP/part")"
    curl -fsS -D "$TMP/h-pl1" -o /dev/null "$LIVE/media.m3u8"
    rows "$b" hlsd_ticks
    echo "round $round, hlsd ${BINS[$b]}: CPU $(($(cpu_ticks "$HLSD_PID") / $(getconf CLK_TCK))) s, RSS $(($(rss_kb "$HLSD_PID") / 1024)) MiB" >&2
    stop_server
  done
  # nginx serves the bytes the last hlsd of the round wrote.
  rows nginx nginx_ticks
  if [ "$FLOOR" = 1 ]; then floor_rows; fi
done

median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

printf '\n%-28s %7s' "" "bytes"
for b in "${!BINS[@]}"; do printf ' %12s %7s' "hlsd#$b req/s" "/nginx"; done
printf ' %11s' "nginx req/s"
if [ "$FLOOR" = 1 ]; then printf ' %11s %7s' "floor req/s" "/nginx"; fi
for b in "${!BINS[@]}"; do printf ' %8s' "hlsd#$b µs"; done
printf ' %8s' "nginx µs"
if [ "$FLOOR" = 1 ]; then printf ' %8s' "floor µs"; fi
printf '\n'
for row in "${ROWS[@]}"; do
  [ -n "${RPS[$row|nginx]:-}" ] || continue
  n="$(median "${RPS[$row|nginx]}")"
  printf '%-28s %7s' "${LABEL[$row]}" "${BYTES[$row]}"
  for b in "${!BINS[@]}"; do
    h="$(median "${RPS[$row|$b]}")"
    printf ' %12.0f %7s' "$h" "$(ratio "$h" "$n")"
  done
  printf ' %11.0f' "$n"
  if [ "$FLOOR" = 1 ]; then
    if [ -n "${RPS[$row|floor]:-}" ]; then
      f="$(median "${RPS[$row|floor]}")"
      printf ' %11.0f %7s' "$f" "$(ratio "$f" "$n")"
    else printf ' %11s %7s' - -; fi
  fi
  for b in "${!BINS[@]}"; do printf ' %8.1f' "$(median "${US[$row|$b]}")"; done
  printf ' %8.1f' "$(median "${US[$row|nginx]}")"
  if [ "$FLOOR" = 1 ]; then
    if [ -n "${US[$row|floor]:-}" ]; then printf ' %8.1f' "$(median "${US[$row|floor]}")"; else printf ' %8s' -; fi
  fi
  printf '\n'
done
for b in "${!BINS[@]}"; do echo "hlsd#$b = ${BINS[$b]}"; done
for row in "${ROWS[@]}"; do
  [ -n "${RPS[$row|nginx]:-}" ] || continue
  echo "per round, ${LABEL[$row]}: $(for b in "${!BINS[@]}"; do printf 'hlsd#%s %s; ' "$b" "${RPS[$row|$b]}"; done)nginx ${RPS[$row|nginx]}${RPS[$row|floor]:+; floor ${RPS[$row|floor]}}"
done
