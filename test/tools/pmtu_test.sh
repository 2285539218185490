# Path MTU (RFC 8899 DPLPMTUD) over a real path: A -- router -- B where only
# the router's hop to B has MTU 1280 (both ends 1500). A 20 MB tou transfer
# from A to B arrives intact with zero IP fragments (i) with ICMP working (the
# router's "fragmentation needed" lowers tou's size at once), (ii) with that
# ICMP black-holed at the router (tou's probes find the size), within 60 s,
# (iii) over IPv6 (ICMPv6 "packet too big"), and (iv) when the hop narrows to
# 1280 in the middle of a transfer that had found 1500, with ICMP black-holed
# (black-hole detection), (v) when A's own interface narrows to 1280
# mid-transfer (EMSGSIZE from A's stack), and (vi) for six connections from
# one process to one peer, sharing UDP ports (IPv4 and IPv6): every sender
# ends at the path's MSS. Needs root; skips otherwise.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pmtu_netns.sh"

CAT=$BIN/tou-cat
[[ -x $CAT ]] || skip "no $CAT"
pmtu_netns_require
trap 'pmtu_netns_down; cleanup' EXIT

# Not scaled down under the sanitizers: after the black hole of (iv) opens at
# 4 MB, detection and the search up to 1228..1232 need the rest of the file;
# with a quarter of it (1 MB left) the search ended at 1227 twice in a row
# under ASan.
BYTES=$((20 * 1000000))
random_file "$WORK/file" "$BYTES"
PORT=9077

# Sends the file from A to B over tou (tou-cat); both sides bounded by 60 s.
# The sender's statistics line (tou-cat -v) is in $WORK/a.err. With a second
# argument, the sender's input pauses 2 s after that many bytes while
# $WORK/pause-hook runs.
transfer() {
  local dest=$1 pause_at=${2:-}
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
  if [[ -n $pause_at ]]; then
    { head -c "$pause_at" "$WORK/file"; bash "$WORK/pause-hook" >&2; sleep 2; tail -c +$((pause_at + 1)) "$WORK/file"; } |
      ip netns exec "$PMTU_A" timeout -k 5 60 "$CAT" -v -w 10 "$dest" "$PORT" 2>"$WORK/a.err" ||
      status=$?
  else
    ip netns exec "$PMTU_A" timeout -k 5 60 "$CAT" -v -w 10 "$dest" "$PORT" <"$WORK/file" \
      2>"$WORK/a.err" || status=$?
  fi
  [[ $status == 0 ]] || fail "tou-cat to $dest exited $status (124: not done in 60 s): $(cat "$WORK/a.err")"
  wait_within 15 "$server" || fail "the receiver did not finish"
  [[ $(stat -c %s "$WORK/received") == "$BYTES" ]] ||
    fail "received $(stat -c %s "$WORK/received") of $BYTES bytes"
  [[ $(sha256 "$WORK/received") == $(sha256 "$WORK/file") ]] || fail "the file arrived damaged"
}

# The MSS the sender ended with (tou-cat -v: "mss N B").
final_mss() { grep -o 'mss [0-9]*' "$WORK/a.err" | tail -1 | cut -d' ' -f2; }
# A path MTU counter from the same line: "ICMP too-big N", "black holes N".
pmtu_counter() { grep -o "$1 [0-9]*" "$WORK/a.err" | tail -1 | awk '{print $NF}'; }
pmtu_line() { grep -o 'path MTU.*' "$WORK/a.err" | tail -1; }

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
(($(pmtu_counter "ICMP too-big") > 0)) || fail "ICMP working: no too-big report accepted"
note "ICMP working: $BYTES bytes intact, 0 fragments, $icmp ICMP from the router, MSS $mss; $(pmtu_line)"

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
note "ICMP black-holed: $BYTES bytes intact, 0 fragments, $dropped probes dropped, MSS $mss; $(pmtu_line)"

# --- (iii) IPv6: ICMPv6 "packet too big".
pmtu_netns_up
transfer fd77:2::1
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "IPv6: $frags IP fragments made or reassembled"
mss=$(final_mss)
# 1280 - 40 (IPv6) - 8 (UDP) - 20 (TCP) = 1212.
[[ $mss == 1212 ]] || fail "IPv6: final MSS $mss, expected 1212 (path MTU 1280)"
note "IPv6: $BYTES bytes intact, 0 fragments, MSS $mss; $(pmtu_line)"

