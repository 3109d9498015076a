#!/usr/bin/env bash
# SRT ingest cost: CPU-seconds per GB received, in one run
#   - of the SRT stack alone: srt-tokio (examples/srt_sink: hlsd's listener, socket and
#     latency, payloads dropped) against libsrt 1.5 as Debian's ffmpeg uses it
#     (`ffmpeg -i 'srt://...?mode=listener' -c copy -f null -`, one per feed), both fed by
#     the same ffmpeg pushes (one `-f tee` per feed);
#   - of hlsd: the same pushes over SRT (the tee's third output), then the same bytes over
#     HTTP push (`ffmpeg -re ... -method POST`), one after the other into the same hlsd.
#
#   bench/srt.sh                 # 4 feeds, 60 s each
#   FEEDS=8 LOOPS=1 bench/srt.sh
#
# The input is bench/lib.sh's 30 s 1280x720 25 fps H.264 + AAC clip at ~4 Mbit/s, repeated
# LOOPS times (ffmpeg -stream_loop -c copy). Every pusher is `ffmpeg -re` (real time, as an
# encoder sends): SRT in live mode loses what a faster publisher puts in its buffers. CPU
# is user + system from /proc/PID/stat before and after each phase (for the ffmpeg
# listeners, from /usr/bin/time, start-up included); bytes are what the
# sink counted (the same for the ffmpeg listeners, which get the same stream) and, for
# hlsd, the growth of hlsd_ingest_bytes_total. The pushers' own CPU is counted on no side, but
# they share the two cores with the receivers.
# Needs ffmpeg (with libsrt), curl, python3, /usr/bin/time (installed with apt when missing, as root).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FEEDS="${FEEDS:-4}"
LOOPS="${LOOPS:-2}"
LATENCY_MS=120

need ffmpeg:ffmpeg curl:curl python3:python3 /usr/bin/time:time
build_hlsd
[ -n "${HLSD_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet --example srt_sink)
SINK_BIN="$ROOT/target/release/examples/srt_sink"
CLIP="$(make_clip)"
INPUT="$DATA/clip720-4M-x$LOOPS.ts"
if [ ! -s "$INPUT" ]; then
  ffmpeg -hide_banner -loglevel error -y -stream_loop $((LOOPS - 1)) -i "$CLIP" -c copy \
    -f mpegts "$INPUT.tmp" && mv "$INPUT.tmp" "$INPUT"
fi
TMP="$(mktemp -d)"
HTTP_PORT="$(free_port)"
SRT_PORT="$(free_port)"
SINK_PORT="$(free_port)"

hlsd_toml "$HTTP_PORT" -e 's|^linger = .*|linger = 600.0|' >"$TMP/hlsd.toml"
printf '[srt]\nlisten = "127.0.0.1:%s"\nlatency = %s\n' "$SRT_PORT" "$LATENCY_MS" >>"$TMP/hlsd.toml"
"$HLSD" --config "$TMP/hlsd.toml" 2>"$TMP/hlsd.log" &
HLSD_PID=$!
PIDS+=("$HLSD_PID")
wait_http "http://127.0.0.1:$HTTP_PORT/healthz"

"$SINK_BIN" "127.0.0.1:$SINK_PORT" "$LATENCY_MS" >"$TMP/sink.out" 2>"$TMP/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")

LISTENERS=()
for ((i = 0; i < FEEDS; i++)); do
  port="$(free_port)"
  /usr/bin/time -o "$TMP/listener$i.time" -f "%U %S" \
    ffmpeg -nostdin -hide_banner -loglevel error \
    -i "srt://127.0.0.1:$port?mode=listener&latency=$((LATENCY_MS * 1000))" \
    -c copy -f null - 2>"$TMP/listener$i.log" &
  LISTENERS+=($!)
  PIDS+=($!)
  echo "$port" >"$TMP/listener$i.port"
done
sleep 1

HZ="$(getconf CLK_TCK)"
h0="$(cpu_ticks "$HLSD_PID")"
s0="$(cpu_ticks "$SINK_PID")"
b0="$(metric "$HTTP_PORT" hlsd_ingest_bytes_total || echo 0)"
PUSHERS=()
for ((i = 0; i < FEEDS; i++)); do
  lport="$(cat "$TMP/listener$i.port")"
  opts="pkt_size=1316&linger=2&latency=$((LATENCY_MS * 1000))"
  ffmpeg -nostdin -hide_banner -loglevel error -re -i "$INPUT" -map 0 -c copy -f tee \
    "[f=mpegts]srt://127.0.0.1:$SRT_PORT?streamid=srt$i&$opts|[f=mpegts]srt://127.0.0.1:$SINK_PORT?streamid=sink$i&$opts|[f=mpegts]srt://127.0.0.1:$lport?$opts" \
    2>"$TMP/push$i.log" &
  PUSHERS+=($!)
done
for p in "${PUSHERS[@]}"; do wait "$p"; done
sleep 3
h1="$(cpu_ticks "$HLSD_PID")"
s1="$(cpu_ticks "$SINK_PID")"
# Each listener ends with its caller: its CPU from /usr/bin/time (start-up included).
for p in "${LISTENERS[@]}"; do wait "$p" || true; done
listener_ticks="$(cat "$TMP"/listener*.time | awk -v hz="$HZ" '{s += $1 + $2} END {printf "%.0f", s * hz}')"
b1="$(metric "$HTTP_PORT" hlsd_ingest_bytes_total)"
sink_bytes="$(awk '{s += $2} END {print s + 0}' "$TMP/sink.out")"

PUSHERS=()
for ((i = 0; i < FEEDS; i++)); do
  ffmpeg -nostdin -hide_banner -loglevel error -re -i "$INPUT" -c copy -f mpegts \
    -method POST "http://127.0.0.1:$HTTP_PORT/ingest/http$i" 2>"$TMP/http$i.log" &
  PUSHERS+=($!)
done
for p in "${PUSHERS[@]}"; do wait "$p"; done
sleep 1
h2="$(cpu_ticks "$HLSD_PID")"
b2="$(metric "$HTTP_PORT" hlsd_ingest_bytes_total)"

per_gb() { # TICKS BYTES
  python3 -c "import sys; t, b, hz = map(float, sys.argv[1:]); print(f'{t / hz / (b / 1e9):.2f}' if b else 'n/a')" "$1" "$2" "$HZ"
}
echo "feeds=$FEEDS input=$(stat -c %s "$INPUT") bytes x $FEEDS, $((LOOPS * 30)) s in real time"
echo "SRT stack alone (same pushes):"
echo "  srt-tokio sink           $(per_gb $((s1 - s0)) "$sink_bytes") CPU-s/GB  ($sink_bytes bytes)"
echo "  libsrt (ffmpeg listener) $(per_gb "$listener_ticks" "$sink_bytes") CPU-s/GB"
echo "hlsd:"
echo "  over SRT                 $(per_gb $((h1 - h0)) $((b1 - b0))) CPU-s/GB  ($((b1 - b0)) bytes)"
echo "  over HTTP push           $(per_gb $((h2 - h1)) $((b2 - b1))) CPU-s/GB  ($((b2 - b1)) bytes)"
