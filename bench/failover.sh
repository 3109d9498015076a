#!/usr/bin/env bash
# Failover of a feed across origins: three release hlsd origins behind nginx with
# deploy/nginx/shard.conf (only addresses rewritten), a publisher in real time through
# nginx (`hlsd push --loop --reconnect`), the origin owning the feed killed (SIGKILL).
# Prints, over ROUNDS rounds, the time from the kill until the feed's media playlist
# through nginx lists a segment of the new session (what a viewer waits for at least),
# and the publisher's reconnects.
#
#   bench/failover.sh [ROUNDS]      (default 3)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS="${1:-3}"
need nginx:nginx curl:curl
[ -x /usr/sbin/nginx ] && export PATH="$PATH:/usr/sbin"
build_hlsd
TMP="$(mktemp -d)"
chmod 755 "$TMP"
clip="$(make_small_clip 20)"

ports=()
declare -A pid_of
start_origin() { # start_origin PORT
  printf '[demo]\nenabled = false\n' >"$TMP/origin.toml"
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

for ((r = 1; r <= ROUNDS; r++)); do
  sleep 15
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
  start_origin "$o"
done
echo "publisher: $(grep -c -i 'reconnect\|publishing again\|retry' "$TMP/push.log" || true) reconnect lines in its log"
