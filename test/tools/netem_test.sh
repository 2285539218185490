# tou-netem as a UDP proxy: its counters and the traffic that comes out match
# what it was asked to do (binomial bounds at 4 sigma), per direction; delay,
# jitter and rate are checked in tou-netem's schedule (exact, whatever the load)
# and, as lower bounds only, by the receiver (a loaded machine can make a packet
# late, never early); bad command lines exit 2 with the usage; SIGTERM and
# --duration end it with its counters printed.
source "$(dirname "$0")/lib.sh"

NETEM=$BIN/tou-netem
UDP="python3 $SRC/test/tools/netem_udp.py"
[[ -x $NETEM ]] || skip "no $NETEM"

# Starts tou-netem towards FORWARD with the given options, listening on a port
# the kernel picks (none chosen in advance that another program could take):
# the port in PROXY_PORT, pid in NETEM_PID, counters (JSON) in $WORK/stats.json,
# stderr in $WORK/netem.err.
start_netem() {
  local forward=$1
  shift
  rm -f "$WORK/stats.json" "$WORK/sink.json"
  spawn "$NETEM" --listen "127.0.0.1:0" --forward "127.0.0.1:$forward" --seed 7 \
    --stats-json "$WORK/stats.json" "$@" 2>"$WORK/netem.err"
  NETEM_PID=$!
  wait_for 30 grep -q "^tou-netem: 127.0.0.1:[0-9]* ->" "$WORK/netem.err" ||
    fail "tou-netem did not start: $(cat "$WORK/netem.err")"
  PROXY_PORT=$(sed -n 's/^tou-netem: 127.0.0.1:\([0-9]*\) ->.*/\1/p' "$WORK/netem.err")
}

# Starts netem_udp.py MODE (sink or echo) on a port the kernel picks, with its
# other arguments: pid in PEER_PID, port in PEER_PORT. The sink stops 3 s after
# the last datagram (a stall of a busy machine is far shorter).
start_peer() {
  local mode=$1
  shift
  rm -f "$WORK/peer.port"
  spawn $UDP "$mode" 0 "$@" --port-file "$WORK/peer.port"
  PEER_PID=$!
  wait_for 30 test -s "$WORK/peer.port" || fail "netem_udp.py $mode did not start"
  PEER_PORT=$(cat "$WORK/peer.port")
}

# Fails unless LOW <= VALUE <= HIGH (decimal numbers; HIGH "inf" for no bound).
check_range() {
  local what=$1 value=$2 low=$3 high=$4
  awk -v v="$value" -v lo="$low" -v hi="$high" \
    'BEGIN { exit !(v + 0 >= lo + 0 && (hi == "inf" || v + 0 <= hi + 0)) }' ||
    fail "$what = $value, expected in [$low, $high]"
  note "$what = $value (expected [$low, $high])"
}

# Binomial bounds: mean n*p +- 4 sigma, as "low high".
binomial_bounds() {
  awk -v n="$1" -v p="$2" 'BEGIN { m = n * p; s = 4 * sqrt(n * p * (1 - p)); printf "%.1f %.1f\n", m - s, m + s }'
}

# The counters of the last tou-netem run and what the last sink saw, loaded once
# per run (python starts slowly on a busy machine).
declare -A ST=() SINK=()
stat() { echo "${ST[$1]}"; }
sink() { echo "${SINK[$1]}"; }
loaded() {
  json_load "$WORK/stats.json" ST
  if [[ -f $WORK/sink.json ]]; then json_load "$WORK/sink.json" SINK; fi
}

