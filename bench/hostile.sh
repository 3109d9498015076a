#!/usr/bin/env bash
# Bounded hostile load: honest publishers and viewers, and attackers beside them, for 60 s;
# does a victim feed lose a segment, and what do hlsd's RSS and CPU do?
#
#   bench/hostile.sh
#   ATTACK=30 PUBLISHERS=50 VIEWERS=500 SLOW=100 SILENT=100 bench/hostile.sh   # smaller
#   MAX_INGEST_SPEED=1.5 bench/hostile.sh    # with limits.max_ingest_speed
#
# One release hlsd on 127.0.0.1 with `[auth] publish_key`, demo off, and [limits]
# header_timeout HEADER_TIMEOUT (5 s), max_connections MAX_CONNECTIONS (6000),
# max_renditions 4, max_memory_mb 2048, and feeds.linger 10 s (the attackers' feeds, ended
# 10 s after their publisher goes, are removed before the "after" window ends); everything
# else as shipped (2 s segments, LL-HLS parts, window 6, reconnect_grace 10 s,
# limits.max_ingest_speed MAX_INGEST_SPEED, 0 unless given). The clip is 10 s of 640x360
# 25 fps H.264 ~1 Mbit/s (2 s GOP) + AAC, made once with ffmpeg.
# Phases: PUBLISHERS (200) honest `hlsd push --loop --key KEY` (paced, one process each),
# one of them the feed `victim`, run from the start to the end; after WARM (20 s) a window
# of BASE (10 s) measures hlsd's CPU and RSS "before"; then for ATTACK (60 s), all at once
# (bench/load.py, asyncio sockets):
#   - VIEWERS (2000) viewers in VIEWER_PROCS (2) processes, VICTIM_VIEWERS (200) of them on
#     the victim and the rest spread over the other feeds, each polling its media playlist
#     every 2 s (keep-alive) and fetching every new segment once (the newest one at first);
#   - SLOW (500) slowloris connections (a request head sent one header line a second, never
#     ended) and SILENT (500) connections that send nothing, each reopened when closed;
#   - a flood of feed creations, FLOOD_RATE (200) POSTs/s of a small TS body to new names,
#     without a key, with a wrong Bearer key and with a wrong ?key= (want 401 / 403);
#   - the victim's name stolen twice a second without a key, with a wrong Bearer key and a
#     wrong ?key= (401 / 403 / 403);
#   - one unpaced publisher (`hlsd push --fast --loop --key KEY`, feed `fast`);
#   - one frozen-clock publisher: a 12 s 8 Mbit/s clip (12 MB, noise) with every PCR, PTS
#     and DTS set to one value (bench/freeze_ts.py), POSTed whole every 5 s (want 422);
#   - a rendition flood: 4 renditions of feed `multi` published (paced), then 20 POSTs/s of
#     new renditions of it with the right key (want 503, max_renditions);
#   - GET /healthz on a fresh connection every 0.2 s (latency).
# Then AFTER (30 s) with the honest publishers only measures "after". Throughout, a
# checker polls the victim's media playlist every 0.5 s: every media sequence number from
# the first seen to the last must be listed (no gap), with no EXT-X-DISCONTINUITY and one
# session token, and every listed segment is fetched once (want 200).
# hlsd's RSS (VmRSS), CPU (user + system ticks of /proc/PID/stat) and open descriptors are
# read from /proc: RSS and descriptors every second during the attack (peak).
# Client and server share the machine's cores; the load clients are not niced.
# Needs ffmpeg, curl, python3 (installed with apt when missing, as root).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PUBLISHERS="${PUBLISHERS:-200}"
VIEWERS="${VIEWERS:-2000}"
VICTIM_VIEWERS="${VICTIM_VIEWERS:-200}"
VIEWER_PROCS="${VIEWER_PROCS:-2}"
SLOW="${SLOW:-500}"
SILENT="${SILENT:-500}"
FLOOD_RATE="${FLOOD_RATE:-200}"
WARM="${WARM:-20}"
BASE="${BASE:-10}"
ATTACK="${ATTACK:-60}"
AFTER="${AFTER:-30}"
HEADER_TIMEOUT="${HEADER_TIMEOUT:-5}"
MAX_CONNECTIONS="${MAX_CONNECTIONS:-6000}"
MAX_INGEST_SPEED="${MAX_INGEST_SPEED:-0}"
KEY="bench-$RANDOM$RANDOM"

