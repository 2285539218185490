# Shared helpers for the tool tests (bash). Sourced by test/*/*_test.sh, which
# ctest runs as: bash TEST BIN_DIR SOURCE_DIR. Loopback only; every wait is
# bounded (timeout(1) or a counted loop) and every child is killed on exit.
set -euo pipefail

BIN=${1:?usage: $0 BIN_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BIN_DIR SOURCE_DIR}
SCALE=${TOU_TEST_SCALE:-1}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tou-test.XXXXXX")
CHILDREN=()

cleanup() {
  local pid
  for pid in "${CHILDREN[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${CHILDREN[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "-- $*"; }

# Starts a command in the background, killed on exit; its pid is in $!.
spawn() { "$@" & CHILDREN+=("$!"); }

# A port that is free now for UDP and TCP on 127.0.0.1, below the kernel's
# ephemeral range: a port the kernel handed out (bind to port 0) could be
# handed out again, to another test's client running meanwhile, before the
# program under test binds it.
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
first, last = (10000, low - 1) if low > 11000 else (1024, 65535)
for _ in range(500):
    port = random.randint(first, last)
    free = True
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                free = False
    if free:
        print(port)
        break
PY
}
free_udp_port() { free_port; }
free_tcp_port() { free_port; }

# n * TOU_TEST_SCALE, at least 1.
scaled() { python3 -c "import sys; print(max(1, int($1 * $SCALE)))"; }

# A file of N pseudo-random bytes.
random_file() { head -c "$2" /dev/urandom >"$1"; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Retries a command every 50 ms until it succeeds or SECONDS pass.
wait_for() {
  local seconds=$1; shift
  local tries=$((seconds * 20))
  while ((tries-- > 0)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  return 1
}

# True while a UDP port is bound on the host (something listens on it).
udp_port_bound() { ss -Hlun "sport = :$1" | grep -q .; }

skip() { echo "SKIP: $*"; exit 77; }

# --- For the LD_PRELOAD shim's tests (test/preload) ---

# spawn with standard input from file $1 (a plain `spawn cmd <file` would not do:
# bash gives a background command /dev/null as its input).
spawn_with_input() {
  local input=$1
  shift
  "$@" <"$input" &
  CHILDREN+=("$!")
}

# Sets TOU_RUN, or fails when tou-run or libtou_preload.so was not built.
need_preload() {
  TOU_RUN=$(cd "$BIN" && pwd)/tou-run
  [[ -x $TOU_RUN ]] || fail "$TOU_RUN was not built"
  [[ -f $BIN/../lib/libtou_preload.so ]] || fail "$BIN/../lib/libtou_preload.so was not built"
}

# Skips the test when a program it drives is not installed.
need_programs() {
  local p
  for p in "$@"; do command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"; done
}

# True while a kernel TCP socket listens on port $1.
tcp_port_listening() { ss -Hltn "sport = :$1" | grep -q .; }

# The sum of counter $2 over the shim's stats files $1.<pid> (TOU_STATS=$1).
stat_sum() {
  local prefix=$1 key=$2 f total=0 v
  for f in "$prefix".*; do
    [[ -f $f && $f != *.tmp* ]] || continue
    v=$(awk -v k="$key" '$1 == k {print $2}' "$f")
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Sends SIGTERM (or $3) to PID and waits up to SECONDS for it to end; returns its
# exit status, or fails the test when it is still running.
stop_within() {
  local seconds=$1 pid=$2 sig=${3:-TERM} tries
  kill "-$sig" "$pid" 2>/dev/null || true
  tries=$((seconds * 20))
  while ((tries-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "pid $pid still running ${seconds}s after SIG$sig"
  local status=0
  wait "$pid" || status=$?
  return "$status"
}

# Waits up to SECONDS for PID (a child of this shell) to exit by itself; returns
# its exit status, or fails the test when it is still running.
wait_within() {
  local seconds=$1 pid=$2 tries=$(($1 * 20))
  while ((tries-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "pid $pid still running after ${seconds}s"
  local status=0
  wait "$pid" || status=$?
  return "$status"
}

# The value at a dotted path in a JSON file: json_get stats.json up.received
json_get() {
  python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$1" "$2"
}

# Loads a JSON file into the associative array named $2 (declare -A it first),
# keys as dotted paths:
#   json_load stats.json ST; echo "${ST[up.received]}"
json_load() {
  local -n _into=$2
  _into=()
  local key value
  while IFS=$'\t' read -r key value; do _into[$key]=$value; done < <(python3 -c 'import json,sys
def walk(v, path):
    if isinstance(v, dict):
        for k, x in v.items(): walk(x, path + [k])
    else:
        print(".".join(path) + "\t" + str(v))
walk(json.load(open(sys.argv[1])), [])' "$1")
}
