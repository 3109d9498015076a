#!/usr/bin/env bash
# 2 000 simulated LL-HLS viewers of one live feed (hlsd's demo, 0.25 s parts), for 60 s,
# first straight at the origin, then through Varnish started from deploy/varnish/hlsd.vcl:
# the requests the origin answers, hlsd's and varnishd's CPU, Varnish's hit ratio, and the
# viewers' blocking-reload latency. Viewers come from examples/ll_viewers.rs (one HTTP/1.1
# connection each, blocking reloads and every listed part, as hls.js).
#
#   bench/cache-viewers.sh [VIEWERS] [SECONDS]      (defaults 2000 60)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VIEWERS="${1:-2000}"
SECONDS_RUN="${2:-60}"
need varnishd:varnish curl:curl
[ -x /usr/sbin/varnishd ] && export PATH="$PATH:/usr/sbin"
build_hlsd
(cd "$ROOT" && cargo build --release --quiet --example ll_viewers)
LOAD="$ROOT/target/release/examples/ll_viewers"
TMP="$(mktemp -d)"
ulimit -n 65536 2>/dev/null || true

port="$(free_port)"
printf 'listen = "127.0.0.1:%s"\n' "$port" >"$TMP/hlsd.toml"
start_hlsd_config "$TMP/hlsd.toml" "$port"
wait_http "http://127.0.0.1:$port/live/demo/main/media.m3u8" 30

vport="$(free_port)"
sed "s/.port = \"8080\";/.port = \"$port\";/" "$ROOT/deploy/varnish/hlsd.vcl" >"$TMP/hlsd.vcl"
varnishd -F -j none -n "$TMP/varnish" -a "127.0.0.1:$vport" -f "$TMP/hlsd.vcl" -s malloc,256m \
  -p thread_pool_min=200 -p thread_pool_max=5000 >"$TMP/varnish.log" 2>&1 &
VARNISH_PID=$!
PIDS+=("$VARNISH_PID")
wait_http "http://127.0.0.1:$vport/healthz"

varnish_ticks() {
  local t=0 p
  for p in $(pgrep -f "varnishd -F -j none -n $TMP/varnish"); do
    t=$((t + $(cpu_ticks "$p")))
  done
  echo "$t"
}
vstat() {
  varnishstat -n "$TMP/varnish" -1 -f "MAIN.$1" | awk '{print $2}'
}

HZ="$(getconf CLK_TCK)"
run() { # run NAME BASE
  local name="$1" base="$2" req0 req1 h0 h1 v0 v1 out
  req0="$(metric "$port" hlsd_http_requests_total)"
  h0="$(cpu_ticks "$HLSD_PID")"
  v0="$(varnish_ticks)"
  out="$("$LOAD" "$base/live/demo/main/media.m3u8" "$VIEWERS" "$SECONDS_RUN")"
  req1="$(metric "$port" hlsd_http_requests_total)"
  h1="$(cpu_ticks "$HLSD_PID")"
  v1="$(varnish_ticks)"
  echo "$name: $out"
  echo "$name: origin answered $((req1 - req0)) playback requests ($(((req1 - req0) / SECONDS_RUN))/s);" \
    "hlsd CPU $(((h1 - h0) * 100 / HZ / SECONDS_RUN)) % of a core; varnishd CPU $(((v1 - v0) * 100 / HZ / SECONDS_RUN)) %"
}

run direct "http://127.0.0.1:$port"
hit0="$(vstat cache_hit)"; miss0="$(vstat cache_miss)"; req0="$(vstat client_req)"
run varnish "http://127.0.0.1:$vport"
hit1="$(vstat cache_hit)"; miss1="$(vstat cache_miss)"; req1="$(vstat client_req)"
echo "varnish: client requests $((req1 - req0)) (waiting-list restarts included), hits $((hit1 - hit0)), misses $((miss1 - miss0))," \
  "hit ratio hits/(hits+misses) $(awk -v h=$((hit1 - hit0)) -v m=$((miss1 - miss0)) 'BEGIN {printf "%.4f", h + m ? h / (h + m) : 0}')"
echo "varnish: busy objects waited on (coalesced) $(vstat busy_sleep), hit-for-pass/miss $(vstat cache_hitpass)/$(vstat cache_hitmiss)"