need ffmpeg:ffmpeg curl:curl python3:python3
build_hlsd
CLIP="$(make_small_clip 10)"
FROZEN="$DATA/frozen-12s-8M.ts"
if [ ! -s "$FROZEN" ]; then
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t 12 -vf noise=alls=30:allf=t -c:v libx264 -preset veryfast -b:v 8M -maxrate 8M -bufsize 8M \
    -g 50 -pix_fmt yuv420p -c:a aac -f mpegts "$FROZEN.src"
  python3 "$ROOT/bench/freeze_ts.py" "$FROZEN.src" "$FROZEN.tmp" && mv "$FROZEN.tmp" "$FROZEN"
  rm -f "$FROZEN.src"
fi
LOAD=(python3 "$ROOT/bench/load.py")
TMP="$(mktemp -d)"
PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
cat >"$TMP/hlsd.toml" <<EOF
[auth]
publish_key = "$KEY"
[limits]
header_timeout = $HEADER_TIMEOUT
max_connections = $MAX_CONNECTIONS
max_renditions = 4
max_memory_mb = 2048
max_ingest_speed = $MAX_INGEST_SPEED
[feeds]
linger = 10
[demo]
enabled = false
EOF
# Descriptors for the attackers' and viewers' sockets (hlsd's limit is min(max_connections,
# its open-file limit - 64)).
ulimit -n "$(ulimit -Hn)"
start_hlsd_config "$TMP/hlsd.toml" "$PORT"
TCK="$(getconf CLK_TCK)"
echo "hlsd ${HLSD_BIN:-$(git -C "$ROOT" rev-parse --short HEAD)}, $(nproc) cores, open files $(ulimit -n), max_ingest_speed $MAX_INGEST_SPEED"
echo "clip $(basename "$CLIP") $(stat -c %s "$CLIP") bytes; frozen $(stat -c %s "$FROZEN") bytes"
RSS_IDLE="$(rss_kb "$HLSD_PID")"

# Honest publishers: pub0.. and the victim.
PUBPIDS=()
for ((i = 0; i < PUBLISHERS - 1; i++)); do
  "$HLSD" push --loop --key "$KEY" "$CLIP" "$URL/ingest/pub$i" 2>"$TMP/pub-$i.log" &
  PUBPIDS+=($!)
done
"$HLSD" push --loop --key "$KEY" "$CLIP" "$URL/ingest/victim" 2>"$TMP/victim.log" &
PUBPIDS+=($!)
PIDS+=("${PUBPIDS[@]}")
wait_http "$URL/live/victim/main/media.m3u8" 30
"${LOAD[@]}" checker --port "$PORT" --feed victim --interval 0.5 \
  --seconds "$((WARM + BASE + ATTACK + AFTER))" >"$TMP/checker.json" &
CHECKER=$!
PIDS+=("$CHECKER")
sleep "$WARM"

# window SECONDS: sleeps; prints "cpu_percent_of_one_core rss_mb".
window() {
  local c0 c1
  c0="$(cpu_ticks "$HLSD_PID")"
  sleep "$1"
  c1="$(cpu_ticks "$HLSD_PID")"
  echo "$(((c1 - c0) * 100 / TCK / $1)) $(($(rss_kb "$HLSD_PID") / 1024))"
}
read -r CPU_BEFORE RSS_BEFORE < <(window "$BASE")
FEEDS_BEFORE="$(metric "$PORT" hlsd_feeds)"
STORE_BEFORE="$(metric "$PORT" hlsd_store_bytes)"
echo "before: $FEEDS_BEFORE feeds, hlsd CPU $CPU_BEFORE % of a core, RSS $RSS_BEFORE MB"

