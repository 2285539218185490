#!/usr/bin/env bash
# Fork and exec under the shim: a python server accepts over tou and forks per
# connection; the first child answers itself (options it sets are served by the
# parent's engine), the second dup2()s the socket onto stdin/stdout and execs a
# fresh python that finds its peer with getpeername() (the new image's shim
# recognises the inherited tou socket). The client connects non-blocking,
# waits with epoll and reads SO_ERROR. Then bash's /dev/tcp: `exec 3<>` puts
# the socket on descriptor 3 with dup2 (tou's own descriptors must not be
# there), and a forked, exec'd `head` reads from it.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs python3 ss
python=$(command -v /usr/bin/python3 || command -v python3)

cat >"$WORK/server.py" <<'PY'
import os, socket, sys

port, handler = int(sys.argv[1]), sys.argv[2]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen()
children = []
for mode in ("fork", "exec"):
    conn, _ = listener.accept()
    pid = os.fork()
    if pid == 0:
        listener.close()
        if mode == "exec":
            os.dup2(conn.fileno(), 0)
            os.dup2(conn.fileno(), 1)
            os.execv(sys.executable, [sys.executable, handler])
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = conn.makefile("rb").readline().strip().decode()
        conn.sendall(f"{mode} {line} from {conn.getpeername()[0]}\n".encode())
        conn.close()
        os._exit(0)
    conn.close()
    children.append(pid)
sys.exit(max(os.waitpid(pid, 0)[1] for pid in children))
PY
cat >"$WORK/handler.py" <<'PY'
import socket

conn = socket.socket(fileno=0)  # asks the descriptor its family and type
peer = conn.getpeername()
line = conn.makefile("rb").readline().strip().decode()
conn.sendall(f"exec {line} from {peer[0]} family {conn.family.name}\n".encode())
conn.close()
PY
cat >"$WORK/client.py" <<'PY'
import errno, selectors, socket, sys

def ask(port, message):
    s = socket.socket()
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    assert err in (0, errno.EINPROGRESS), errno.errorcode.get(err, err)
    with selectors.EpollSelector() as sel:
        sel.register(s, selectors.EVENT_WRITE)
        assert sel.select(timeout=20), "the connection was not made in 20 s"
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    s.settimeout(20)
    s.sendall(message.encode() + b"\n")
    reply = s.makefile("rb").readline().decode().strip()
    s.close()
    return reply

port = int(sys.argv[1])
print(ask(port, "one"))
print(ask(port, "two"))
PY

port=$(free_udp_port)
spawn timeout 60 "$TOU_RUN" -s "$WORK/server" "$python" "$WORK/server.py" "$port" \
  "$WORK/handler.py"
server=$!
wait_for 20 udp_port_bound "$port" || fail "the server did not bind UDP port $port"
timeout 60 "$TOU_RUN" -s "$WORK/client" "$python" "$WORK/client.py" "$port" >"$WORK/replies" ||
  fail "the client failed"
wait "$server" || fail "the server or a child failed"
note "replies: $(tr '\n' '|' <"$WORK/replies")"
[[ $(sed -n 1p "$WORK/replies") == "fork one from 127.0.0.1" ]] || fail "wrong reply from the forked child"
[[ $(sed -n 2p "$WORK/replies") == "exec two from 127.0.0.1 family AF_INET" ]] ||
  fail "wrong reply from the exec'd handler"
(($(stat_sum "$WORK/client" tou_connects) == 2)) || fail "the client made no tou connections"
# TOU_STATS of a forking server: the children start from zero (the accepts are
# the parent's), and the payload counts in the parent, whose engine carried it.
replies=$(wc -c <"$WORK/replies")
check_stat() {
  local got
  got=$(stat_sum "$1" "$2")
  [[ $got == "$3" ]] || fail "TOU_STATS $(basename "$1") $2 = $got, expected $3"
}
check_stat "$WORK/server" tou_accepts 2
check_stat "$WORK/server" bytes_received 8 # "one\n" and "two\n"
check_stat "$WORK/server" bytes_sent "$replies"
check_stat "$WORK/client" bytes_sent 8
check_stat "$WORK/client" bytes_received "$replies"

note "bash: exec 3<>/dev/tcp/..., then head reads fd 3 in a child"
port=$(free_udp_port)
echo "from the server" >"$WORK/greeting"
spawn_with_input "$WORK/greeting" timeout 30 "$TOU_RUN" nc -N -l 127.0.0.1 "$port" >"$WORK/from-bash"
server=$!
wait_for 10 udp_port_bound "$port" || fail "nc -l did not bind UDP port $port"
reply=$(timeout 30 "$TOU_RUN" -s "$WORK/bash" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; echo from bash >&3; head -1 <&3' \
  _ "$port") || fail "bash /dev/tcp failed"
wait "$server" || fail "nc -l failed"
[[ $reply == "from the server" ]] || fail "bash read '$reply'"
[[ $(cat "$WORK/from-bash") == "from bash" ]] || fail "nc -l read '$(cat "$WORK/from-bash")'"
# bash exits with the socket still open on descriptor 3: counted at exit.
check_stat "$WORK/bash" bytes_sent 10       # "from bash\n"
check_stat "$WORK/bash" bytes_received 16   # "from the server\n"
