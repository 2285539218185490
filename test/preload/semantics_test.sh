#!/usr/bin/env bash
# What a TCP program observes through the shim, call by call (python's socket
# module under tou-run): descriptor kinds left alone, dup/dup2/close, options
# ignored or refused as TCP would, TCP_INFO in Linux's layout, MSG_OOB,
# MSG_FASTOPEN, sendto/recvfrom addresses, sendfile, refused non-blocking
# connects, a reset reported once (write() included), MSG_PEEK | MSG_WAITALL,
# bytes after SHUT_RD, SO_RCVBUF, IPv6.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs python3
python=$(command -v /usr/bin/python3 || command -v python3)

cat >"$WORK/semantics.py" <<'PY'
import errno, os, select, signal, socket, struct, threading, time

def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == code, f"{fn.__name__}: errno {e.errno}, wanted {code}"
        return
    raise AssertionError(f"{fn.__name__} succeeded, wanted errno {code}")

def pair(family=socket.AF_INET, host="127.0.0.1"):
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname()[:2], timeout=20)
    server, _ = listener.accept()
    server.settimeout(20)
    return listener, client, server

# A tou socket answers as TCP would.
s = socket.socket()
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == socket.IPPROTO_TCP
# Ignored as a TCP stack may: TOS, priority, ACK timing, Fast Open, cork.
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0
for level, name in [(socket.SOL_SOCKET, socket.SO_PRIORITY), (socket.IPPROTO_TCP, socket.TCP_QUICKACK),
                    (socket.IPPROTO_TCP, socket.TCP_FASTOPEN), (socket.IPPROTO_TCP, socket.TCP_CORK),
                    (socket.SOL_SOCKET, socket.SO_REUSEPORT)]:
    s.setsockopt(level, name, 1)
# Refused as TCP refuses, or as tou cannot honour.
expect_errno(errno.ENOPROTOOPT, s.setsockopt, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 1)
expect_errno(errno.ENOPROTOOPT, s.setsockopt, socket.IPPROTO_TCP, 14, b"\0" * 216)  # TCP_MD5SIG
expect_errno(errno.EINVAL, s.setsockopt, socket.IPPROTO_IP, socket.IP_TOS, b"\0")
# Bound to no device, as a fresh kernel socket: an empty name (sshd asks).
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16) == b""
s.close()

# Other descriptors pass straight through: UDP, AF_UNIX pairs.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.sendto(b"datagram", u.getsockname())
data, source = u.recvfrom(100)
assert data == b"datagram" and source == u.getsockname()
a, b = socket.socketpair()
assert a.family == socket.AF_UNIX and a.getsockname() == ""
a.sendall(b"unix")
assert b.recv(10) == b"unix"

# Data, dup and close: a dup is the same socket; closing one copy keeps it open.
listener, client, server = pair()
copy = socket.socket(fileno=os.dup(client.fileno()))
copy.settimeout(20)
assert copy.getpeername() == client.getpeername()
client.close()
copy.sendall(b"via dup")
assert server.recv(100) == b"via dup"
# dup2 of a UDP socket onto a tou descriptor's number: that number is UDP now.
number = os.dup(copy.fileno())
os.dup2(u.fileno(), number)
assert socket.socket(fileno=number).getsockname() == u.getsockname()

# TCP_INFO in Linux's struct tcp_info layout (the ACK of "via dup" may still be
# on its way, delayed ACK included: wait for it, up to 10 s).
for _ in range(1000):
    info = copy.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    bytes_acked, bytes_received = struct.unpack_from("QQ", info, 120)
    if bytes_acked == len(b"via dup"):
        break
    time.sleep(0.01)
state, = struct.unpack_from("B", info, 0)
snd_mss, = struct.unpack_from("I", info, 16)
assert state == 1, f"tcpi_state {state}"
assert snd_mss > 0 and bytes_acked == len(b"via dup"), (snd_mss, bytes_acked)

