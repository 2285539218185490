#!/usr/bin/env bash
# Many threads at once in one process under tou-run: 20 client threads each
# open, use and close 25 connections to a threaded echo server in the same
# process (descriptor numbers are reused all the time while the shim's table
# and tou's engine are shared by every thread). Every echo must be exact.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs python3
python=$(command -v /usr/bin/python3 || command -v python3)
clients=20
rounds=$(scaled 25)

cat >"$WORK/stress.py" <<'PY'
import socket, sys, threading

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
port = listener.getsockname()[1]

def serve():
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=echo, args=(conn,), daemon=True).start()

def echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)

errors = []
def client(k):
    try:
        for i in range(int(sys.argv[2])):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                msg = f"{k}:{i}:".encode() * 100
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := s.recv(65536):
                    got += chunk
                assert got == msg, (k, i, len(got))
    except Exception as e:
        errors.append(repr(e))

threading.Thread(target=serve, daemon=True).start()
threads = [threading.Thread(target=client, args=(k,)) for k in range(int(sys.argv[1]))]
for t in threads: t.start()
for t in threads: t.join(60)
print("errors", len(errors), errors[:3])
sys.exit(1 if errors else 0)
PY
out=$(timeout 120 "$TOU_RUN" -s "$WORK/stats" "$python" "$WORK/stress.py" "$clients" "$rounds") ||
  fail "stress.py: $out"
note "$out"
connections=$((clients * rounds))
(($(stat_sum "$WORK/stats" tou_connects) == connections)) || fail "not every connect was tou's"
(($(stat_sum "$WORK/stats" tou_accepts) == connections)) || fail "not every accept was tou's"
