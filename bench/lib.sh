# Helpers shared by the whole-server benchmark scripts in bench/ (sourced, not run).
# Everything runs on 127.0.0.1; every process started here is killed by its pid on exit.

set -euo pipefail
shopt -s inherit_errexit
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# HLSD_BIN=path runs another build (e.g. an older commit's, for a before/after) and skips
# the build.
HLSD="${HLSD_BIN:-$ROOT/target/release/hlsd}"
DATA="$ROOT/target/bench-data"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
# hlsd's log without colour codes, so that fields can be read back with grep.
export NO_COLOR=1

# apt_install PACKAGE...: installs Debian packages (as root; otherwise says what is missing).
apt_install() {
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing: $*; install them (apt-get install -y $*) or run as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# need CMD:PACKAGE...: installs the Debian packages of missing commands.
need() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  apt_install "${missing[@]}"
}

# need_file FILE:PACKAGE...: installs the Debian packages of missing files.
need_file() {
  local missing=()
  for pair in "$@"; do
    [ -e "${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  apt_install "${missing[@]}"
}

# free_port: a TCP port nothing listens on (racy in theory, fine on a quiet loopback).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

build_hlsd() {
  [ -n "${HLSD_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet)
}

# make_clip: a 30 s 1280x720 25 fps H.264 (~4 Mbit/s, 2 s GOP) + AAC MPEG-TS, made once and
# cached; prints its path.
make_clip() {
  local clip="$DATA/clip720-4M.ts"
  if [ ! -s "$clip" ]; then
    mkdir -p "$DATA"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 \
      -t 30 -c:v libx264 -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M \
      -g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k \
      -f mpegts "$clip.tmp" && mv "$clip.tmp" "$clip"
  fi
  echo "$clip"
}

# wait_http URL [SECONDS]: until URL answers 2xx.
wait_http() {
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# make_small_clip SECONDS: a 640x360 25 fps H.264 (~1 Mbit/s, 2 s GOP) + AAC MPEG-TS of
# SECONDS seconds, made once and cached; prints its path.
make_small_clip() {
  local clip="$DATA/clip360-1M-$1s.ts"
  if [ ! -s "$clip" ]; then
    mkdir -p "$DATA"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 \
      -t "$1" -c:v libx264 -preset veryfast -b:v 1M -maxrate 1M -bufsize 2M \
      -g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k \
      -f mpegts "$clip.tmp" && mv "$clip.tmp" "$clip"
  fi
  echo "$clip"
}

# start_hlsd_config FILE PORT: starts the release hlsd with the configuration FILE (only the
# keys it changes; the rest are the shipped defaults), listening on 127.0.0.1:PORT; sets
# HLSD_PID and waits until it answers.
start_hlsd_config() {
  "$HLSD" --config "$1" --listen "127.0.0.1:$2" 2>"$TMP/hlsd.log" &
  HLSD_PID=$!
  PIDS+=("$HLSD_PID")
  wait_http "http://127.0.0.1:$2/healthz"
}

# metric PORT NAME: the value of a metric of the hlsd on PORT, summed over its labels.
metric() {
  curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" |
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2; n++} END {if (n) printf "%.0f\n", s}'
}

# hlsd_toml PORT [SED-ARGS...]: the shipped configuration on stdout, listening on
# 127.0.0.1:PORT with the demo feed off, further edited by SED-ARGS (`-e 's|...|...|'`).
hlsd_toml() {
  local port="$1"
  shift
  sed -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" -e 's|^enabled = true|enabled = false|' \
    "$@" "$ROOT/config.toml"
}

# Starts the release hlsd on 127.0.0.1:PORT with the shipped configuration, demo off; sets
# HLSD_PID and waits until it answers.
start_hlsd() {
  local port="$1"
  hlsd_toml "$port" >"$TMP/hlsd.toml"
  "$HLSD" --config "$TMP/hlsd.toml" 2>"$TMP/hlsd.log" &
  HLSD_PID=$!
  PIDS+=("$HLSD_PID")
  wait_http "http://127.0.0.1:$port/healthz"
}

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# rss_kb PID
rss_kb() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  [ -n "${TMP:-}" ] && rm -rf "$TMP"
  [ -n "${SHM:-}" ] && rm -rf "$SHM"
  return 0
}
trap cleanup EXIT

# wait_listen PORT: until something listens on 127.0.0.1:PORT, without connecting (ffmpeg
# -listen 1 serves exactly one connection).
wait_listen() {
  local hex i
  hex="$(printf '%04X' "$1")"
  for ((i = 0; i < 100; i++)); do
    awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {found = 1} END {exit !found}' /proc/net/tcp && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
