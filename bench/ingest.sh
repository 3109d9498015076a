#!/usr/bin/env bash
# Whole-server ingest cost: CPU-seconds per GB ingested, hlsd against one
# `ffmpeg -c copy -f hls` per feed (the old design's shape), for the same pushes.
#
#   bench/ingest.sh                  # 4 and 16 feeds
#   FEEDS="1 4" LOOPS=4 REPEAT=1 bench/ingest.sh
#   PACED=1 FEEDS="64 128" bench/ingest.sh  # in real time, like encoders
#   SERVERS=hlsd HLSD_BIN=/path/to/older/hlsd PACED=1 FEEDS=64 bench/ingest.sh  # before/after
#
# The input is a 30 s 1280x720 25 fps H.264 + AAC clip at ~4 Mbit/s made with ffmpeg,
# repeated LOOPS times (ffmpeg -stream_loop -c copy: continuous timestamps) into one file.
# For N feeds, N `hlsd push --fast` processes send that file unpaced, each as one chunked
# POST over loopback:
#   - into one release hlsd (demo off, the shipped configuration: 2 s segments, LL-HLS
#     parts of 0.25 s, everything in memory): hlsd's user + system CPU from /proc/PID/stat
#     before and after;
#   - into N `ffmpeg -listen 1 -f mpegts -i http://... -c copy -f hls` processes, one per
#     feed, writing 2 s segments to tmpfs: their CPU from /usr/bin/time.
#   - as the floor of any TCP ingest, into N `socat -u TCP-LISTEN:... /dev/null` processes
#     (sent by N `socat -u FILE:... TCP:...`, 64 KiB writes): the receivers' CPU from
#     /usr/bin/time, i.e. the kernel's loopback receive plus one read() copy per byte, with
#     no HTTP, no parsing and no memory kept.
# With PACED=1 the pushers send in real time (`hlsd push` without --fast: by PCR, as an
# encoder would), LOOPS defaults to 3 (90 s per run), and CPU is measured in the steady
# state only: from WARM (40) seconds after the pushes start, for WINDOW (40) seconds, from
# /proc/PID/stat of hlsd or of every ffmpeg; bytes ingested in that window = N x file size
# x WINDOW / file duration. The floor's sinks then get the same paced `hlsd push`
# requests (read and dropped like any bytes; no answer, so the pushers are stopped after
# the window).
# Each measurement is repeated REPEAT times, hlsd, ffmpeg and the floor interleaved, and the best kept
# (the machine is shared). Bytes ingested = N x file size (every push must end with 200). The pushers' own CPU is
# counted on neither side, but they share the two cores with the servers.
#
# Chunk-size profiles (CHUNKS set): paced ingest against the cost of a bare socket reader.
#
#   CHUNKS="1316 32768 ffmpeg gst" bench/ingest.sh      # 16 publishers, 3 alternated runs
#   CHUNKS=1316 HLSD_BASE=/path/to/older/hlsd bench/ingest.sh  # before/after in one command
#   ONEBYTE=1 bench/ingest.sh                           # 1-byte chunks: CPU per MB, victim
#
# For each profile, CHUNK_FEEDS (16) publishers send the 30 s clip in a loop in real time as
# chunked POSTs: a number is `hlsd push --loop --exact --chunk N` (every HTTP chunk N
# bytes, written when its last byte is due by the clip's PCR); `ffmpeg` is
# `ffmpeg -re -stream_loop -1 -i CLIP -c copy -f mpegts -method POST URL` itself (its chunks
# are its output buffer's flushes: 508 B to 32 KiB, ~18.5 KB on average, measured with
# bench/chunk_sizes.py). The same pushes go, in alternated runs, into the running release
# hlsd and into FEEDS `socat -u -b 65536 TCP-LISTEN:PORT OPEN:/dev/null` sinks (a bare
# socket reader: read() and drop; no answer, so its publishers are stopped after the
# window). `gst` is GStreamer's HTTP sink (`filesrc ! tsparse set-timestamps=true ! clocksync !
# souphttpclientsink`, a 60 s copy of the clip): a stream in pieces, a `PUT` on a new
# connection per ~80 ms; its floor is one nginx that reads each body, drops it and answers
# 204, and its wire bytes are the clip's rate times the window (the pieces' connections are
# gone before `ss` sees them). CPU (utime + stime from /proc/PID/stat) and wire bytes (bytes_received of the
# server's TCP sockets, `ss -ti`: HTTP heads and chunk framing included) are sampled
# WARM (15) s after the pushes start and again WINDOW (25) s later; CPU-s per GB of wire
# bytes per run, the median of REPEAT (3) runs, and the ratio of the medians. HLSD_BASE
# adds a second hlsd (another build) to the alternation, and the order of the servers
# turns from run to run. STACK=1 adds examples/ingest_floor to it (not for `gst`): tokio
# reading the same pushes on single-threaded runtimes as hlsd's ingest does, and dropping
# the bytes (no HTTP, no segmenter): the floor of hlsd's stack, beside socat's.
# ONEBYTE=1: one victim publisher (the 720p clip, 1316-byte chunks, real time) followed by
# a blocking-reload client (bench/load.py parts: each part's arrival against its media
# time), alone and with ATTACKERS (4) publishers of the same clip in 1-byte chunks in real
# time (`--chunk 1 --exact`, chunks batched into 64 KiB writes), alternated REPEAT times,
# WINDOW s each: hlsd's CPU per MB of wire bytes and the victim's part lateness (p50, p99,
# max above the smallest seen).
# Needs ffmpeg, /usr/bin/time, curl, python3, socat, ss (installed with apt when missing,
# as root).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${CHUNKS:-}" ] || [ "${ONEBYTE:-0}" = 1 ]; then
  need ffmpeg:ffmpeg curl:curl python3:python3 socat:socat ss:iproute2
  build_hlsd
  CLIP="$(make_clip)"
  source "$(dirname "${BASH_SOURCE[0]}")/ingest_chunks.sh"
  exit 0