# --- 1. Loss and duplication: 20,000 datagrams at --loss 0.1 --dup 0.05.
n=$(scaled 20000)
start_peer sink "$WORK/sink.json" --idle 3 --limit 120
sink_pid=$PEER_PID
start_netem "$PEER_PORT" --loss 0.1 --dup 0.05
$UDP send 127.0.0.1 "$PROXY_PORT" "$n" --size 100 --pps 20000
wait_within 130 "$sink_pid" || fail "sink failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $? on SIGTERM"
loaded
grep -q "received" "$WORK/netem.err" || fail "no counters printed on SIGTERM"
grep -Eq "^up +$n " "$WORK/netem.err" || fail "counters do not show $n received up: $(cat "$WORK/netem.err")"
[[ $(stat up.received) == "$n" ]] || fail "tou-netem received $(stat up.received) of $n"
lost=$(stat up.dropped_loss)
dup=$(stat up.duplicated)
read -r low high < <(binomial_bounds "$n" 0.1)
check_range "lost (of $n at 10%)" "$lost" "$low" "$high"
read -r low high < <(binomial_bounds "$((n - lost))" 0.05)
check_range "duplicated (of $((n - lost)) at 5%)" "$dup" "$low" "$high"
[[ $(stat up.forwarded) == $((n - lost + dup)) ]] || fail "forwarded $(stat up.forwarded) != $n - $lost + $dup"
[[ $(sink packets) == $(stat up.forwarded) ]] || fail "sink got $(sink packets), tou-netem forwarded $(stat up.forwarded)"
[[ $(sink distinct) == $((n - lost)) ]] || fail "sink saw $(sink distinct) distinct datagrams, expected $((n - lost))"
[[ $(sink corrupted) == 0 && $(sink out_of_order) == 0 ]] || fail "corruption or reordering nobody asked for"
[[ $(stat down.received) == 0 ]] || fail "down direction saw traffic"

# --- 2. Reordering and corruption counted exactly by the receiver (CRC-32).
n=$(scaled 5000)
start_peer sink "$WORK/sink.json" --idle 3 --limit 60
sink_pid=$PEER_PID
start_netem "$PEER_PORT" --reorder 0.2 --reorder-delay 5 --corrupt 0.1
$UDP send 127.0.0.1 "$PROXY_PORT" "$n" --size 200 --pps 5000
wait_within 70 "$sink_pid" || fail "sink failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $?"
loaded
read -r low high < <(binomial_bounds "$n" 0.2)
check_range "reordered (of $n at 20%)" "$(stat up.reordered)" "$low" "$high"
read -r low high < <(binomial_bounds "$n" 0.1)
check_range "corrupted (of $n at 10%)" "$(stat up.corrupted)" "$low" "$high"
[[ $(stat up.received) == "$n" && $(stat up.forwarded) == "$n" && $(stat up.send_errors) == 0 ]] ||
  fail "tou-netem lost datagrams: $(cat "$WORK/stats.json")"
[[ $(($(sink packets) + $(sink corrupted))) == "$n" ]] || fail "the sink missed datagrams: $(cat "$WORK/sink.json")"
[[ $(sink corrupted) == $(stat up.corrupted) ]] || fail "sink found $(sink corrupted) corrupted, tou-netem says $(stat up.corrupted)"
(($(sink out_of_order) > 0)) || fail "nothing arrived out of order at --reorder 0.2"

# --- 3. Delay and jitter: the delays tou-netem drew (its schedule), and the
# one-way delays the receiver measured (CLOCK_MONOTONIC), which may only be
# longer: a busy machine runs tou-netem, the sender or the receiver late.
start_peer sink "$WORK/sink.json" --idle 3 --limit 60
sink_pid=$PEER_PID
start_netem "$PEER_PORT" --delay 50
$UDP send 127.0.0.1 "$PROXY_PORT" 500 --pps 500
wait_within 70 "$sink_pid" || fail "sink failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $?"
loaded
[[ $(sink packets) == 500 ]] || fail "sink got $(sink packets) of 500"
[[ $(stat up.delay_drawn_min_us) == 50000 && $(stat up.delay_drawn_max_us) == 50000 ]] ||
  fail "--delay 50 drew delays of $(stat up.delay_drawn_min_us)..$(stat up.delay_drawn_max_us) us"