# The attack.
echo "attack: ${ATTACK}s"
APIDS=()
run() { # NAME CMD...: a load client writing its JSON to $TMP/NAME.json
  local name="$1"
  shift
  timeout $((ATTACK + 60)) "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" &
  APIDS+=($!)
  PIDS+=($!)
}
for ((v = 0; v < VIEWER_PROCS; v++)); do
  run "viewers$v" "${LOAD[@]}" viewers --port "$PORT" --seconds "$ATTACK" \
    --count $((VIEWERS / VIEWER_PROCS)) --victim victim --victim-count $((VICTIM_VIEWERS / VIEWER_PROCS)) \
    --prefix pub --n-feeds $((PUBLISHERS - 1)) --poll 2
done
run slowloris "${LOAD[@]}" slowloris --port "$PORT" --seconds "$ATTACK" --count "$SLOW"
run silent "${LOAD[@]}" silent --port "$PORT" --seconds "$ATTACK" --count "$SILENT"
run flood "${LOAD[@]}" flood --label "feed creation flood" --port "$PORT" --seconds "$ATTACK" \
  --path "/ingest/flood-{n}" --kinds nokey,wrongkey,wrongquery --key "$KEY" \
  --rate "$FLOOD_RATE" --concurrency 20 --file "$CLIP"
run steal "${LOAD[@]}" flood --label "victim name theft" --port "$PORT" --seconds "$ATTACK" \
  --path /ingest/victim --kinds nokey,wrongkey,wrongquery --key "$KEY" --rate 2 --concurrency 1 \
  --file "$CLIP"
run frozen "${LOAD[@]}" postfile --label "frozen clock" --port "$PORT" --seconds "$ATTACK" \
  --path /ingest/frozen --key "$KEY" --file "$FROZEN" --interval 5
run healthz "${LOAD[@]}" healthz --port "$PORT" --seconds "$ATTACK" --interval 0.2
"$HLSD" push --fast --loop --key "$KEY" "$CLIP" "$URL/ingest/fast" 2>"$TMP/fast.log" &
FAST=$!
MULTI=()
for r in 0 1 2 3; do
  "$HLSD" push --loop --key "$KEY" "$CLIP" "$URL/ingest/multi/r$r" 2>"$TMP/multi-$r.log" &
  MULTI+=($!)
done
PIDS+=("$FAST" "${MULTI[@]}")
sleep 3
run renditions "${LOAD[@]}" flood --label "rendition flood" --port "$PORT" \
  --seconds $((ATTACK - 3)) --path "/ingest/multi/x{n}" --kinds goodkey --key "$KEY" \
  --rate 20 --concurrency 2 --file "$CLIP"
C0="$(cpu_ticks "$HLSD_PID")"
RSS_PEAK=0
FDS_PEAK=0
for ((s = 3; s < ATTACK; s++)); do
  r="$(rss_kb "$HLSD_PID")"
  f="$(find "/proc/$HLSD_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
  [ "$r" -gt "$RSS_PEAK" ] && RSS_PEAK="$r"
  [ "$f" -gt "$FDS_PEAK" ] && FDS_PEAK="$f"
  sleep 1
done
C1="$(cpu_ticks "$HLSD_PID")"
CPU_DURING=$(((C1 - C0) * 100 / TCK / (ATTACK - 3)))
FEEDS_DURING="$(metric "$PORT" hlsd_feeds)"
STORE_DURING="$(metric "$PORT" hlsd_store_bytes)"
kill "$FAST" "${MULTI[@]}" 2>/dev/null || true
FAST_INFO="$(curl -fsS --max-time 10 "$URL/api/feeds/fast" | head -c 2000 || true)"
for p in "${APIDS[@]}"; do wait "$p" || true; done
wait "$FAST" "${MULTI[@]}" 2>/dev/null || true
echo "attack over"