fi
FEEDS="${FEEDS:-4 16}"
PACED="${PACED:-0}"
WARM="${WARM:-40}"
WINDOW="${WINDOW:-40}"
if [ "$PACED" = 1 ]; then
  LOOPS="${LOOPS:-3}"
  PUSH_FLAGS=()
  SERVERS="${SERVERS:-hlsd ffmpeg floor}"
  PACING="in real time by 'hlsd push'"
else
  LOOPS="${LOOPS:-10}"
  PUSH_FLAGS=(--fast)
  SERVERS="${SERVERS:-hlsd ffmpeg floor}"
  PACING="unpaced by 'hlsd push --fast'"
fi
REPEAT="${REPEAT:-3}" # runs per server and feed count, interleaved; the best is kept

need ffmpeg:ffmpeg curl:curl python3:python3 /usr/bin/time:time socat:socat ss:iproute2
build_hlsd
CLIP="$(make_clip)"
INPUT="$DATA/clip720-4M-x$LOOPS.ts"
if [ ! -s "$INPUT" ]; then
  ffmpeg -hide_banner -loglevel error -y -stream_loop $((LOOPS - 1)) -i "$CLIP" -c copy \
    -f mpegts "$INPUT.tmp" && mv "$INPUT.tmp" "$INPUT"
fi
SIZE="$(stat -c %s "$INPUT")"
SECONDS_IN=$((30 * LOOPS)) # the input's duration
TMP="$(mktemp -d)"
SHM="$(mktemp -d -p /dev/shm hlsd-bench.XXXXXX)"
TCK="$(getconf CLK_TCK)"

echo "hlsd $(git -C "$ROOT" rev-parse --short HEAD), $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $(nproc) cores"
echo "input: $(basename "$INPUT"), $SIZE bytes, pushed $PACING (chunks up to 64 KiB)"

# push_all N URL_PREFIX: N pushers of the input to URL_PREFIX$i, in parallel; fails unless
# every one ends with a 2xx answer.
push_all() {
  local n="$1" prefix="$2" i pids=()
  for ((i = 0; i < n; i++)); do
    "$HLSD" push "${PUSH_FLAGS[@]}" "$INPUT" "$prefix$i" 2>"$TMP/push-$i.log" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}" || ! grep -q "push done status=2[0-9][0-9] passes=1 bytes=$SIZE" "$TMP/push-$i.log"; then
      echo "push $i failed:" >&2
      cat "$TMP/push-$i.log" >&2
      return 1
    fi
  done
}

