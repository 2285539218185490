#!/usr/bin/env bash
# TOU_PORTS / TOU_ADDRS: with a filter set, a socket goes over tou only when
# the port (and address) it binds or connects to matches; others stay kernel
# TCP. nc sets SO_REUSEADDR and SO_REUSEPORT before bind, so the tou case also
# covers the swap of the kernel socket with its options replayed.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs nc ss sha256sum

random_file "$WORK/data" $(($(scaled 1) * 1000 * 1000))
tou_port=$(free_udp_port)
kernel_port=$(free_tcp_port)

# transfer NAME PORT OPTIONS...: nc -l and nc under tou-run OPTIONS, the file
# from client to server; leaves stats in $WORK/NAME-server.* and -client.*.
transfer() {
  local name=$1 port=$2
  shift 2
  spawn timeout 60 "$TOU_RUN" "$@" -s "$WORK/$name-server" nc -l 127.0.0.1 "$port" \
    >"$WORK/$name.got"
  local server=$!
  wait_for 10 eval "tcp_port_listening $port || udp_port_bound $port" ||
    fail "$name: nc -l is not listening on $port"
  LISTENING_TCP=no
  LISTENING_UDP=no
  tcp_port_listening "$port" && LISTENING_TCP=yes
  udp_port_bound "$port" && LISTENING_UDP=yes
  timeout 60 "$TOU_RUN" "$@" -s "$WORK/$name-client" nc -N 127.0.0.1 "$port" <"$WORK/data" ||
    fail "$name: nc failed"
  wait "$server" || fail "$name: nc -l failed"
  [[ $(sha256 "$WORK/$name.got") == $(sha256 "$WORK/data") ]] || fail "$name: the copy differs"
}

# counts NAME SIDE: "tou_sockets kernel_sockets" of one side.
counts() { echo "$(stat_sum "$WORK/$1-$2" tou_sockets) $(stat_sum "$WORK/$1-$2" kernel_sockets)"; }

note "TOU_PORTS=$tou_port, port $kernel_port: kernel TCP"
transfer kernel "$kernel_port" --ports "$tou_port"
[[ $LISTENING_TCP == yes && $LISTENING_UDP == no ]] || fail "port $kernel_port was not kernel TCP"
[[ $(counts kernel server) == "0 1" && $(counts kernel client) == "0 1" ]] ||
  fail "kernel: counters $(counts kernel server) / $(counts kernel client)"

note "TOU_PORTS=$tou_port, port $tou_port: tou"
transfer tou "$tou_port" --ports "$tou_port"
[[ $LISTENING_TCP == no && $LISTENING_UDP == yes ]] || fail "port $tou_port was not tou"
[[ $(counts tou server) == "1 0" && $(counts tou client) == "1 0" ]] ||
  fail "tou: counters $(counts tou server) / $(counts tou client)"

note "TOU_ADDRS=127.0.0.1 with a port range: tou"
transfer addrs "$tou_port" --addrs 127.0.0.1 --ports "1-$tou_port"
[[ $LISTENING_UDP == yes ]] || fail "TOU_ADDRS=127.0.0.1 was not tou"
[[ $(counts addrs server) == "1 0" ]] || fail "addrs: counters $(counts addrs server)"

note "TOU_ADDRS=127.0.0.2: kernel TCP on 127.0.0.1"
transfer other-addr "$kernel_port" --addrs 127.0.0.2
[[ $LISTENING_TCP == yes ]] || fail "TOU_ADDRS=127.0.0.2 took 127.0.0.1"
[[ $(counts other-addr client) == "0 1" ]] || fail "other-addr: counters $(counts other-addr client)"
