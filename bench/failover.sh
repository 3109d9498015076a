#!/usr/bin/env bash
# Failover of a feed across origins: three release hlsd origins behind nginx with
# deploy/nginx/shard.conf (only addresses rewritten), a publisher in real time through
# nginx (`hlsd push --loop --reconnect`), the origin owning the feed killed (SIGKILL).
# Prints, over ROUNDS rounds, the time from the kill until the feed's media playlist
# through nginx lists a segment of the new session (what a viewer waits for at least),
# what an ffmpeg viewer through nginx saw (`ffmpeg -i .../index.m3u8 -c copy -f null -`,
# started 5 s before each kill: the longest time after the kill with its output not
# advancing, up to 25 s), and the publisher's reconnects.
#
#   bench/failover.sh [ROUNDS]                        (default 3)
#   CLOCK_NUMBERING=true bench/failover.sh [ROUNDS]   ([hls] clock_numbering on the origins)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS="${1:-3}"
need nginx:nginx curl:curl ffmpeg:ffmpeg
[ -x /usr/sbin/nginx ] && export PATH="$PATH:/usr/sbin"
build_hlsd
TMP="$(mktemp -d)"
chmod 755 "$TMP"
clip="$(make_small_clip 20)"

ports=()
declare -A pid_of
start_origin() { # start_origin PORT
  printf '[hls]\nclock_numbering = %s\n[demo]\nenabled = false\n' "${CLOCK_NUMBERING:-false}" >"$TMP/origin.toml"
  "$HLSD" --config "$TMP/origin.toml" --listen "127.0.0.1:$1" 2>>"$TMP/origin-$1.log" &
  pid_of[$1]=$!
  PIDS+=("$!")
  wait_http "http://127.0.0.1:$1/healthz"
}
for i in 1 2 3; do
  p="$(free_port)"
  ports+=("$p")
  start_origin "$p"
done

rport="$(free_port)"
conf="$(cat "$ROOT/deploy/nginx/shard.conf")"
for i in 1 2 3; do
  conf="${conf/server 10.0.0.$i:8080 /server 127.0.0.1:${ports[$((i - 1))]} }"
done
conf="${conf/listen 8080;/listen 127.0.0.1:$rport;}"
conf="${conf//\/var\/cache\/nginx\/hlsd-shards/$TMP/cache}"
printf '%s\n' "$conf" >"$TMP/shard.conf"
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx;
  fastcgi_temp_path $TMP/nginx; uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  include $TMP/shard.conf;
}
CONF
nginx -p "$TMP" -c "$TMP/nginx.conf" &
PIDS+=("$!")
wait_listen "$rport"

router="http://127.0.0.1:$rport"
"$HLSD" push "$clip" "$router/ingest/cam" --loop --reconnect 2>"$TMP/push.log" &
PIDS+=("$!")
media="$router/live/cam/main/media.m3u8"
wait_http "$media" 30

owner() {
  local p
  for p in "${ports[@]}"; do
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$p/live/cam/main/media.m3u8" 2>/dev/null && { echo "$p"; return; }
  done
}
token() { # the session token of the playlist through the router, or nothing
  curl -fsS --max-time 2 "$media" 2>/dev/null | grep -m1 -o 'seg-[^-]*-' || true
}

viewer_stall() { # viewer_stall T0 T1 FILE: longest time in T0..T1 with ffmpeg's output not advancing
  awk -v t0="$1" -v t1="$2" 'BEGIN { since = t0; best = 0 }
    $1 > t1 { next }
    $1 > t0 && !started { last = $2; started = 1; next }
    $1 > t0 && $2 > last { if ($1 - since > best) best = $1 - since; since = $1; last = $2 }
    END { if (!started) best = -1; else if (t1 - since > best) best = t1 - since; printf "%.2f", best }' "$3"
}

for ((r = 1; r <= ROUNDS; r++)); do
  sleep 10
  # An ffmpeg viewer through nginx; its output time stamped with the wall clock.
  progress="$TMP/viewer-$r.txt"
  ffmpeg -nostdin -v error -i "$router/live/cam/index.m3u8" -c copy -f null - \
    -progress "$TMP/progress-$r" -stats_period 0.1 2>"$TMP/viewer-$r.log" &
  viewer=$!
  PIDS+=("$viewer")
  (while kill -0 "$viewer" 2>/dev/null; do
    us="$({ grep -a '^out_time_us=' "$TMP/progress-$r" 2>/dev/null || true; } | tail -n 1 | cut -d= -f2)"
    echo "$(date +%s.%N) ${us:-0}"
    sleep 0.1
  done >"$progress") &
  sampler=$!
  PIDS+=("$sampler")
  sleep 5
  old="$(token)"
  o="$(owner)"
  t0="$(date +%s.%N)"
  kill -9 "${pid_of[$o]}"
  while :; do
    now="$(date +%s.%N)"
    t="$(token)"
    if [ -n "$t" ] && [ "$t" != "$old" ]; then break; fi
    if awk -v a="$t0" -v b="$now" 'BEGIN {exit !(b - a > 30)}'; then t="(none in 30 s)"; break; fi
    sleep 0.05
  done
  new_owner="$(owner)"
  echo "round $r: origin :$o killed; new session on :$new_owner through nginx after" \
    "$(awk -v a="$t0" -v b="$now" 'BEGIN {printf "%.2f", b - a}') s ($old -> $t)"
  sleep "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {d = 25 - (b - a); print (d > 0 ? d : 0)}')"
  t1="$(date +%s.%N)"
  alive=yes
  kill -9 "$viewer" 2>/dev/null || alive="no (it ended)"
  wait "$viewer" "$sampler" 2>/dev/null || true
  echo "  ffmpeg viewer: longest stall after the kill $(viewer_stall "$t0" "$t1" "$progress") s" \
    "(of 25 s), running at the end: $alive"
  start_origin "$o"
done
echo "publisher: $(grep -c -i 'reconnect\|publishing again\|retry' "$TMP/push.log" || true) reconnect lines in its log"
