# Chunk-size profiles of bench/ingest.sh (sourced by it; see its header): paced ingest into
# hlsd against socat sinks fed the same pushes, and 1-byte chunks against a victim feed.

FEEDS="${CHUNK_FEEDS:-16}"
WARM="${WARM:-15}"
WINDOW="${WINDOW:-25}"
REPEAT="${REPEAT:-3}"
ATTACKERS="${ATTACKERS:-4}"
# The publishers always run this tree's build (`--exact` is new), whatever HLSD_BIN serves.
PUSHER="$ROOT/target/release/hlsd"
[ -x "$PUSHER" ] || (cd "$ROOT" && cargo build --release --quiet)
TMP="$(mktemp -d)"
TCK="$(getconf CLK_TCK)"

echo "hlsd $(git -C "$ROOT" rev-parse --short HEAD) (serving: $HLSD${HLSD_BASE:+; base: $HLSD_BASE}), $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $(socat -V | awk '/socat version/ {print $1, $2, $3}'), $(nproc) cores"
echo "clip: $(basename "$CLIP"), $(stat -c %s "$CLIP") bytes, 30 s; $FEEDS publishers; warm-up ${WARM} s, window ${WINDOW} s"

# rx_bytes PORT...: bytes received so far on the established TCP sockets listening side of
# PORT... (HTTP heads and chunk framing included).
rx_bytes() {
  local filter="" p
  for p in "$@"; do
    filter+="${filter:+ or }sport = :$p"
  done
  ss -tinH state established "( $filter )" |
    { grep -o 'bytes_received:[0-9]*' || true; } | awk -F: '{s += $2} END {printf "%d\n", s}'
}

# ticks PID...: their user + system clock ticks.
ticks() {
  local p sum=0
  for p in "$@"; do
    sum=$((sum + $(cpu_ticks "$p")))
  done
  echo "$sum"
}

# publish PROFILE URL LOG: one publisher of the clip in a loop, in real time, in the
# background; sets PUB_PID.
publish() {
  case "$1" in
    ffmpeg)
      ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$CLIP" -c copy \
        -f mpegts -method POST "$2" 2>"$3" &
      ;;
    gst)
      gst-launch-1.0 -q filesrc "location=$CLIP60" ! tsparse set-timestamps=true ! clocksync ! \
        souphttpclientsink "location=$2" >"$3" 2>&1 &
      ;;
    *) "$PUSHER" push --loop --exact --chunk "$1" "$CLIP" "$2" 2>"$3" & ;;
  esac
  PUB_PID=$!
}

# stop_all PID...: SIGINT (a clean end of the body), then waits; SIGKILL after 5 s.
stop_all() {
  local p
  kill -INT "$@" 2>/dev/null || true
  for p in "$@"; do
    timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# window PIDS PORTS: samples CPU of PIDS and bytes received on PORTS after WARM, then after
# WINDOW; prints "cpu_seconds wire_bytes".
window() {
  local -n pids_="$1" ports_="$2"
  local c0 c1 b0 b1
  sleep "$WARM"
  c0="$(ticks "${pids_[@]}")"
  b0="$(rx_bytes "${ports_[@]}")"
  sleep "$WINDOW"
  c1="$(ticks "${pids_[@]}")"
  b1="$(rx_bytes "${ports_[@]}")"
  python3 -c "print(f'{($c1 - $c0) / $TCK:.2f} {$b1 - $b0}')"
}

# paced_bytes CPU BYTES PROFILE: "CPU BYTES", BYTES replaced for the gst profile by the
# bytes its publishers send in the window at the clip's rate: each of its pieces comes on
# a connection of its own, gone before `ss` can count it (heads add ~0.4 %).
paced_bytes() {
  if [ "$3" = gst ]; then
    python3 -c "print($1, int($FEEDS * $(stat -c %s "$CLIP60") / 60 * $WINDOW))"
  else
    echo "$1 $2"
  fi
}

# hlsd_profile PORT PID PROFILE: FEEDS publishers into the hlsd PID on PORT.
hlsd_profile() {
  local port="$1" pid="$2" profile="$3" i pubs=() srv=("$2") ports=("$1") cpu bytes
  for ((i = 0; i < FEEDS; i++)); do
    publish "$profile" "http://127.0.0.1:$port/ingest/c$i" "$TMP/pub-$i.log"
    pubs+=("$PUB_PID")
  done
  read -r cpu bytes < <(window srv ports)
  if [ "$profile" = gst ]; then
    local live
    live="$(curl -fsS "http://127.0.0.1:$port/api/feeds" | python3 -c "import json, sys; print(sum(1 for f in json.load(sys.stdin)['feeds'] if f['state'] == 'live'))")"
    [ "$live" = "$FEEDS" ] || echo "gst: $live of $FEEDS feeds live" >&2
  fi
  paced_bytes "$cpu" "$bytes" "$profile"
  stop_all "${pubs[@]}"
}

# floor_gst: FEEDS GStreamer publishers into one nginx that reads each PUT's body, drops it
# and answers 204 (the HTTP floor of a publish in pieces: an answer per piece, a
# connection per piece).
floor_gst() {
  local i p pubs=() srv=() ports=() cpu bytes
  p="$(free_port)"
  mkdir -p "$TMP/ngx"
  cat >"$TMP/ngx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 0;
  client_body_temp_path $TMP/ngx/body;
  proxy_temp_path $TMP/ngx/proxy;
  fastcgi_temp_path $TMP/ngx/fastcgi;
  uwsgi_temp_path $TMP/ngx/uwsgi;
  scgi_temp_path $TMP/ngx/scgi;
  server { listen 127.0.0.1:$p; location / { return 204; } }
}
NGINX
  nginx -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/error.log" &
  local master=$!
  wait_listen "$p"
  for ((i = 0; i < FEEDS; i++)); do
    publish gst "http://127.0.0.1:$p/ingest/c$i" "$TMP/pub-$i.log"
    pubs+=("$PUB_PID")
  done
  srv=("$master" $(pgrep -P "$master"))
  ports=("$p")
  read -r cpu bytes < <(window srv ports)
  stop_all "${pubs[@]}"
  kill "$master" 2>/dev/null || true
  wait "$master" 2>/dev/null || true
  paced_bytes "$cpu" "$bytes" gst
}

