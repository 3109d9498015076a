#!/usr/bin/env bash
# Publish/unpublish soak: does hlsd's memory stay flat over many short feeds?
#
#   bench/soak.sh                              # 30 minutes
#   SOAK_SECONDS=300 bench/soak.sh             # a shorter run
#   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144 bench/soak.sh   # passed to hlsd
#
# One release hlsd on 127.0.0.1 (demo off, feeds.reconnect_grace GRACE = 2 s, feeds.linger
# LINGER = 5 s, everything else as shipped). For SOAK_SECONDS (1800) it runs rounds: FEEDS
# (50) `hlsd push` processes each publish a PUBLISH-second (20) 640x360 ~1 Mbit/s clip (2 s
# GOP, made once with ffmpeg) in real time to a feed of its own, named after the round
# (s{round}-{i}: every feed is new), then the round waits until hlsd has ended and removed
# them all (hlsd_feeds back to 0, bounded). Every push must end with a 2xx answer.
# Every SAMPLE (30) seconds a sampler writes hlsd's VmRSS, hlsd_store_bytes, hlsd_feeds and
# CPU ticks to CSV (default target/bench-data/soak.csv); after each round the same values
# with no feed left. The summary compares RSS with the first round's: RSS is "flat" when
# each of the last 3 samples is within TOLERANCE % (10) above the highest sample taken
# during the first FIRST_ROUNDS (3) rounds (the allocator's warm-up, see BENCHMARKS.md
# "RSS after load"), and the same for the RSS after each round (no feed left) against the
# RSS after round FIRST_ROUNDS. The allocator's environment (MALLOC_ARENA_MAX,
# GLIBC_TUNABLES) is passed to hlsd unchanged; by default glibc's.
# Needs ffmpeg, curl, python3 (installed with apt when missing, as root).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SOAK_SECONDS="${SOAK_SECONDS:-1800}"
FEEDS="${FEEDS:-50}"
PUBLISH="${PUBLISH:-20}"
GRACE="${GRACE:-2}"
LINGER="${LINGER:-5}"
SAMPLE="${SAMPLE:-30}"
TOLERANCE="${TOLERANCE:-10}"
FIRST_ROUNDS="${FIRST_ROUNDS:-3}"
CSV="${CSV:-$DATA/soak.csv}"

need ffmpeg:ffmpeg curl:curl python3:python3
build_hlsd
CLIP="$(make_small_clip "$PUBLISH")"
TMP="$(mktemp -d)"
mkdir -p "$(dirname "$CSV")"
PORT="$(free_port)"
cat >"$TMP/hlsd.toml" <<EOF
[feeds]
reconnect_grace = $GRACE
linger = $LINGER
[demo]
enabled = false
EOF
start_hlsd_config "$TMP/hlsd.toml" "$PORT"
T0="$(date +%s)"
echo "hlsd ${HLSD_BIN:-$(git -C "$ROOT" rev-parse --short HEAD)}, $(nproc) cores, $(ldd --version | head -1 | awk '{print "glibc " $NF}')," \
  "MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset} GLIBC_TUNABLES=${GLIBC_TUNABLES:-unset}"
echo "soak: ${SOAK_SECONDS}s of rounds of $FEEDS feeds x ${PUBLISH}s paced (grace ${GRACE}s, linger ${LINGER}s), a sample every ${SAMPLE}s -> $CSV"

# sample KIND ROUND: one CSV row.
sample() {
  echo "$1,$(($(date +%s) - T0)),$2,$(rss_kb "$HLSD_PID"),$(metric "$PORT" hlsd_store_bytes),$(metric "$PORT" hlsd_feeds),$(cpu_ticks "$HLSD_PID")" >>"$CSV"
}
echo "kind,t_s,round,rss_kb,store_bytes,feeds,cpu_ticks" >"$CSV"
sample start 0

