#!/usr/bin/env bash
# RTMP ingest cost: CPU-seconds per GB of media, in one run,
#   - of hlsd and of nginx-rtmp (Debian's libnginx-mod-rtmp, `live on; hls on;`, HLS written
#     to a tmpfs) receiving the same RTMP pushes (one `ffmpeg -re ... -f tee` per feed, an FLV
#     output to each server), then
#   - of hlsd receiving the same clip over HTTP push (`ffmpeg -re ... -method POST`).
# RUNS rounds of both phases; each figure's median is printed last.
#
#   bench/rtmp.sh                      # 4 feeds, 60 s a phase, 3 rounds
#   FEEDS=8 LOOPS=1 RUNS=1 bench/rtmp.sh
#
# The input is bench/lib.sh's 30 s 1280x720 25 fps H.264 + AAC clip at ~4 Mbit/s, repeated
# LOOPS times (remuxed to FLV for the RTMP pushes). Every figure is divided by the same bytes: the input's MPEG-TS size times
# FEEDS (the media is the same whatever carries it; FLV is ~5 % smaller than the TS). CPU is
# user + system from /proc/PID/stat before and after each phase. hlsd cuts LL-HLS parts
# and segments with its shipped configuration; nginx-rtmp cuts 2 s segments, writes them to
# files and keeps no parts. The pushers' CPU is counted on no side, but they share the two
# cores with the servers.
# Needs ffmpeg, nginx with the RTMP module, curl, python3 (installed with apt when missing,
# as root).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FEEDS="${FEEDS:-4}"
LOOPS="${LOOPS:-2}"
RUNS="${RUNS:-3}"
NGINX="${NGINX:-/usr/sbin/nginx}"
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

need ffmpeg:ffmpeg curl:curl python3:python3
need_file "$NGINX:nginx" "$RTMP_MODULE:libnginx-mod-rtmp"
build_hlsd
CLIP="$(make_clip)"
INPUT="$DATA/clip720-4M-x$LOOPS.ts"
if [ ! -s "$INPUT" ]; then
  ffmpeg -hide_banner -loglevel error -y -stream_loop $((LOOPS - 1)) -i "$CLIP" -c copy \
    -f mpegts "$INPUT.tmp" && mv "$INPUT.tmp" "$INPUT"
fi
# The same media as FLV for the RTMP pushes (ffmpeg's tee cannot write FLV from a TS input's
# codec tags).
FLV="$DATA/clip720-4M-x$LOOPS.flv"
if [ ! -s "$FLV" ]; then
  ffmpeg -hide_banner -loglevel error -y -i "$INPUT" -c copy -f flv "$FLV.tmp" && mv "$FLV.tmp" "$FLV"
fi
TMP="$(mktemp -d)"
SHM="$(mktemp -d -p /dev/shm hlsd-bench-rtmp.XXXXXX)"
HTTP_PORT="$(free_port)"
RTMP_PORT="$(free_port)"
NGINX_PORT="$(free_port)"

hlsd_toml "$HTTP_PORT" -e 's|^linger = .*|linger = 600.0|' >"$TMP/hlsd.toml"
printf '[rtmp]\nlisten = "127.0.0.1:%s"\n' "$RTMP_PORT" >>"$TMP/hlsd.toml"
"$HLSD" --config "$TMP/hlsd.toml" 2>"$TMP/hlsd.log" &
HLSD_PID=$!
PIDS+=("$HLSD_PID")
wait_http "http://127.0.0.1:$HTTP_PORT/healthz"

mkdir -p "$SHM/hls"
cat >"$TMP/nginx.conf" <<EOF
load_module $RTMP_MODULE;
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:$NGINX_PORT;
    chunk_size 4096;
    application live {
      live on;
      hls on;
      hls_path $SHM/hls;
      hls_fragment 2s;
      hls_playlist_length 12s;
    }
  }
}
EOF
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" 2>"$TMP/nginx.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_listen "$NGINX_PORT"
wait_listen "$RTMP_PORT"

HZ="$(getconf CLK_TCK)"
MEDIA=$(($(stat -c %s "$INPUT") * FEEDS))
per_gb() { # TICKS
  python3 -c "import sys; t, b, hz = map(float, sys.argv[1:]); print(f'{t / hz / (b / 1e9):.2f}')" "$1" "$MEDIA" "$HZ"
}
echo "feeds=$FEEDS input=$(stat -c %s "$INPUT") bytes x $FEEDS, $((LOOPS * 30)) s in real time, $RUNS rounds"
printf '%-6s %-18s %-18s %-18s\n' round "hlsd RTMP" "nginx-rtmp RTMP" "hlsd HTTP push"
ROWS=()
for ((run = 1; run <= RUNS; run++)); do
  h0="$(cpu_ticks "$HLSD_PID")"
  n0="$(cpu_ticks "$NGINX_PID")"
  PUSHERS=()
  for ((i = 0; i < FEEDS; i++)); do
    ffmpeg -nostdin -hide_banner -loglevel error -re -i "$FLV" -map 0 -c copy -f tee \
      "[f=flv]rtmp://127.0.0.1:$RTMP_PORT/live/r$run-rtmp$i|[f=flv]rtmp://127.0.0.1:$NGINX_PORT/live/r$run-rtmp$i" \
      2>"$TMP/push$run-$i.log" &
    PUSHERS+=($!)
  done
  for p in "${PUSHERS[@]}"; do wait "$p"; done
  sleep 2
  h1="$(cpu_ticks "$HLSD_PID")"
  # Both servers made HLS of every push.
  for ((i = 0; i < FEEDS; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/live/r$run-rtmp$i/main/media.m3u8"
    [ -s "$SHM/hls/r$run-rtmp$i.m3u8" ] || { echo "nginx-rtmp made no playlist for r$run-rtmp$i" >&2; exit 1; }
  done
  n1="$(cpu_ticks "$NGINX_PID")"
  PUSHERS=()
  for ((i = 0; i < FEEDS; i++)); do
    ffmpeg -nostdin -hide_banner -loglevel error -re -i "$INPUT" -c copy -f mpegts \
      -method POST "http://127.0.0.1:$HTTP_PORT/ingest/r$run-http$i" 2>"$TMP/http$run-$i.log" &
    PUSHERS+=($!)
  done
  for p in "${PUSHERS[@]}"; do wait "$p"; done
  sleep 2
  h2="$(cpu_ticks "$HLSD_PID")"
  row="$(per_gb $((h1 - h0))) $(per_gb $((n1 - n0))) $(per_gb $((h2 - h1)))"
  ROWS+=("$row")
  read -r a b c <<<"$row"
  printf '%-6s %-18s %-18s %-18s\n' "$run" "$a" "$b" "$c"
done
printf '%s\n' "${ROWS[@]}" | python3 -c '
import sys, statistics
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
print(f"median CPU-s/GB: hlsd RTMP {med[0]:.2f}, nginx-rtmp {med[1]:.2f}, hlsd HTTP {med[2]:.2f}; "
      f"hlsd RTMP / nginx-rtmp {med[0] / med[1]:.2f}x, hlsd RTMP / hlsd HTTP {med[0] / med[2]:.2f}x")'
# Every push must have reached both servers.
if grep -l . "$TMP"/push*.log >/dev/null 2>&1; then
  echo "publisher errors:" >&2
  cat "$TMP"/push*.log >&2
  exit 1
fi
