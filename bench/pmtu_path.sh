#!/usr/bin/env bash
# Goodput on the path MTU test's path (test/tools/pmtu_netns.sh: A -- router
# -- B, the router's hop to B at MTU 1280, ICMP working): tou-perf over tou
# beside tou-perf --tcp (the kernel's TCP), same path, same run, as a ratio.
# Twice: the veths at full speed (CPU-bound: the kernel's TCP has GSO/GRO,
# tou sends one datagram per segment) and with the narrow hop shaped to
# RATE_MBIT by htb (when the kernel has it), where the protocol decides.
#   sudo bench/pmtu_path.sh [BIN_DIR] [SECONDS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${1:-$HERE/../build/bin}
SECONDS_EACH=${2:-5}
RATE_MBIT=${RATE_MBIT:-200}
source "$HERE/../test/tools/lib.sh" "$BIN_DIR" "$HERE/.."
source "$HERE/../test/tools/pmtu_netns.sh"
pmtu_netns_require
trap 'pmtu_netns_down; cleanup' EXIT
PERF=$BIN/tou-perf
[[ -x $PERF ]] || skip "no $PERF"

# Mbit/s received by B from A over tou ("") or the kernel's TCP ("--tcp").
goodput() {
  local mode=$1 port=9177
  ip -n "$PMTU_A" route flush cache  # no path MTU learned by an earlier run
  ip netns exec "$PMTU_B" timeout -k 5 $((SECONDS_EACH + 30)) "$PERF" -s -1 -p "$port" $mode \
    >/dev/null 2>&1 &
  local server=$!
  CHILDREN+=("$server")
  wait_for 10 ip netns exec "$PMTU_B" ss -Hln "sport = :$port" || fail "no server"
  ip netns exec "$PMTU_A" timeout -k 5 $((SECONDS_EACH + 30)) "$PERF" -c 10.77.2.1 -p "$port" \
    -t "$SECONDS_EACH" -J $mode >"$WORK/perf.json"
  wait "$server" || true
  python3 -c "import json,sys; r=json.load(open('$WORK/perf.json'));
s=r['end']['sum_received']
print(round(s['bits_per_second']/1e6, 1))"
}

run() {
  local label=$1 tou tcp
  tou=$(goodput "")
  tcp=$(goodput --tcp)
  echo "$label: tou $tou Mbit/s, kernel TCP $tcp Mbit/s, ratio $(python3 -c "print(round($tou/$tcp, 2))")"
}

pmtu_netns_up
run "1280 hop, veth speed"
if ip netns exec "$PMTU_R" tc qdisc add dev vrb root handle 1: htb default 10 2>/dev/null &&
  ip netns exec "$PMTU_R" tc class add dev vrb parent 1: classid 1:10 htb rate "${RATE_MBIT}mbit" \
    ceil "${RATE_MBIT}mbit" 2>/dev/null; then
  run "1280 hop shaped to $RATE_MBIT Mbit/s"
else
  echo "(no htb in this kernel: the shaped run is skipped)"
fi
