# tou-netem --netns: the kernel's TCP across two fresh network namespaces joined
# by the emulated link (20 ms delay, 1% loss): a file checked by SHA-256 with nc,
# iperf3 with CUBIC and BBR; exit statuses; and the namespaces (and every
# process in them) gone afterwards, after a normal end, --duration and SIGTERM.
source "$(dirname "$0")/lib.sh"

NETEM=$BIN/tou-netem
[[ -x $NETEM ]] || skip "no $NETEM"
[[ $(id -u) == 0 ]] || skip "needs root (network namespaces)"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip(8)"
command -v nc >/dev/null || skip "no nc"

# The namespace names tou-netem printed (stderr in $1).
namespaces_of() { grep -o 'tou-netem-[0-9]*-[ab]' "$1" | sort -u; }

# Fails when any namespace named in stderr file $1 still exists.
check_namespaces_gone() {
  local names
  names=$(namespaces_of "$1")
  [[ -n $names ]] || fail "tou-netem printed no namespace names: $(cat "$1")"
  local ns
  for ns in $names; do
    if ip netns list | grep -qw "$ns"; then fail "namespace $ns left behind"; fi
  done
}

# Runs tou-netem --netns with the given arguments, bounded; status in $STATUS.
run_netns() {
  STATUS=0
  timeout -k 5 120 "$NETEM" --netns --seed 11 --stats-json "$WORK/stats.json" "$@" \
    >"$WORK/out" 2>"$WORK/err" || STATUS=$?
}

# --- 1. A file over the kernel's TCP (nc), 20 ms each way and 1% loss each way.
file_bytes=$(($(scaled 2) * 1000000))
random_file "$WORK/file" "$file_bytes"
run_netns --delay 20 --loss 0.01 --wait-tcp 5001 \
  --a "nc -l 5001 > $WORK/received" \
  --b "nc -N \$TOU_NETEM_A 5001 < $WORK/file"
[[ $STATUS == 0 ]] || fail "tou-netem --netns (nc) exited $STATUS: $(cat "$WORK/err")"
[[ $(sha256 "$WORK/received") == $(sha256 "$WORK/file") ]] || fail "the file arrived damaged"
check_namespaces_gone "$WORK/err"
lost=$(($(json_get "$WORK/stats.json" up.dropped_loss) + $(json_get "$WORK/stats.json" down.dropped_loss)))
((lost > 0)) || fail "no packet lost at --loss 0.01"
# At most 1500 bytes a packet (the link's MTU): the file alone needs this many.
(($(json_get "$WORK/stats.json" up.received) > file_bytes / 1500)) ||
  fail "too few packets crossed the link"
note "nc: $(stat -c %s "$WORK/file") bytes intact; $lost packets lost on the way"

# --- 2. Addresses, environment and MTU as promised.
run_netns --mtu 1400 --b 'test "$TOU_NETEM_A" = 10.201.0.1 && test "$TOU_NETEM_B" = 10.201.0.2 &&
  test "$(cat /sys/class/net/tou0/mtu)" = 1400 && ip -4 addr show dev tou0 | grep -q "10.201.0.2/24"'
[[ $STATUS == 0 ]] || fail "addresses/env/mtu check in B failed ($STATUS): $(cat "$WORK/err")"
check_namespaces_gone "$WORK/err"

# --- 3. iperf3 (kernel TCP) with CUBIC and BBR on 50 ms RTT and 1% loss.
if command -v iperf3 >/dev/null; then
  for cc in cubic bbr; do
    run_netns --delay 25 --loss 0.01 --wait-tcp 5201 --a 'iperf3 -s -1 >/dev/null' \
      --b "iperf3 -c \$TOU_NETEM_A -t $(scaled 3) -C $cc -J > $WORK/iperf-$cc.json"
    [[ $STATUS == 0 ]] || fail "iperf3 -C $cc exited $STATUS: $(cat "$WORK/err")"
    check_namespaces_gone "$WORK/err"
    mbps=$(python3 -c "import json; r = json.load(open('$WORK/iperf-$cc.json'));
print(round(r['end']['sum_received']['bits_per_second'] / 1e6, 1))")
    python3 -c "import sys; sys.exit(0 if $mbps > 0.1 else 1)" || fail "$cc moved $mbps Mbit/s"
    note "kernel TCP $cc over 50 ms RTT, 1% loss: $mbps Mbit/s"
  done
fi

# --- 4. Exit status is B's.
run_netns --b 'exit 3'
[[ $STATUS == 3 ]] || fail "exit status $STATUS, expected B's 3"
check_namespaces_gone "$WORK/err"

# --- 5. --duration bounds B: killed, status 124, nothing left running.
start=$(date +%s)
run_netns --duration 1 --a 'sleep 61.25' --b 'sleep 62.5'
[[ $STATUS == 124 ]] || fail "--duration: exit $STATUS, expected 124"
(($(date +%s) - start < 10)) || fail "--duration 1 took $(($(date +%s) - start)) s"
check_namespaces_gone "$WORK/err"
if pgrep -f 'sleep 6[12][.]' >/dev/null; then fail "A or B still running after --duration"; fi

# --- 6. SIGTERM during setup, then while B runs: B and A killed, counters
# printed, namespaces deleted, status 128 + 15.
"$NETEM" --netns --b 'sleep 66.25' >"$WORK/out" 2>"$WORK/err" &
netem_pid=$!
CHILDREN+=("$netem_pid")
sleep 0.05  # setup (ip netns add, TUN, addresses) takes longer than this
status=0
stop_within 10 "$netem_pid" TERM || status=$?
[[ $status == 143 ]] || fail "SIGTERM during setup: exit $status, expected 143: $(cat "$WORK/err")"
ip netns list | grep -q "tou-netem-$netem_pid-" && fail "namespaces left after SIGTERM during setup"
if pgrep -f '^sleep 66' >/dev/null; then fail "B still running after SIGTERM during setup"; fi

"$NETEM" --netns --a 'sleep 63.75' --b 'sleep 65' >"$WORK/out" 2>"$WORK/err" &
netem_pid=$!
CHILDREN+=("$netem_pid")
wait_for 10 pgrep -f '^sleep 65' || fail "B did not start"
status=0
stop_within 10 "$netem_pid" TERM || status=$?
[[ $status == 143 ]] || fail "SIGTERM: exit $status, expected 143"
grep -q "queue_drop" "$WORK/err" || fail "no counters after SIGTERM"
check_namespaces_gone "$WORK/err"
if pgrep -f 'sleep 6[35]' >/dev/null; then fail "A or B still running after SIGTERM"; fi
echo "PASS"