# The sampler: every SAMPLE seconds, until the soak's end (bounded by its own clock).
(
  n=0
  while [ $((n * SAMPLE)) -le $((SOAK_SECONDS + 120)) ]; do
    sleep "$SAMPLE"
    n=$((n + 1))
    sample tick "$(cat "$TMP/round" 2>/dev/null || echo 0)" || true
  done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")

round=0
failed=0
# A round lasts about PUBLISH + GRACE + LINGER + a few seconds; none starts that would end
# after SOAK_SECONDS.
while [ $(($(date +%s) - T0 + PUBLISH + GRACE + LINGER + 5)) -le "$SOAK_SECONDS" ]; do
  round=$((round + 1))
  echo "$round" >"$TMP/round"
  pids=()
  for ((i = 0; i < FEEDS; i++)); do
    timeout $((PUBLISH * 3 + 30)) "$HLSD" push "$CLIP" "http://127.0.0.1:$PORT/ingest/s$round-$i" 2>"$TMP/push-$i.log" &
    pids+=($!)
  done
  peak=0
  # Peak RSS while the round publishes (a read every 2 s).
  while kill -0 "${pids[0]}" 2>/dev/null; do
    r="$(rss_kb "$HLSD_PID")"
    [ "$r" -gt "$peak" ] && peak="$r"
    sleep 2
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}" || ! grep -q "push done status=2[0-9][0-9]" "$TMP/push-$i.log"; then
      failed=$((failed + 1))
      echo "round $round push $i failed:" >&2
      tail -3 "$TMP/push-$i.log" >&2
    fi
  done
  # Every feed ends after the grace and goes after the linger.
  for ((w = 0; w < (GRACE + LINGER + 30) * 2; w++)); do
    [ "$(metric "$PORT" hlsd_feeds)" = 0 ] && break
    sleep 0.5
  done
  sample round "$round"
  echo "round $round: peak_rss_kb=$peak $(tail -1 "$CSV" | awk -F, '{print "after_rss_kb=" $4 " store_bytes=" $5 " feeds=" $6}')"
done
sleep 1
sample end "$round"
kill "$SAMPLER" 2>/dev/null || true

python3 - "$CSV" "$FIRST_ROUNDS" "$TOLERANCE" "$failed" "$(getconf CLK_TCK)" "$FEEDS" "$SAMPLE" <<'EOF'
import csv, sys
path, first, tol, failed, tck, feeds, sample = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
rows = list(csv.DictReader(open(path)))
ticks = [r for r in rows if r["kind"] == "tick"]
rounds = [r for r in rows if r["kind"] == "round"]
start = rows[0]
mb = lambda r: int(r["rss_kb"]) / 1024
print(f"rounds: {len(rounds)} ({len(rounds) * feeds} feeds), failed pushes: {failed}")
print(f"RSS at start: {mb(start):.0f} MB; after each round (no feed left), MB: " + ", ".join(f"{mb(r):.0f}" for r in rounds))
print("store_bytes after each round: " + ", ".join(sorted({r['store_bytes'] for r in rounds})))
print(f"samples every {sample} s, RSS MB: " + ", ".join(f"{mb(r):.0f}" for r in ticks))
warm = [r for r in ticks if int(r["round"]) <= first]
if len(ticks) < 4 or not warm or len(rounds) <= first:
    print("too short to judge flatness")
    sys.exit(0)
ref = max(mb(r) for r in warm)
last = ticks[-3:]
flat = all(mb(r) <= ref * (1 + tol / 100) for r in last)
print(f"highest sample in the first {first} rounds: {ref:.0f} MB; last 3 samples: " + ", ".join(f"{mb(r):.0f}" for r in last)
      + f" -> {'FLAT' if flat else 'NOT FLAT'} (tolerance +{tol:.0f} %)")
ref_idle = mb(rounds[first - 1])
last_idle = rounds[-3:]
flat_idle = all(mb(r) <= ref_idle * (1 + tol / 100) for r in last_idle)
print(f"with no feed left: after round {first} {ref_idle:.0f} MB; after the last 3 rounds: " + ", ".join(f"{mb(r):.0f}" for r in last_idle)
      + f" -> {'FLAT' if flat_idle else 'NOT FLAT'} (tolerance +{tol:.0f} %)")
print(f"RSS after round 1: {mb(rounds[0]):.0f} MB, after round {first}: {mb(rounds[first - 1]):.0f} MB, after the last: {mb(rounds[-1]):.0f} MB, highest sample: {max(mb(r) for r in ticks):.0f} MB")
end = rows[-1]
secs = int(end["t_s"]) or 1
print(f"hlsd CPU: {(int(end['cpu_ticks']) - int(start['cpu_ticks'])) / tck:.0f} s over {secs} s ({(int(end['cpu_ticks']) - int(start['cpu_ticks'])) / tck / secs * 100:.1f} % of one core)")
EOF