read -r CPU_AFTER RSS_AFTER < <(window "$AFTER")
FEEDS_AFTER="$(metric "$PORT" hlsd_feeds)"
STORE_AFTER="$(metric "$PORT" hlsd_store_bytes)"
ALIVE=0
for p in "${PUBPIDS[@]}"; do kill -0 "$p" 2>/dev/null && ALIVE=$((ALIVE + 1)); done
wait "$CHECKER" || true
kill "${PUBPIDS[@]}" 2>/dev/null || true
FROZEN_METRIC="$(metric "$PORT" hlsd_frozen_clock_disconnects_total)"

python3 - "$TMP" <<EOF
import json, glob, os, sys
tmp = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(tmp, name + ".json")))
    except Exception as e:
        err = open(os.path.join(tmp, name + ".err")).read()[-500:] if os.path.exists(os.path.join(tmp, name + ".err")) else ""
        return {"error": f"{type(e).__name__}: {err}"}
print("=== summary ===")
print(f"hlsd: idle RSS {int('$RSS_IDLE') // 1024} MB")
print(f"  before ({'$BASE'} s, {'$FEEDS_BEFORE'} feeds, store {int(float('$STORE_BEFORE')) / 1e6:.0f} MB): CPU $CPU_BEFORE % of a core, RSS $RSS_BEFORE MB")
print(f"  during ({int('$ATTACK') - 3} s, {'$FEEDS_DURING'} feeds, store {int(float('$STORE_DURING')) / 1e6:.0f} MB): CPU $CPU_DURING % of a core, peak RSS {int('$RSS_PEAK') // 1024} MB, peak open descriptors $FDS_PEAK")
print(f"  after  ({'$AFTER'} s, {'$FEEDS_AFTER'} feeds, store {int(float('$STORE_AFTER')) / 1e6:.0f} MB): CPU $CPU_AFTER % of a core, RSS $RSS_AFTER MB")
print(f"honest publishers still publishing at the end: $ALIVE / $PUBLISHERS")
c = load("checker")
print("victim checker:", json.dumps(c))
for v in range(int("$VIEWER_PROCS")):
    print(f"viewers{v}:", json.dumps(load(f"viewers{v}")))
for name in ["slowloris", "silent", "flood", "steal", "renditions", "frozen", "healthz"]:
    print(f"{name}:", json.dumps(load(name)))
print("frozen-clock disconnects (metric): $FROZEN_METRIC")
ok = (c.get("missing_count") == 0 and not c.get("discontinuities_at") and c.get("session_tokens") == 1
      and c.get("segment_fetch_failure_count") == 0 and c.get("not_fetched") == 0 and not c.get("gaps"))
print("victim:", "NO LOST SEGMENT" if ok else "LOST OR BROKEN SEGMENTS",
      f"(MSN {c.get('first_msn')}..{c.get('last_msn')}, {c.get('segments_seen')} segments, all fetched: {c.get('segments_fetched_ok')})")
EOF
echo "unpaced publisher (api): $(tr -d '\n' <<<"$FAST_INFO" | head -c 600)"
echo "hlsd log: $(grep -c ' WARN ' "$TMP/hlsd.log" || true) warnings, $(grep -c ' ERROR ' "$TMP/hlsd.log" || true) errors, $(wc -c <"$TMP/hlsd.log") bytes; most frequent warnings:"
grep ' WARN ' "$TMP/hlsd.log" | sed -E 's/^[^ ]+ +WARN +//; s/[0-9]+/N/g' | cut -c1-140 | sort | uniq -c | sort -rn | head -8 || true
cp "$TMP/hlsd.log" "$DATA/hostile-hlsd.log" 2>/dev/null || true