# No urgent data: MSG_OOB fails as it does on TCP without urgent data.
expect_errno(errno.EOPNOTSUPP, copy.send, b"!", socket.MSG_OOB)
server.setblocking(True)  # (with a timeout, python would wait for data first)
expect_errno(errno.EINVAL, server.recv, 1, socket.MSG_OOB)
server.settimeout(20)
# A connected socket ignores sendto's address; recvfrom reports none.
copy.sendto(b"to", ("127.0.0.9", 9))
data, source = server.recvfrom(10)
assert data == b"to" and source is None, (data, source)
# SO_RCVTIMEO on the socket bounds a blocking read.
server.setblocking(True)
server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200000))
start = time.monotonic()
expect_errno(errno.EAGAIN, server.recv, 10)
assert 0.1 < time.monotonic() - start < 60  # (without the timeout: forever; load only adds)
# Half-close: the peer reads end-of-file, then answers.
copy.shutdown(socket.SHUT_WR)
server.settimeout(20)
assert server.recv(10) == b""
server.sendall(b"bye")
assert copy.recv(10) == b"bye"
for x in (copy, server, listener):
    x.close()

# MSG_FASTOPEN: sendto on a fresh socket connects, then sends.
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
fast = socket.socket()
fast.sendto(b"fast", socket.MSG_FASTOPEN, listener.getsockname())
conn, _ = listener.accept()
conn.settimeout(20)
assert conn.recv(10) == b"fast"
for x in (fast, conn, listener):
    x.close()

# A non-blocking connect to a port nobody serves: refused, through SO_ERROR.
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.bind(("127.0.0.1", 0))
closed_port = probe.getsockname()[1]
probe.close()
nb = socket.socket()
nb.setblocking(False)
err = nb.connect_ex(("127.0.0.1", closed_port))
if err == errno.EINPROGRESS:
    select.select([], [nb], [], 20)
    err = nb.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
assert err == errno.ECONNREFUSED, errno.errorcode.get(err, err)
nb.close()

# sendfile(2) to a tou socket: the kernel moves the file into the pair. Called
# through os.sendfile, a thin wrapper of the system call (socket.sendfile would
# silently fall back to send() if sendfile(2) failed); the offset argument
# advances and the file position does not, as sendfile(2) specifies.
listener, client, server = pair()
client.settimeout(None)
blob = os.urandom(1 << 20)
with open("blob", "wb") as f:
    f.write(blob)
sent = 0
with open("blob", "rb") as f:
    while sent < len(blob):
        n = os.sendfile(client.fileno(), f.fileno(), sent, len(blob) - sent)
        assert n > 0, n
        sent += n
    assert f.tell() == 0, f.tell()
client.shutdown(socket.SHUT_WR)
got = bytearray()
while chunk := server.recv(65536):
    got += chunk
assert sent == len(blob) and bytes(got) == blob, (sent, len(got))
for x in (client, server, listener):
    x.close()

# A reset, as Linux's TCP reports it: a plain write() fails with ECONNRESET
# once and raises no SIGPIPE, then writes fail with EPIPE (and SIGPIPE) and
# reads give end-of-file. SIGPIPE is blocked, so that a raised one stays pending.
def reset_by_peer():
    listener, client, server = pair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server.close()
    p = select.poll()
    p.register(client, select.POLLIN)
    assert p.poll(20000), "no reset within 20 s"
    listener.close()
    return client

signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGPIPE])
client = reset_by_peer()
expect_errno(errno.ECONNRESET, os.write, client.fileno(), b"x")
assert signal.SIGPIPE not in signal.sigpending(), "SIGPIPE with ECONNRESET"
expect_errno(errno.EPIPE, os.write, client.fileno(), b"x")
assert signal.SIGPIPE in signal.sigpending(), "no SIGPIPE with EPIPE"
signal.sigwait([signal.SIGPIPE])
assert client.recv(10) == b"", "reported once"
client.close()
client = reset_by_peer()
expect_errno(errno.ECONNRESET, client.send, b"x", socket.MSG_NOSIGNAL)
expect_errno(errno.EPIPE, client.send, b"x", socket.MSG_NOSIGNAL)
assert signal.SIGPIPE not in signal.sigpending(), "SIGPIPE despite MSG_NOSIGNAL"
assert client.recv(10) == b""
client.close()
client = reset_by_peer()
expect_errno(errno.ECONNRESET, client.recv, 10)
assert client.recv(10) == b"", "reported once"
expect_errno(errno.EPIPE, os.writev, client.fileno(), [b"x", b"y"])
signal.sigwait([signal.SIGPIPE])
client.close()
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGPIPE])