check_range "min one-way delay at --delay 50 (ms)" "$(sink min_delay_ms)" 50 inf
note "median one-way delay $(sink median_delay_ms) ms; released up to $(stat up.late_max_us) us late"

start_peer sink "$WORK/sink.json" --idle 3 --limit 60
sink_pid=$PEER_PID
start_netem "$PEER_PORT" --delay 20 --jitter 20
$UDP send 127.0.0.1 "$PROXY_PORT" 1000 --pps 200
wait_within 70 "$sink_pid" || fail "sink failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $?"
loaded
[[ $(sink packets) == 1000 ]] || fail "sink got $(sink packets) of 1000"
# Uniform in [20, 40] ms: mean 30 ms, standard deviation 20/sqrt(12) = 5.77 ms,
# so the mean of 1000 draws is within 4 sigma / sqrt(1000) = 0.73 ms of 30.
check_range "least delay drawn at --delay 20 --jitter 20 (us)" "$(stat up.delay_drawn_min_us)" 20000 40000
check_range "most delay drawn (us)" "$(stat up.delay_drawn_max_us)" 20000 40000
check_range "mean delay drawn (us)" "$(stat up.delay_drawn_mean_us)" 29270 30730
check_range "min one-way delay at --delay 20 --jitter 20 (ms)" "$(sink min_delay_ms)" 20 inf
# 95% of the draws are above 21 ms and most above 39: a 95th percentile below
# 32 ms would mean the jitter is missing from the wire.
check_range "95th percentile one-way delay (ms)" "$(sink p95_delay_ms)" 32 inf
[[ $(sink out_of_order) == 0 ]] || fail "jitter reordered $(sink out_of_order) datagrams"

# --- 4. Rate: 16 Mbit/s offered to --rate 8 with a 50-packet queue. The rate
# is tou-netem's schedule: the wire bytes of the packets that waited for the
# token bucket over the link time they took, which a late process does not
# change. Tolerance 1.25%: each wait is rounded up to a whole microsecond
# (1 in 1028 per packet) and the bucket's 4-frame burst goes to the first.
# What the receiver measured in wall-clock time is only printed.
start_peer sink "$WORK/sink.json" --idle 3 --limit 60
sink_pid=$PEER_PID
start_netem "$PEER_PORT" --rate 8 --queue 50
$UDP send 127.0.0.1 "$PROXY_PORT" 4000 --size 1000 --pps 2000
wait_within 70 "$sink_pid" || fail "sink failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $?"
loaded
[[ $(stat up.received) == 4000 ]] || fail "tou-netem received $(stat up.received) of 4000"
# At least a second of the link's time at the limit: a long enough window.
check_range "bytes that waited for the rate limit" "$(stat up.rate_limited_bytes)" 1028000 inf
check_range "scheduled rate at --rate 8 (Mbit/s)" "$(stat up.scheduled_mbps)" 7.9 8.1
(($(stat up.dropped_queue) > 0)) || fail "no queue drops at twice the rate"
[[ $(($(stat up.forwarded) + $(stat up.dropped_queue))) == 4000 ]] || fail "forwarded + queue drops != 4000"
[[ $(sink packets) == $(stat up.forwarded) ]] || fail "sink got $(sink packets), tou-netem forwarded $(stat up.forwarded)"
check_range "max queue (packets)" "$(stat up.max_queue)" 50 50
# On the wire each datagram also carries 28 bytes of IPv4 + UDP header.
mbps=$(awk -v n="$(sink packets)" -v t0="$(sink first_ns)" -v t1="$(sink last_ns)" \
  'BEGIN { printf "%.3f", (n - 1) * 1028 * 8 / ((t1 - t0) / 1e9) / 1e6 }')
note "the receiver saw $mbps Mbit/s (wall clock, not checked)"