gb() { python3 -c "print(f'{$1 / 1e9:.3f}')"; }

# hlsd: one process for every run.
HP="$(free_port)"
start_hlsd "$HP"

# hlsd_run N: N pushes into hlsd; prints "cpu_seconds wall_seconds bytes" (of the window
# when paced).
hlsd_run() {
  local n="$1" c0 c1 t0 t1 pusher
  if [ "$PACED" = 1 ]; then
    push_all "$n" "http://127.0.0.1:$HP/ingest/ing${n}x" &
    pusher=$!
    sleep "$WARM"
    c0="$(cpu_ticks "$HLSD_PID")"
    sleep "$WINDOW"
    c1="$(cpu_ticks "$HLSD_PID")"
    wait "$pusher"
    python3 -c "print(f'{($c1 - $c0) / $TCK:.2f} $WINDOW {$n * $SIZE * $WINDOW / $SECONDS_IN}')"
    return
  fi
  c0="$(cpu_ticks "$HLSD_PID")"
  t0="$(date +%s.%N)"
  push_all "$n" "http://127.0.0.1:$HP/ingest/ing${n}x"
  t1="$(date +%s.%N)"
  c1="$(cpu_ticks "$HLSD_PID")"
  python3 -c "print(f'{($c1 - $c0) / $TCK:.2f} {$t1 - $t0:.2f} {$n * $SIZE}')"
}

# ticks_of NAME PID...: the user + system clock ticks of the process NAME under each
# /usr/bin/time PID.
ticks_of() {
  local name="$1" p sum=0
  shift
  for p in "$@"; do
    sum=$((sum + $(cpu_ticks "$(pgrep -P "$p" "$name")")))
  done
  echo "$sum"
}

# ffmpeg_run N: N pushes, each into its own ffmpeg; prints "cpu_seconds wall_seconds bytes".
ffmpeg_run() {
  local n="$1" i p t0 t1 ffpids=() ports=()
  rm -f "$TMP"/time-*
  for ((i = 0; i < n; i++)); do
    p="$(free_port)"
    ports+=("$p")
    mkdir -p "$SHM/ff$i"
    /usr/bin/time -f "%U %S" -o "$TMP/time-$i" \
      ffmpeg -hide_banner -nostdin -loglevel error -listen 1 -f mpegts \
      -i "http://127.0.0.1:$p/ingest" -c copy -f hls -hls_time 2 -hls_list_size 6 \
      -hls_flags delete_segments "$SHM/ff$i/index.m3u8" 2>"$TMP/ffmpeg-$i.log" &
    ffpids+=($!)
  done
  for p in "${ports[@]}"; do
    wait_listen "$p"
  done
  t0="$(date +%s.%N)"
  i=0
  local pids=()
  for p in "${ports[@]}"; do
    "$HLSD" push "${PUSH_FLAGS[@]}" "$INPUT" "http://127.0.0.1:$p/ingest" 2>"$TMP/push-$i.log" &
    pids+=($!)
    i=$((i + 1))
  done
  local c0 c1
  if [ "$PACED" = 1 ]; then
    sleep "$WARM"
    c0="$(ticks_of ffmpeg "${ffpids[@]}")"
    sleep "$WINDOW"
    c1="$(ticks_of ffmpeg "${ffpids[@]}")"
  fi
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}" || ! grep -q "push done status=2[0-9][0-9] passes=1 bytes=$SIZE" "$TMP/push-$i.log"; then
      echo "push $i to ffmpeg failed:" >&2
      cat "$TMP/push-$i.log" "$TMP/ffmpeg-$i.log" >&2
      return 1
    fi
  done
  for p in "${ffpids[@]}"; do
    wait "$p"
  done
  t1="$(date +%s.%N)"
  rm -rf "$SHM"/ff*
  if [ "$PACED" = 1 ]; then
    python3 -c "print(f'{($c1 - $c0) / $TCK:.2f} $WINDOW {$n * $SIZE * $WINDOW / $SECONDS_IN}')"
    return
  fi
  python3 -c "print(f'{$(cat "$TMP"/time-* | awk '{s += $1 + $2} END {print s}'):.2f} {$t1 - $t0:.2f} {$n * $SIZE}')"
}

