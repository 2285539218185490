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

# An unused UDP port on loopback (the kernel picks it; free again once we return).
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
free_tcp_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

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