# --- 5. Per-direction settings act on their direction only; one upstream socket
# per client (the server sees two peers).
start_peer echo "$WORK/peers.txt" --limit 60
echo_pid=$PEER_PID
start_netem "$PEER_PORT" --up-loss 0.5 --down-delay 40
$UDP ping 127.0.0.1 "$PROXY_PORT" 400 "$WORK/ping1.json" --pps 200 --idle 2 &
ping1=$!
$UDP ping 127.0.0.1 "$PROXY_PORT" 400 "$WORK/ping2.json" --pps 200 --idle 2
wait_within 60 "$ping1" || fail "first pinger failed"
stop_within 30 "$NETEM_PID" || fail "tou-netem exited with $?"
loaded
kill "$echo_pid" 2>/dev/null || true
read -r low high < <(binomial_bounds 800 0.5)
check_range "up lost (of 800 at --up-loss 0.5)" "$(stat up.dropped_loss)" "$low" "$high"
[[ $(stat down.dropped_loss) == 0 ]] || fail "down lost $(stat down.dropped_loss) with loss set up only"
[[ $(stat down.received) == $(stat up.forwarded) ]] || fail "echoes $(stat down.received) != requests forwarded $(stat up.forwarded)"
declare -A PING1 PING2
json_load "$WORK/ping1.json" PING1
json_load "$WORK/ping2.json" PING2
[[ $(stat down.delay_drawn_min_us) == 40000 && $(stat down.delay_drawn_max_us) == 40000 ]] ||
  fail "--down-delay 40 drew $(stat down.delay_drawn_min_us)..$(stat down.delay_drawn_max_us) us down"
[[ $(stat up.delay_drawn_max_us) == 0 ]] || fail "--down-delay 40 delayed up by $(stat up.delay_drawn_max_us) us"
check_range "min RTT at --down-delay 40 (ms)" "${PING1[min_delay_ms]}" 40 inf
check_range "min RTT of the second client (ms)" "${PING2[min_delay_ms]}" 40 inf
[[ $(sort -u "$WORK/peers.txt" | wc -l) == 2 ]] || fail "the server saw $(sort -u "$WORK/peers.txt" | wc -l) peers, expected 2"

# --- 6. --duration ends it by itself, counters printed, JSON written.
start_netem "$(free_udp_port)" --duration 1
wait_within 30 "$NETEM_PID" || fail "tou-netem --duration 1 exited with $?"
loaded
grep -q "queue_drop" "$WORK/netem.err" || fail "no counters after --duration"
[[ $(stat mode) == proxy && $(stat seed) == 7 ]] || fail "bad JSON: $(cat "$WORK/stats.json")"

# --- 7. Bad command lines: usage on stderr, exit 2.
bad() {
  local status=0
  "$NETEM" "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status == 2 ]] || fail "tou-netem $* exited $status, expected 2"
  grep -q "Usage:" "$WORK/err" || fail "tou-netem $* printed no usage"
}
bad
bad --listen 127.0.0.1:9
bad --forward 127.0.0.1:9
bad --listen 127.0.0.1:9 --forward 127.0.0.1:10 --loss 1.5
bad --listen 127.0.0.1:notaport --forward 127.0.0.1:10
bad --listen 127.0.0.1:9 --forward nohost.invalid:10
bad --listen 127.0.0.1:9 --forward 127.0.0.1:10 --bogus
bad --listen 127.0.0.1:9 --forward 127.0.0.1:10 --delay -1
bad --listen 127.0.0.1:9 --forward 127.0.0.1:10 --a 'true'
bad --netns --a 'true'
bad --netns --b 'true' --listen 127.0.0.1:9
bad --listen 127.0.0.1:9 --forward 127.0.0.1:10 --tou
"$NETEM" --help >"$WORK/out" || fail "--help exited $?"
grep -q -- "--up-loss" "$WORK/out" || fail "--help does not list the per-direction options"
echo "PASS"