# floor_run N: N plain TCP transfers of the input into socat sinks; prints "cpu_seconds
# wall_seconds" of the receivers.
floor_run() {
  local n="$1" i p t0 t1 sinks=() ports=() pids=()
  rm -f "$TMP"/time-*
  for ((i = 0; i < n; i++)); do
    p="$(free_port)"
    ports+=("$p")
    /usr/bin/time -f "%U %S" -o "$TMP/time-$i" \
      socat -u -b 65536 "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr" OPEN:/dev/null &
    sinks+=($!)
  done
  for p in "${ports[@]}"; do
    wait_listen "$p"
  done
  if [ "$PACED" = 1 ]; then
    # The same paced pushes as the servers get, into the sinks; a sink never answers, so
    # the pushers and the sinks are stopped once the window is measured.
    for p in "${ports[@]}"; do
      "$HLSD" push "$INPUT" "http://127.0.0.1:$p/ingest" 2>/dev/null &
      pids+=($!)
    done
    local c0 c1
    sleep "$WARM"
    c0="$(ticks_of socat "${sinks[@]}")"
    sleep "$WINDOW"
    c1="$(ticks_of socat "${sinks[@]}")"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" "${sinks[@]}" 2>/dev/null || true
    python3 -c "print(f'{($c1 - $c0) / $TCK:.2f} $WINDOW {$n * $SIZE * $WINDOW / $SECONDS_IN}')"
    return
  fi
  t0="$(date +%s.%N)"
  for p in "${ports[@]}"; do
    socat -u -b 65536 "FILE:$INPUT" "TCP:127.0.0.1:$p" &
    pids+=($!)
  done
  for p in "${pids[@]}" "${sinks[@]}"; do
    wait "$p"
  done
  t1="$(date +%s.%N)"
  python3 -c "print(f'{$(cat "$TMP"/time-* | awk '{s += $1 + $2} END {print s}'):.2f} {$t1 - $t0:.2f} {$n * $SIZE}')"
}

printf '%-6s %-7s %-4s %8s %9s %10s %12s %10s\n' feeds server run GB wall_s cpu_s cpu_s_per_GB MB/s_wall
declare -A BEST
for n in $FEEDS; do
  for ((r = 1; r <= REPEAT; r++)); do
    for server in $SERVERS; do
      read -r cpu wall bytes < <("${server}_run" "$n")
      read -r per mbs < <(python3 -c "print(f'{$cpu / ($bytes / 1e9):.3f} {$bytes / 1e6 / $wall:.0f}')")
      printf '%-6s %-7s %-4s %8s %9s %10s %12s %10s\n' "$n" "$server" "$r" "$(gb $bytes)" "$wall" "$cpu" "$per" "$mbs"
      key="$server$n"
      if [ -z "${BEST[$key]:-}" ] || python3 -c "import sys; sys.exit(not $per < ${BEST[$key]})"; then
        BEST[$key]="$per"
      fi
    done
  done
done
echo "best of $REPEAT, CPU-seconds per GB ingested:"
# ratio A B: A / B to one decimal, or "-" when either is missing or B is zero.
ratio() {
  python3 -c "import sys; a, b = sys.argv[1:]; print(f'{float(a) / float(b):.1f}' if a and b and float(b) else '-')" "$1" "$2"
}
for n in $FEEDS; do
  h="${BEST[hlsd$n]:-}" f="${BEST[ffmpeg$n]:-}" t="${BEST[floor$n]:-}"
  echo "  $n feeds: hlsd ${h:--}, ffmpeg ${f:--}, TCP floor ${t:--}; ffmpeg / hlsd $(ratio "$f" "$h")x, hlsd / floor $(ratio "$h" "$t")x, ffmpeg / floor $(ratio "$f" "$t")x"
done
