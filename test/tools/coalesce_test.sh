# Receive coalescing (src/engine/receive_coalescing.hpp) over a link of
# moderate rate: tou-netem --netns with 20 ms RTT, 100 Mbit/s and a 1-BDP
# queue. A file sent with tou-cat arrives intact and the receiver took the
# stream's datagrams in coalesced batches (tou_info coalesced_datagrams, on
# tou-cat -v's statistics line); with TOU_RECEIVE_COALESCE=0 it arrives
# intact and none were. Asserts bytes and counts, not speed. Needs root.
source "$(dirname "$0")/lib.sh"

NETEM=$BIN/tou-netem
CAT=$BIN/tou-cat
[[ -x $NETEM && -x $CAT ]] || skip "no $NETEM or $CAT"
[[ $(id -u) == 0 ]] || skip "needs root (network namespaces)"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

BYTES=$(($(scaled 8) * 1000000))
random_file "$WORK/file" "$BYTES"

# Sends the file from B to A with TOU_RECEIVE_COALESCE=$1; the receiver's
# tou-cat -v lines are in $WORK/a.err. B waits for A's statistics before it
# ends (tou-netem stops A's command when B's ends).
transfer() {
  rm -f "$WORK/received" "$WORK/a.err"
  local status=0
  TOU_RECEIVE_COALESCE=$1 timeout -k 5 120 "$NETEM" --netns --quiet --seed 3 \
    --delay 10 --rate 100 --queue 166 \
    --a "$CAT -v -w 30 -l 9000 > $WORK/received 2> $WORK/a.err" \
    --b "sleep 1; $CAT -v -w 30 \$TOU_NETEM_A 9000 < $WORK/file 2> $WORK/b.err;
         for i in \$(seq 100); do grep -q 'coalesced\\|received' $WORK/a.err && break; sleep 0.1; done" \
    >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status == 0 ]] || fail "tou-netem exited $status: $(cat "$WORK/err" "$WORK/b.err")"
  [[ $(stat -c %s "$WORK/received") == "$BYTES" ]] ||
    fail "received $(stat -c %s "$WORK/received") of $BYTES bytes (TOU_RECEIVE_COALESCE=$1)"
  [[ $(sha256 "$WORK/received") == $(sha256 "$WORK/file") ]] ||
    fail "the file arrived damaged (TOU_RECEIVE_COALESCE=$1)"
}

# The receiver's count of datagrams taken in coalesced batches (0 when its
# statistics line names none).
coalesced() {
  grep -o '[0-9]* datagrams taken in coalesced batches' "$WORK/a.err" | tail -1 | awk '{print $1}' |
    grep . || echo 0
}

transfer 1
grep -q "received $BYTES B" "$WORK/a.err" || fail "no statistics from the receiver: $(cat "$WORK/a.err")"
on=$(coalesced)
((on > 0)) || fail "no datagram taken in a coalesced batch: $(cat "$WORK/a.err")"
note "coalescing on: $BYTES bytes intact, $on datagrams taken in coalesced batches"

transfer 0
grep -q "received $BYTES B" "$WORK/a.err" || fail "no statistics from the receiver: $(cat "$WORK/a.err")"
off=$(coalesced)
[[ $off == 0 ]] || fail "TOU_RECEIVE_COALESCE=0, yet $off datagrams coalesced"
note "coalescing off: $BYTES bytes intact, none coalesced"