# floor_profile PROFILE: FEEDS publishers, each into its own socat sink (gst: floor_gst).
floor_profile() {
  local profile="$1" i p sinks=() ports=() urls=()
  if [ "$profile" = gst ]; then
    floor_gst
    return
  fi
  for ((i = 0; i < FEEDS; i++)); do
    p="$(free_port)"
    socat -u -b 65536 "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr" OPEN:/dev/null &
    sinks+=($!)
    ports+=("$p")
  done
  for p in "${ports[@]}"; do
    wait_listen "$p"
  done
  for ((i = 0; i < FEEDS; i++)); do
    urls+=("http://127.0.0.1:${ports[$i]}/ingest/c$i")
  done
  sink_window "$profile" sinks ports urls
}

# sink_window PROFILE SINKS PORTS URLS: a publisher into each of the URLS (names of arrays),
# then "cpu_seconds wire_bytes" of the SINKS over the window; the sinks are stopped first
# (a publisher ending its body waits for an answer no sink gives), then the publishers.
sink_window() {
  local profile="$1" i pubs=()
  local -n urls_="$4"
  for ((i = 0; i < ${#urls_[@]}; i++)); do
    publish "$profile" "${urls_[$i]}" "$TMP/pub-$i.log"
    pubs+=("$PUB_PID")
  done
  window "$2" "$3"
  local -n sinks_="$2"
  kill "${sinks_[@]}" 2>/dev/null || true
  wait "${sinks_[@]}" 2>/dev/null || true
  stop_all "${pubs[@]}"
}

# stack_profile PROFILE: FEEDS publishers into examples/ingest_floor (STACK=1): tokio's
# reading of the same pushes alone, on single-threaded runtimes as hlsd's ingest.
stack_profile() {
  local profile="$1" i p srv=() ports=() urls=()
  p="$(free_port)"
  "$STACK_BIN" "127.0.0.1:$p" 2>>"$TMP/stack.log" &
  srv=($!)
  ports=("$p")
  wait_listen "$p"
  for ((i = 0; i < FEEDS; i++)); do
    urls+=("http://127.0.0.1:$p/ingest/c$i")
  done
  sink_window "$profile" srv ports urls
}

median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.3f}')" "$@"; }

if [[ " ${CHUNKS:-} " == *" gst "* ]]; then
  need gst-launch-1.0:gstreamer1.0-tools nginx:nginx
  gst-inspect-1.0 souphttpclientsink >/dev/null 2>&1 || apt_install gstreamer1.0-plugins-good
  # 60 s with continuous timestamps: past the warm-up and window without a loop.
  CLIP60="$DATA/clip720-4M-60s.ts"
  if [ ! -s "$CLIP60" ]; then
    ffmpeg -hide_banner -loglevel error -y -stream_loop 1 -i "$CLIP" -c copy -f mpegts \
      "$CLIP60.tmp"
    mv "$CLIP60.tmp" "$CLIP60"
  fi
fi

HP="$(free_port)"
start_hlsd "$HP"
SERVERS="hlsd floor"
if [ -n "${HLSD_BASE:-}" ]; then
  BP="$(free_port)"
  hlsd_toml "$BP" >"$TMP/base.toml"
  "$HLSD_BASE" --config "$TMP/base.toml" 2>"$TMP/base.log" &
  BASE_PID=$!
  PIDS+=("$BASE_PID")
  wait_http "http://127.0.0.1:$BP/healthz"
  SERVERS="base hlsd floor"
fi
if [ "${STACK:-0}" = 1 ]; then
  (cd "$ROOT" && cargo build --release --quiet --example ingest_floor)
  STACK_BIN="$ROOT/target/release/examples/ingest_floor"
  SERVERS+=" stack"
fi

if [ -n "${CHUNKS:-}" ]; then
  printf '%-8s %-6s %-4s %8s %8s %12s\n' profile server run MB cpu_s cpu_s_per_GB
  declare -A PER
  for profile in $CHUNKS; do
    for ((r = 1; r <= REPEAT; r++)); do
      # Alternated, and the order turned each run so that no server always goes first.
      order=($SERVERS)
      for ((k = 0; k < (r - 1) % ${#order[@]}; k++)); do
        order=("${order[@]:1}" "${order[0]}")
      done
      for server in "${order[@]}"; do
        # The stack floor never answers, which a stream in pieces needs.
        if [ "$server" = stack ] && [ "$profile" = gst ]; then continue; fi
        case "$server" in
          hlsd) read -r cpu bytes < <(hlsd_profile "$HP" "$HLSD_PID" "$profile") ;;
          base) read -r cpu bytes < <(hlsd_profile "$BP" "$BASE_PID" "$profile") ;;
          floor) read -r cpu bytes < <(floor_profile "$profile") ;;
          stack) read -r cpu bytes < <(stack_profile "$profile") ;;
        esac
        per="$(python3 -c "print(f'{$cpu / ($bytes / 1e9):.3f}' if $bytes else 'nan')")"
        printf '%-8s %-6s %-4s %8s %8s %12s\n' "$profile" "$server" "$r" \
          "$(python3 -c "print(f'{$bytes / 1e6:.1f}')")" "$cpu" "$per"
        PER[$profile.$server]+="$per "
      done
    done
  done
  echo "median of $REPEAT, CPU-seconds per GB of wire bytes:"
  for profile in $CHUNKS; do
    line="  $profile:"
    f="$(median ${PER[$profile.floor]})"
    for server in $SERVERS; do
      [ -n "${PER[$profile.$server]:-}" ] || continue
      m="$(median ${PER[$profile.$server]})"
      line+=" $server $m"
      [ "$server" = floor ] || line+=" ($(python3 -c "print(f'{$m / $f:.2f}')")x floor)"
    done
    echo "$line"
  done
fi

if [ "${ONEBYTE:-0}" = 1 ]; then
  # victim_run PORT PID ATTACKERS: prints "cpu_seconds wire_bytes p50 p99 max parts".
  victim_run() {
    local port="$1" pid="$2" n="$3" i pubs=() srv=("$2") ports=("$1") v
    "$PUSHER" push --loop --exact --chunk 1316 "$CLIP" "http://127.0.0.1:$port/ingest/victim" \
      2>"$TMP/victim.log" &
    v=$!
    for ((i = 0; i < n; i++)); do
      "$PUSHER" push --loop --exact --chunk 1 "$CLIP" "http://127.0.0.1:$port/ingest/byte$i" \
        2>"$TMP/byte-$i.log" &
      pubs+=($!)
    done
    sleep 4 # the victim's first segment
    python3 "$ROOT/bench/load.py" parts --port "$port" --feed victim \
      --seconds $((WARM + WINDOW - 4)) >"$TMP/parts.json" &
    local follower=$!
    read -r cpu bytes < <(window srv ports)
    wait "$follower"
    stop_all "${pubs[@]}" "$v"
    python3 -c "
import json
j = json.load(open('$TMP/parts.json'))
l = j['lateness']
print($cpu, $bytes, l['p50_ms'], l['p99_ms'], l['max_ms'], j['parts'], sum(j['errors'].values()))"
  }
  echo "1-byte chunks: $ATTACKERS attackers against a victim (1316-byte chunks), hlsd $(basename "$HLSD")"
  printf '%-10s %-4s %8s %8s %10s %10s %10s %10s %6s %6s\n' \
    case run wire_MB cpu_s cores cpu_s_per_MB late_p50 late_p99 late_max parts
  for ((r = 1; r <= REPEAT; r++)); do
    for n in 0 "$ATTACKERS"; do
      read -r cpu bytes p50 p99 mx parts errs < <(victim_run "$HP" "$HLSD_PID" "$n")
      printf '%-10s %-4s %8s %8s %10s %10s %10s %10s %6s %6s\n' "attackers=$n" "$r" \
        "$(python3 -c "print(f'{$bytes / 1e6:.1f}')")" "$cpu" \
        "$(python3 -c "print(f'{$cpu / $WINDOW:.3f}')")" \
        "$(python3 -c "print(f'{$cpu / ($bytes / 1e6):.4f}')")" "$p50" "$p99" "$mx" "$parts"
      [ "$errs" = 0 ] || echo "  (the victim's follower saw $errs errors: $(cat "$TMP/parts.json"))"
    done
  done
fi
