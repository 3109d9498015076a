#!/usr/bin/env bash
# What fMP4 beside TS costs a feed: hlsd's CPU and RSS per feed with TS only (nobody asks
# for fMP4: no access unit is made) against both containers in use (every feed packaged as
# fMP4 from its first segment, `hls.container = "fmp4"`, and both media playlists read).
#
#   bench/containers.sh                      # 16 feeds, 20 s warm-up, 30 s window, twice
#   FEEDS=32 WINDOW=60 REPEAT=3 bench/containers.sh
#
# Each run starts a release hlsd (the shipped configuration: 2 s segments, 0.25 s LL-HLS
# parts, window 6, demo off, `hls.container` = ts or fmp4), then FEEDS `hlsd push --loop`
# processes sending the bench's 30 s 1280x720 H.264 + AAC clip (~4 Mbit/s) in real time.
# After WARM seconds, once each feed's media playlist(s) were read, hlsd's user + system
# CPU is taken from /proc/PID/stat over WINDOW seconds; RSS (VmRSS) and the retained media
# (hlsd_store_bytes, which counts fMP4 bytes too) are read at the end of the window. RSS per
# feed = (RSS − RSS before the pushes) / FEEDS. Modes interleaved, REPEAT runs each; every
# run is printed. The pushers' CPU is not counted, but they share the cores.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FEEDS="${FEEDS:-16}"
WARM="${WARM:-20}"
WINDOW="${WINDOW:-30}"
REPEAT="${REPEAT:-2}"

need ffmpeg:ffmpeg curl:curl python3:python3
build_hlsd
CLIP="$(make_clip)"
TMP="$(mktemp -d)"
HZ="$(getconf CLK_TCK)"
echo "hlsd $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $FEEDS feeds, warm $WARM s, window $WINDOW s"
printf '%-6s %12s %14s %16s %16s\n' mode "cpu (cores)" "RSS/feed KiB" "store/feed KiB" "RSS KiB"

run() {
  local mode="$1" port i pushers=() before t0 t1 rss store
  port="$(free_port)"
  hlsd_toml "$port" -e "s|^container = .*|container = \"$mode\"|" >"$TMP/hlsd.toml"
  start_hlsd_config "$TMP/hlsd.toml" "$port"
  before="$(rss_kb "$HLSD_PID")"
  for ((i = 0; i < FEEDS; i++)); do
    "$HLSD" push "$CLIP" "http://127.0.0.1:$port/ingest/f$i" --loop >"$TMP/push-$i.log" 2>&1 &
    pushers+=($!)
    PIDS+=($!)
  done
  sleep "$WARM"
  for ((i = 0; i < FEEDS; i++)); do
    curl -fsS -o /dev/null --max-time 30 "http://127.0.0.1:$port/live/f$i/main/media.ts.m3u8"
    if [ "$mode" = fmp4 ]; then
      curl -fsS -o /dev/null --max-time 30 "http://127.0.0.1:$port/live/f$i/main/media.fmp4.m3u8"
    fi
  done
  t0="$(cpu_ticks "$HLSD_PID")"
  sleep "$WINDOW"
  t1="$(cpu_ticks "$HLSD_PID")"
  rss="$(rss_kb "$HLSD_PID")"
  store="$(metric "$port" hlsd_store_bytes)"
  printf '%-6s %12.3f %14d %16d %16d\n' "$mode" \
    "$(echo "($t1 - $t0) / $HZ / $WINDOW" | bc -l)" $(((rss - before) / FEEDS)) \
    $((store / 1024 / FEEDS)) "$rss"
  kill "${pushers[@]}" "$HLSD_PID" 2>/dev/null || true
  wait "${pushers[@]}" "$HLSD_PID" 2>/dev/null || true
}

for ((r = 0; r < REPEAT; r++)); do
  run ts
  run fmp4
done
