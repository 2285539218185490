#!/usr/bin/env bash
# iperf3 over tou: a 5-second run between `iperf3 -s` and `iperf3 -c`, both
# under tou-run, must report a throughput (--json) and no error.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs iperf3 python3 ss

seconds=$(scaled 5)
port=$(free_udp_port)
spawn timeout $((seconds + 60)) "$TOU_RUN" -s "$WORK/server" iperf3 -s -1 -p "$port" \
  >"$WORK/server.log" 2>&1
wait_for 20 udp_port_bound "$port" || fail "iperf3 -s did not bind UDP port $port"
! tcp_port_listening "$port" || fail "a kernel TCP listener on port $port"

timeout $((seconds + 60)) "$TOU_RUN" -s "$WORK/client" iperf3 -c 127.0.0.1 -p "$port" \
  -t "$seconds" --json >"$WORK/result.json" || fail "iperf3 -c failed: $(cat "$WORK/result.json")"
mbits=$(python3 - "$WORK/result.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
if "error" in result:
    sys.exit("iperf3: " + result["error"])
end = result["end"]
print(f'{end["sum_sent"]["bits_per_second"] / 1e6:.0f} {end["sum_received"]["bits_per_second"] / 1e6:.0f}')
PY
) || fail "no throughput in iperf3's report"
read -r sent received <<<"$mbits"
((received > 0)) || fail "iperf3 measured no throughput"
note "iperf3 over tou: sent $sent Mbit/s, received $received Mbit/s"
# The control connection and the data stream, both tou's.
(($(stat_sum "$WORK/client" tou_connects) >= 2)) || fail "iperf3 -c made no tou connections"
(($(stat_sum "$WORK/client" kernel_sockets) == 0)) || fail "iperf3 -c used kernel TCP"
(($(stat_sum "$WORK/client" bytes_sent) > 0)) || fail "iperf3 -c sent nothing over tou"
