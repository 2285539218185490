#!/usr/bin/env bash
# netcat-openbsd over tou: `nc -l` and `nc`, both under tou-run, move a 10 MB
# file each way; the copies must be byte-exact, and the traffic must have gone
# over tou (a UDP port, no kernel TCP socket, the shim's counters).
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs nc ss sha256sum

bytes=$(($(scaled 10) * 1000 * 1000))
random_file "$WORK/up" "$bytes"
random_file "$WORK/down" "$bytes"

note "client to server: $bytes bytes"
port=$(free_udp_port)
spawn timeout 60 "$TOU_RUN" -s "$WORK/up-server" nc -l 127.0.0.1 "$port" >"$WORK/up.got"
server=$!
wait_for 10 udp_port_bound "$port" || fail "nc -l did not bind UDP port $port"
! tcp_port_listening "$port" || fail "a kernel TCP listener on port $port"
timeout 60 "$TOU_RUN" -s "$WORK/up-client" nc -N 127.0.0.1 "$port" <"$WORK/up" ||
  fail "nc client failed"
wait "$server" || fail "nc -l failed"
[[ $(sha256 "$WORK/up.got") == $(sha256 "$WORK/up") ]] || fail "the server's copy differs"
(($(stat_sum "$WORK/up-server" bytes_received) >= bytes)) || fail "the server did not receive over tou"
(($(stat_sum "$WORK/up-server" tou_accepts) == 1)) || fail "the server accepted no tou connection"

note "server to client: $bytes bytes"
port=$(free_udp_port)
spawn_with_input "$WORK/down" timeout 60 "$TOU_RUN" -s "$WORK/down-server" nc -N -l 127.0.0.1 "$port"
server=$!
wait_for 10 udp_port_bound "$port" || fail "nc -l did not bind UDP port $port"
timeout 60 "$TOU_RUN" -s "$WORK/down-client" nc -d 127.0.0.1 "$port" >"$WORK/down.got" ||
  fail "nc client failed"
wait "$server" || fail "nc -l failed"
[[ $(sha256 "$WORK/down.got") == $(sha256 "$WORK/down") ]] || fail "the client's copy differs"
(($(stat_sum "$WORK/down-client" bytes_received) >= bytes)) || fail "the client did not receive over tou"
(($(stat_sum "$WORK/down-client" tou_connects) == 1)) || fail "the client made no tou connection"

for side in up-server up-client down-server down-client; do
  (($(stat_sum "$WORK/$side" kernel_sockets) == 0)) || fail "$side used kernel TCP"
done
note "nc over tou: both directions byte-exact"
