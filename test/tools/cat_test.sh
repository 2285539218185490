#!/usr/bin/env bash
# tou-cat end to end on loopback: 20 MB each way with SHA-256 equality, a
# half-close (the client's stdin ends first, the server still sends), -k,
# IPv6, refused and timed-out connects with their messages and exit status,
# -v statistics, and bad command lines (exit 2 with the usage).
source "$(dirname "$0")/lib.sh"

CAT=$BIN/tou-cat
[[ -x $CAT ]] || skip "tou-cat is not built"
SIZE=$(scaled 20000000)
random_file "$WORK/up" "$SIZE"
random_file "$WORK/down" "$SIZE"

# Starts `tou-cat -l ... HOST PORT` with the given stdin / stdout / stderr files;
# returns once its UDP port is bound. The pid is in $LISTENER.
listen() {
  local host=$1 port=$2 in=$3 out=$4 err=$5; shift 5
  spawn_with_input "$in" timeout 120 "$CAT" -l "$@" "$host" "$port" >"$out" 2>"$err"
  LISTENER=$!
  wait_for 10 udp_port_bound "$port" || fail "tou-cat -l did not bind port $port"
}

expect_status() {
  local want=$1 got=$2 what=$3
  [[ $got == "$want" ]] || fail "$what: exit status $got, expected $want"
}

note "client stdin -> server stdout, $SIZE bytes"
port=$(free_udp_port)
listen 127.0.0.1 "$port" /dev/null "$WORK/got_up" "$WORK/server.err" -v
status=0
timeout 120 "$CAT" -v 127.0.0.1 "$port" <"$WORK/up" >/dev/null 2>"$WORK/client.err" || status=$?
expect_status 0 "$status" "client"
status=0; wait "$LISTENER" || status=$?
expect_status 0 "$status" "server"
[[ $(sha256 "$WORK/got_up") == $(sha256 "$WORK/up") ]] || fail "upload differs"

note "-v: connection lines and statistics on stderr"
grep -q "connection from 127.0.0.1 port" "$WORK/server.err" || fail "no accept line: $(cat "$WORK/server.err")"
grep -q "connected to 127.0.0.1 port $port" "$WORK/client.err" || fail "no connect line"
grep -Eq "rtt [0-9.]+ ms .*cwnd [0-9]+ B.*retransmissions [0-9]+" "$WORK/server.err" ||
  fail "no statistics: $(cat "$WORK/server.err")"
grep -q "$SIZE bytes to stdout" "$WORK/server.err" || fail "server did not count $SIZE bytes"
grep -q "$SIZE bytes from stdin" "$WORK/client.err" || fail "client did not count $SIZE bytes"

note "server stdin -> client stdout, $SIZE bytes"
port=$(free_udp_port)
listen 127.0.0.1 "$port" "$WORK/down" /dev/null "$WORK/server.err"
status=0
timeout 120 "$CAT" 127.0.0.1 "$port" </dev/null >"$WORK/got_down" || status=$?
expect_status 0 "$status" "client"
status=0; wait "$LISTENER" || status=$?
expect_status 0 "$status" "server"
[[ $(sha256 "$WORK/got_down") == $(sha256 "$WORK/down") ]] || fail "download differs"

note "half-close: the client's stdin ends first, the server still sends afterwards"
port=$(free_udp_port)
mkfifo "$WORK/late"
spawn bash -c "sleep 1; cat '$WORK/down' >'$WORK/late'"
listen 127.0.0.1 "$port" "$WORK/late" "$WORK/got_hello" "$WORK/server.err"
status=0
echo hello | timeout 60 "$CAT" 127.0.0.1 "$port" >"$WORK/got_late" || status=$?
expect_status 0 "$status" "client"
status=0; wait "$LISTENER" || status=$?
expect_status 0 "$status" "server"
[[ $(cat "$WORK/got_hello") == hello ]] || fail "server got '$(cat "$WORK/got_hello")'"
[[ $(sha256 "$WORK/got_late") == $(sha256 "$WORK/down") ]] || fail "late data differs"

note "-k: two connections one after the other"
port=$(free_udp_port)
listen 127.0.0.1 "$port" /dev/null "$WORK/got_k" "$WORK/server.err" -k
echo first | timeout 30 "$CAT" 127.0.0.1 "$port" >/dev/null || fail "first -k client"
echo second | timeout 30 "$CAT" 127.0.0.1 "$port" >/dev/null || fail "second -k client"
wait_for 10 grep -q second "$WORK/got_k" || fail "-k: got '$(cat "$WORK/got_k")'"
[[ $(cat "$WORK/got_k") == $'first\nsecond' ]] || fail "-k: got '$(cat "$WORK/got_k")'"
kill -0 "$LISTENER" 2>/dev/null || fail "-k listener exited"
kill "$LISTENER"

note "IPv6 (::1)"
port=$(free_udp_port)
listen ::1 "$port" /dev/null "$WORK/got_v6" "$WORK/server.err" -6
head -c 100000 "$WORK/up" >"$WORK/up_small"
timeout 30 "$CAT" -6 ::1 "$port" <"$WORK/up_small" >/dev/null || fail "IPv6 client"
status=0; wait "$LISTENER" || status=$?
expect_status 0 "$status" "IPv6 server"
cmp -s "$WORK/got_v6" "$WORK/up_small" || fail "IPv6 data differs"

note "refused: non-zero exit and nc's message"
port=$(free_udp_port)
status=0
timeout 30 "$CAT" 127.0.0.1 "$port" </dev/null 2>"$WORK/refused.err" || status=$?
expect_status 1 "$status" "refused"
grep -qx "tou-cat: connect to 127.0.0.1 port $port: Connection refused" "$WORK/refused.err" ||
  fail "refused message: $(cat "$WORK/refused.err")"

note "-w: a UDP port that never answers times out"
spawn python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(60)' "$WORK/silent_port"
wait_for 10 test -s "$WORK/silent_port" || fail "no silent UDP port"
port=$(cat "$WORK/silent_port")
status=0
begin=$SECONDS
timeout 30 "$CAT" -w 1 127.0.0.1 "$port" </dev/null 2>"$WORK/timeout.err" || status=$?
expect_status 1 "$status" "-w timeout"
((SECONDS - begin <= 5)) || fail "-w 1 took $((SECONDS - begin)) s"
grep -qx "tou-cat: connect to 127.0.0.1 port $port: Connection timed out" "$WORK/timeout.err" ||
  fail "timeout message: $(cat "$WORK/timeout.err")"

note "bad command lines: exit 2 and the usage on stderr; --help exits 0"
bad() {
  local status=0
  timeout 10 "$CAT" "$@" </dev/null >/dev/null 2>"$WORK/usage.err" || status=$?
  [[ $status == 2 ]] || fail "tou-cat $*: exit status $status, expected 2"
  grep -q "Usage" "$WORK/usage.err" || fail "tou-cat $*: no usage on stderr"
}
bad
bad 127.0.0.1
bad -l
bad -x 127.0.0.1 9
bad 127.0.0.1 notaport
bad 127.0.0.1 70000
bad -k 127.0.0.1 9
bad -w 0 127.0.0.1 9
bad -4 -6 127.0.0.1 9
bad -l 127.0.0.1 9 extra
timeout 10 "$CAT" --help >"$WORK/help.out" || fail "--help failed"
grep -q "Usage" "$WORK/help.out" || fail "--help printed no usage"

note "ok"
