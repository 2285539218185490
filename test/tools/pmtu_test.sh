# Path MTU (RFC 8899 DPLPMTUD) over a real path: A -- router -- B where only
# the router's hop to B has MTU 1280 (both ends 1500). A 20 MB tou transfer
# from A to B arrives intact with zero IP fragments (i) with ICMP working (the
# router's "fragmentation needed" lowers tou's size at once), (ii) with that
# ICMP black-holed at the router (tou's probes find the size), within 60 s,
# and (iii) over IPv6 (ICMPv6 "packet too big"). Needs root; skips otherwise.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pmtu_netns.sh"

CAT=$BIN/tou-cat
[[ -x $CAT ]] || skip "no $CAT"
pmtu_netns_require
trap 'pmtu_netns_down; cleanup' EXIT

BYTES=$(($(scaled 20) * 1000000))
random_file "$WORK/file" "$BYTES"
PORT=9077

# Sends the file from A to B over tou (tou-cat); both sides bounded by 60 s.
# The sender's statistics line (tou-cat -v) is in $WORK/a.err.
transfer() {
  local dest=$1
  rm -f "$WORK/received"
  ip netns exec "$PMTU_B" timeout -k 5 70 "$CAT" -l "$dest" "$PORT" >"$WORK/received" \
    2>"$WORK/b.err" &
  local server=$!
  CHILDREN+=("$server")
  local tries=100
  until ip netns exec "$PMTU_B" ss -Hlun "sport = :$PORT" | grep -q .; do
    ((tries-- > 0)) || fail "tou-cat -l did not start: $(cat "$WORK/b.err")"
    sleep 0.05
  done
  local status=0
  ip netns exec "$PMTU_A" timeout -k 5 60 "$CAT" -v -w 10 "$dest" "$PORT" <"$WORK/file" \
    2>"$WORK/a.err" || status=$?
  [[ $status == 0 ]] || fail "tou-cat to $dest exited $status (124: not done in 60 s): $(cat "$WORK/a.err")"
  wait_within 15 "$server" || fail "the receiver did not finish"
  [[ $(stat -c %s "$WORK/received") == "$BYTES" ]] ||
    fail "received $(stat -c %s "$WORK/received") of $BYTES bytes"
  [[ $(sha256 "$WORK/received") == $(sha256 "$WORK/file") ]] || fail "the file arrived damaged"
}

# The MSS the sender ended with (tou-cat -v: "mss N B").
final_mss() { grep -o 'mss [0-9]*' "$WORK/a.err" | tail -1 | cut -d' ' -f2; }

# --- (i) ICMP working: the router's "fragmentation needed" (MTU 1280).
pmtu_netns_up
transfer 10.77.2.1
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "ICMP working: $frags IP fragments made or reassembled"
icmp=$(pmtu_snmp "$PMTU_R" OutDestUnreachs)
((icmp > 0)) || fail "the router sent no ICMP: the path was never too small"
mss=$(final_mss)
# 1280 - 20 (IP) - 8 (UDP) - 20 (TCP) = 1232.
[[ $mss == 1232 ]] || fail "ICMP working: final MSS $mss, expected 1232 (path MTU 1280)"
note "ICMP working: $BYTES bytes intact, 0 fragments, $icmp ICMP from the router, MSS $mss"

# --- (ii) ICMP black-holed at the router: probing alone finds the size.
pmtu_netns_up
pmtu_blackhole_icmp
transfer 10.77.2.1
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "ICMP black-holed: $frags IP fragments made or reassembled"
[[ $(pmtu_snmp "$PMTU_R" OutDestUnreachs) == 0 ]] || fail "the black hole let ICMP out"
dropped=$(pmtu_snmp "$PMTU_R" FragFails)
((dropped > 0)) || fail "no packet was too big for the 1280 hop: nothing was probed"
mss=$(final_mss)
((mss <= 1232 && mss >= 1232 - 4)) ||
  fail "ICMP black-holed: final MSS $mss, expected 1228..1232 (path MTU 1280, search granularity 4)"
note "ICMP black-holed: $BYTES bytes intact, 0 fragments, $dropped probes dropped, MSS $mss"

# --- (iii) IPv6: ICMPv6 "packet too big".
pmtu_netns_up
transfer fd77:2::1
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "IPv6: $frags IP fragments made or reassembled"
mss=$(final_mss)
# 1280 - 40 (IPv6) - 8 (UDP) - 20 (TCP) = 1212.
[[ $mss == 1212 ]] || fail "IPv6: final MSS $mss, expected 1212 (path MTU 1280)"
note "IPv6: $BYTES bytes intact, 0 fragments, MSS $mss"
echo "PASS"
