#!/usr/bin/env bash
# redis-server and redis-benchmark (50 clients) over tou, both under tou-run:
# every request must succeed.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs redis-server redis-benchmark redis-cli ss

requests=$(scaled 100000)
port=$(free_tcp_port)
spawn timeout 500 "$TOU_RUN" -s "$WORK/server" redis-server --port "$port" --bind 127.0.0.1 \
  --save '' --appendonly no --daemonize no --dir "$WORK" >"$WORK/server.log" 2>&1
wait_for 20 udp_port_bound "$port" || fail "redis-server did not bind UDP port $port"
! tcp_port_listening "$port" || fail "a kernel TCP listener on port $port"

timeout 400 "$TOU_RUN" -s "$WORK/client" redis-benchmark -h 127.0.0.1 -p "$port" -q \
  -n "$requests" -c 50 -t ping,set,get --csv >"$WORK/bench.csv" 2>&1 ||
  fail "redis-benchmark failed: $(tail -5 "$WORK/bench.csv")"
! grep -qi error "$WORK/bench.csv" || fail "redis-benchmark reported errors: $(grep -i error "$WORK/bench.csv")"
for test in PING_INLINE PING_MBULK SET GET; do
  rps=$(awk -F'"' -v t="$test" '$2 == t {print int($4)}' "$WORK/bench.csv")
  ((${rps:-0} > 0)) || fail "no result for $test: $(cat "$WORK/bench.csv")"
  note "$test: $rps requests/s over tou"
done
# The server's own count: the 50 benchmark clients (per test) and this check.
connections=$(timeout 20 "$TOU_RUN" redis-cli -h 127.0.0.1 -p "$port" info stats |
  awk -F: '/^total_connections_received/ {print int($2)}')
((${connections:-0} >= 50)) || fail "redis-server counted ${connections:-no} connections"
(($(stat_sum "$WORK/client" kernel_sockets) == 0)) || fail "redis-benchmark used kernel TCP"
(($(stat_sum "$WORK/client" tou_connects) >= 50)) || fail "redis-benchmark made too few tou connections"