# --- (iv) A black hole that opens mid-transfer: the hop is 1500 while the
# first 4 MB go (tou finds 1500), then narrows to 1280 with ICMP black-holed.
pmtu_netns_up
pmtu_blackhole_icmp
ip -n "$PMTU_R" link set vrb mtu 1500
echo "ip -n $PMTU_R link set vrb mtu 1280" >"$WORK/pause-hook"
transfer 10.77.2.1 4000000
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "black hole mid-transfer: $frags IP fragments made or reassembled"
[[ $(pmtu_snmp "$PMTU_R" OutDestUnreachs) == 0 ]] || fail "the black hole let ICMP out"
dropped=$(pmtu_snmp "$PMTU_R" FragFails)
((dropped > 0)) || fail "nothing was dropped at the narrowed hop"
mss=$(final_mss)
((mss <= 1232 && mss >= 1232 - 4)) || fail "black hole mid-transfer: final MSS $mss, expected 1228..1232"
(($(pmtu_counter "black holes") > 0)) || fail "black hole mid-transfer: none detected: $(cat "$WORK/a.err")"
note "black hole mid-transfer: $BYTES bytes intact, 0 fragments, $dropped dropped at the hop, MSS $mss; $(pmtu_line)"

# --- (v) The sender's own interface narrows mid-transfer: its kernel refuses
# the larger datagrams (EMSGSIZE, with the MTU in the error queue).
pmtu_netns_up
ip -n "$PMTU_R" link set vrb mtu 1500
echo "ip -n $PMTU_A link set va mtu 1280" >"$WORK/pause-hook"
transfer 10.77.2.1 4000000
frags=$(pmtu_fragments)
[[ $frags == 0 ]] || fail "interface narrowed: $frags IP fragments made or reassembled"
mss=$(final_mss)
[[ $mss == 1232 ]] || fail "interface narrowed: final MSS $mss, expected 1232: $(cat "$WORK/a.err")"
note "interface narrowed mid-transfer: $BYTES bytes intact, 0 fragments, MSS $mss; $(pmtu_line)"

# --- (vi) Several connections to one peer from one process and one worker:
# beyond its 4 spread ports they share UDP ports, apart by their TCP ports
# (engine/client_ports.cpp), and every one must learn the 1280 path: a "too
# big" finds its connection by the ports of the quoted segment, a local
# EMSGSIZE (once the sender's kernel cached the path MTU) reaches every
# connection to the peer. Each stream's sender ends at the path's MSS.
PERF=$BIN/tou-perf
[[ -x $PERF ]] || fail "no $PERF"
STREAMS=6
shared_transfer() {
  local family=$1 dest=$2 want_mss=$3 label=$4
  pmtu_netns_up
  ip netns exec "$PMTU_B" timeout -k 5 70 "$PERF" "$family" -s -p "$PORT" >"$WORK/perf-b.out" 2>&1 &
  local server=$!
  CHILDREN+=("$server")
  local tries=100
  until ip netns exec "$PMTU_B" ss -Hlun "sport = :$PORT" | grep -q .; do
    ((tries-- > 0)) || fail "$label: tou-perf -s did not start: $(cat "$WORK/perf-b.out")"
    sleep 0.05
  done
  ip netns exec "$PMTU_A" env TOU_WORKERS=1 timeout -k 5 60 "$PERF" "$family" -c "$dest" -p "$PORT" \
    -P "$STREAMS" -n $((STREAMS * 2))M --json >"$WORK/perf-a.json" 2>"$WORK/perf-a.err" ||
    fail "$label: tou-perf -P $STREAMS failed: $(cat "$WORK/perf-a.err")"
  kill "$server" 2>/dev/null || true
  local frags
  frags=$(pmtu_fragments)
  [[ $frags == 0 ]] || fail "$label: $frags IP fragments made or reassembled"
  local mss
  mss=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(s["sender"]["mss"]) for s in d["end"]["streams"]))' "$WORK/perf-a.json") ||
    fail "$label: no JSON from tou-perf: $(cat "$WORK/perf-a.err")"
  [[ $(wc -w <<<"$mss") == "$STREAMS" ]] || fail "$label: $STREAMS streams expected, MSS: $mss"
  for m in $mss; do
    [[ $m == "$want_mss" ]] || fail "$label: a stream ended at MSS $m, expected $want_mss (all: $mss)"
  done
  note "$label: $STREAMS streams from one worker, 0 fragments, every sender at MSS $want_mss"
}
shared_transfer -4 10.77.2.1 1232 "shared ports, IPv4"
shared_transfer -6 fd77:2::1 1212 "shared ports, IPv6"
echo "PASS"
