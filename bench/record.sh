#!/usr/bin/env bash
# What recording costs: write throughput per feed and hlsd's CPU per GB recorded, against
# `cat` writing the same bytes to a file and fsyncing it.
#
#   bench/record.sh                 # 4 feeds, twice
#   FEEDS=8 REPEAT=3 bench/record.sh
#
# Each run starts a release hlsd (shipped configuration, demo off) with `[record]` off or
# on (dir on the disk under target/), then FEEDS `hlsd push --fast` processes send the
# bench's 30 s 1280x720 H.264 + AAC clip (~4 Mbit/s) unpaced, all at once; the run ends
# when the pushes are done and, with recording, every segment is written or counted lost
# (hlsd_record_segments_total + hlsd_record_lost_segments_total = hlsd_segments_total).
# hlsd's user + system CPU is read from /proc/PID/stat. Throughput per feed = recorded
# bytes / FEEDS / wall time of the run; CPU per GB = (CPU with − CPU without) / GB recorded.
# The baseline: `cat` of the clip FEEDS times to files on the same disk, each then
# fsynced (`sync FILE`), its CPU (user + system) per GB. Modes interleaved, REPEAT runs.
# Mode `retain`: `record` with `max_gb = RETAIN_GB` (default 0.05: the run records more,
# so from about then on every recorded segment is followed by a trim); `trimmed` is
# hlsd_record_trimmed_segments_total, `rss MB` hlsd's VmRSS at the end of the run.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FEEDS="${FEEDS:-4}"
REPEAT="${REPEAT:-2}"
RETAIN_GB="${RETAIN_GB:-0.05}"

need ffmpeg:ffmpeg curl:curl python3:python3 bc:bc
build_hlsd
CLIP="$(make_clip)"
TMP="$(mktemp -d)"
DISK="$(mktemp -d -p "$ROOT/target" record-bench.XXXXXX)"
SHM="$DISK"
HZ="$(getconf CLK_TCK)"
echo "hlsd $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $FEEDS feeds, clip $(($(stat -c %s "$CLIP") / 1024)) KiB, disk $(df --output=fstype "$DISK" | tail -1)"
printf '%-9s %8s %10s %12s %10s %12s %8s %7s\n' mode "wall s" "cpu s" "MB/s/feed" "lost segs" "cpu s/GB" trimmed "rss MB"

run() {
  local mode="$1" port i pushers=() t0 t1 s0 s1 segs rec lost bytes
  port="$(free_port)"
  rm -rf "$DISK/rec"
  if [ "$mode" = record ]; then
    { hlsd_toml "$port"; printf '\n[record]\ndir = "%s/rec"\n' "$DISK"; } >"$TMP/hlsd.toml"
  elif [ "$mode" = retain ]; then
    { hlsd_toml "$port"; printf '\n[record]\ndir = "%s/rec"\nmax_gb = %s\n' "$DISK" "$RETAIN_GB"; } >"$TMP/hlsd.toml"
  else
    hlsd_toml "$port" >"$TMP/hlsd.toml"
  fi
  start_hlsd_config "$TMP/hlsd.toml" "$port"
  t0="$(cpu_ticks "$HLSD_PID")"
  s0="$(date +%s.%N)"
  for ((i = 0; i < FEEDS; i++)); do
    "$HLSD" push "$CLIP" "http://127.0.0.1:$port/ingest/f$i" --fast >"$TMP/push-$i.log" 2>&1 &
    pushers+=($!)
    PIDS+=($!)
  done
  wait "${pushers[@]}" 2>/dev/null || true
  if [ "$mode" != off ]; then
    for ((i = 0; i < 600; i++)); do
      segs="$(metric "$port" hlsd_segments_total)"
      rec="$(metric "$port" hlsd_record_segments_total)"
      lost="$(metric "$port" hlsd_record_lost_segments_total)"
      [ "$((rec + lost))" -ge "$segs" ] && break
      sleep 0.05
    done
  fi
  s1="$(date +%s.%N)"
  t1="$(cpu_ticks "$HLSD_PID")"
  bytes="$(metric "$port" hlsd_record_bytes_total || true)"
  bytes="${bytes:-0}"
  lost="${lost:-0}"
  CPU="$(echo "($t1 - $t0) / $HZ" | bc -l)"
  local wall mbs per_gb="-"
  wall="$(echo "$s1 - $s0" | bc -l)"
  mbs="$(echo "$bytes / 1000000 / $FEEDS / $wall" | bc -l)"
  if [ "$mode" != off ] && [ "$bytes" -gt 0 ]; then
    per_gb="$(printf '%.2f' "$(echo "($CPU - $CPU_OFF) / ($bytes / 1000000000)" | bc -l)")"
  else
    CPU_OFF="$CPU"
  fi
  local trimmed rss
  trimmed="$(metric "$port" hlsd_record_trimmed_segments_total || true)"
  rss="$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$HLSD_PID/status")"
  printf '%-9s %8.2f %10.2f %12.1f %10s %12s %8s %7s\n' "$mode" "$wall" "$CPU" "$mbs" "$lost" "$per_gb" "${trimmed:--}" "$rss"
  kill "$HLSD_PID" 2>/dev/null || true
  wait "$HLSD_PID" 2>/dev/null || true
}

baseline() {
  local i t0 t1 bytes
  rm -rf "$DISK/cat"
  mkdir -p "$DISK/cat"
  t0="$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)"
  for ((i = 0; i < FEEDS; i++)); do
    cat "$CLIP" >"$DISK/cat/f$i.ts"
    sync "$DISK/cat/f$i.ts"
  done
  t1="$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)"
  bytes=$(($(stat -c %s "$CLIP") * FEEDS))
  printf '%-9s %8s %10.2f %12s %10s %12.2f %8s %7s\n' cat - "$(echo "($t1 - $t0) / $HZ" | bc -l)" - - \
    "$(echo "($t1 - $t0) / $HZ / ($bytes / 1000000000)" | bc -l)" - -
}

for ((r = 0; r < REPEAT; r++)); do
  run off
  run record
  run retain
  baseline
done
