# tou over an impaired real link: a 20 MB file from tou-cat to tou-cat -l through
# tou-netem's plain UDP proxy (as make demo does: the segments' ports are not the
# UDP ports the server sees, as behind a NAT) with 5% loss, 2% duplication, 5% reordering and 5% corruption each way arrives
# byte-exact (SHA-256), and tou-netem's counters show that every impairment
# happened. Skips while bin/tou-cat is not built.
source "$(dirname "$0")/lib.sh"

NETEM=$BIN/tou-netem
[[ -x $NETEM ]] || skip "no $NETEM"
[[ -x $BIN/tou-cat ]] || skip "no $BIN/tou-cat yet"

# Not scaled down under the sanitizers: the impairments need the datagrams
# (below) to show; at a quarter of the bytes each count was 0 about once in
# four runs.
bytes=$((20 * 1000000))
random_file "$WORK/file" "$bytes"
server_port=$(free_udp_port)

spawn timeout 300 "$BIN/tou-cat" -v -l 127.0.0.1 "$server_port" >"$WORK/received" </dev/null \
  2>"$WORK/server.err"
server_pid=$!
# Listening, not only bound: a SYN between bind() and listen() is refused.
wait_for 30 grep -q "listening on" "$WORK/server.err" ||
  fail "tou-cat -l did not listen on $server_port: $(cat "$WORK/server.err")"
spawn "$NETEM" --listen "127.0.0.1:0" --forward "127.0.0.1:$server_port" --seed 5 \
  --loss 0.05 --dup 0.02 --reorder 0.05 --corrupt 0.05 --delay 1 \
  --stats-json "$WORK/stats.json" 2>"$WORK/netem.err"
netem_pid=$!
wait_for 30 grep -q "^tou-netem: 127.0.0.1:[0-9]* ->" "$WORK/netem.err" ||
  fail "tou-netem did not start: $(cat "$WORK/netem.err")"
proxy_port=$(sed -n 's/^tou-netem: 127.0.0.1:\([0-9]*\) ->.*/\1/p' "$WORK/netem.err")

start=$(date +%s.%N)
timeout 300 "$BIN/tou-cat" 127.0.0.1 "$proxy_port" <"$WORK/file" >/dev/null ||
  fail "tou-cat client exited with $?"
wait_within 60 "$server_pid" || fail "tou-cat -l exited with $?"
seconds=$(python3 -c "import time; print(round(time.time() - $start, 2))")
stop_within 10 "$netem_pid" || fail "tou-netem exited with $?"

[[ $(stat -c %s "$WORK/received") == "$bytes" ]] || fail "received $(stat -c %s "$WORK/received") of $bytes bytes"
[[ $(sha256 "$WORK/received") == $(sha256 "$WORK/file") ]] || fail "SHA-256 differs"
# On loopback tou sends ~64 KB datagrams, so 20 MB is only ~350 of them up and
# ~180 ACKs down: a count below is 0 with probability 0.98^530 (duplication,
# 2e-5) or less (loss, reordering, corruption at 5%: 2e-12).
for counter in dropped_loss duplicated reordered corrupted; do
  value=$(($(json_get "$WORK/stats.json" "up.$counter") + $(json_get "$WORK/stats.json" "down.$counter")))
  ((value > 0)) || fail "$counter is $value in both directions: the impairment did not happen"
done
note "$bytes bytes intact in $seconds s through: $(grep -E '^(up|down) +[0-9]' "$WORK/netem.err" | tr -s ' ' | paste -sd ';')"
echo "PASS"