# recv(MSG_PEEK | MSG_WAITALL) waits for the whole length, as TCP does (the
# pair alone would return the 500 bytes queued first), and consumes nothing.
# Blocking without a timeout: python makes a socket with a timeout non-blocking.
listener, client, server = pair()
server.setblocking(True)
client.sendall(b"a" * 500)
later = threading.Timer(0.3, lambda: client.sendall(b"b" * 1000))
later.start()
peeked = server.recv(1500, socket.MSG_PEEK | socket.MSG_WAITALL)
later.join()
assert peeked == b"a" * 500 + b"b" * 1000, len(peeked)
assert server.recv(1500, socket.MSG_WAITALL) == peeked
for x in (client, server, listener):
    x.close()

# shutdown(SHUT_RD): end-of-file at once, yet bytes that arrive later are
# queued and read (read() and recv() alike), as Linux's TCP does.
listener, client, server = pair()
server.shutdown(socket.SHUT_RD)
assert os.read(server.fileno(), 10) == b"", "end-of-file at once"
client.sendall(b"late")
for _ in range(1000):  # up to 10 s for the bytes to reach the engine
    if struct.unpack_from("Q", server.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232), 128)[0] >= 4:
        break
    time.sleep(0.01)
assert os.read(server.fileno(), 10) == b"late"
client.sendall(b"more")
for _ in range(1000):
    if struct.unpack_from("Q", server.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232), 128)[0] >= 8:
        break
    time.sleep(0.01)
assert server.recv(10, socket.MSG_PEEK) == b"more" and server.recv(10) == b"more"
assert server.recv(10) == b"" and os.read(server.fileno(), 10) == b""
server.sendall(b"ok")
assert client.recv(10) == b"ok", "the write side is open"
for x in (client, server, listener):
    x.close()

# SO_RCVBUF bounds what is acknowledged and not read (Linux's doubled value
# allows twice the value): a flood that nobody reads stalls there.
RCVBUF = 64 * 1024
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
reader = socket.socket()
reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
reader.connect(listener.getsockname())
writer, _ = listener.accept()
writer.setblocking(False)
def received():
    info = reader.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return struct.unpack_from("Q", info, 128)[0]
last, still, chunk = -1, 0, b"f" * 65536
for _ in range(400):  # at most about 20 s
    try:
        while True:
            writer.send(chunk)
    except BlockingIOError:
        pass
    now = received()
    still = still + 1 if now == last else 0
    last = now
    if still >= 10 and now > 0:
        break
    time.sleep(0.05)
assert RCVBUF // 2 <= last <= 2 * RCVBUF + 16 * 1024, f"{last} bytes acknowledged unread"
for x in (reader, writer, listener):
    x.close()

# IPv6.
listener, client, server = pair(socket.AF_INET6, "::1")
client.sendall(b"six")
assert server.recv(10) == b"six" and server.getpeername()[0] == "::1"
print("ok")
PY
out=$(cd "$WORK" && timeout 60 "$TOU_RUN" -s "$WORK/stats" "$python" "$WORK/semantics.py" 2>&1) ||
  fail "semantics.py: $out"
[[ $out == ok ]] || fail "semantics.py: $out"
(($(stat_sum "$WORK/stats" kernel_sockets) == 0)) || fail "kernel TCP was used"
(($(stat_sum "$WORK/stats" tou_accepts) >= 3)) || fail "too few tou accepts"
