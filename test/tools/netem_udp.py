#!/usr/bin/env python3
"""UDP traffic for netem_test.sh: a paced sender, a counting sink and an echo pair.

Every datagram starts with a 20-byte header: sequence number (u64), the
sender's CLOCK_MONOTONIC in nanoseconds (u64; the clock every process on the
host shares, so the sink measures one-way delay directly) and a CRC-32 of the
rest of the datagram (u32), so the sink counts corrupted datagrams exactly
(CRC-32 catches every error of up to 3 bits).

  netem_udp.py sink PORT OUT.json [--idle S] [--limit S] [--port-file F]
  netem_udp.py send HOST PORT COUNT [--size B] [--pps N]
  netem_udp.py echo PORT PEERS.txt [--limit S] [--port-file F]

PORT 0 binds a port the kernel picks; --port-file F writes the bound port to F
(no race with other programs for a port chosen in advance).
  netem_udp.py ping HOST PORT COUNT OUT.json [--pps N] [--idle S]
"""
import argparse
import json
import os
import socket
import struct
import time
import zlib

HEADER = struct.Struct("!QQI")
SO_RCVBUFFORCE = 33  # Linux; root may exceed net.core.rmem_max


def make_datagram(seq, size):
    head = struct.pack("!QQ", seq, now_ns())
    pad = b"x" * max(0, size - HEADER.size)
    return head + struct.pack("!I", zlib.crc32(head + pad)) + pad


def intact(data):
    return len(data) >= HEADER.size and zlib.crc32(data[:16] + data[20:]) == HEADER.unpack_from(data)[2]


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def bound_socket(port, port_file=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", port))
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write(f"{s.getsockname()[1]}\n")
        os.rename(port_file + ".tmp", port_file)
    return s


def receive_until_idle(s, idle, limit, on_datagram):
    """Calls on_datagram(bytes, arrival_ns) until `idle` s pass without one (after the
    first) or `limit` s in all."""
    start = time.monotonic()
    got_any = False
    while time.monotonic() - start < limit:
        s.settimeout(idle if got_any else min(1.0, limit))
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            if got_any:
                return
            continue
        got_any = True
        on_datagram(data, addr, now_ns())


def summarize(delays_ms, seqs, sizes, arrivals, corrupted=0):
    delays_ms.sort()
    return {
        "packets": len(seqs),
        "distinct": len(set(seqs)),
        "bytes": sum(sizes),
        "first_ns": arrivals[0] if arrivals else 0,
        "last_ns": arrivals[-1] if arrivals else 0,
        "min_delay_ms": delays_ms[0] if delays_ms else 0,
        "median_delay_ms": delays_ms[len(delays_ms) // 2] if delays_ms else 0,
        "p95_delay_ms": delays_ms[len(delays_ms) * 95 // 100] if delays_ms else 0,
        "max_delay_ms": delays_ms[-1] if delays_ms else 0,
        "out_of_order": sum(1 for a, b in zip(seqs, seqs[1:]) if b < a),
        "corrupted": corrupted,
    }


def sink(args):
    s = bound_socket(args.port, args.port_file)
    delays, seqs, sizes, arrivals = [], [], [], []
    corrupted = [0]

    def on(data, addr, t):
        if not intact(data):  # its sequence number and time may be wrong: not counted
            corrupted[0] += 1
            sizes.append(len(data))
            return
        seq, sent, _ = HEADER.unpack_from(data)
        seqs.append(seq)
        sizes.append(len(data))
        arrivals.append(t)
        delays.append((t - sent) / 1e6)

    receive_until_idle(s, args.idle, args.limit, on)
    with open(args.out, "w") as f:
        json.dump(summarize(delays, seqs, sizes, arrivals, corrupted[0]), f)


def send(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    start = time.monotonic()
    for seq in range(args.count):
        if args.pps > 0:  # pace: datagram i leaves at start + i / pps
            wait = start + seq / args.pps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        s.sendto(make_datagram(seq, args.size), (args.host, args.port))


def echo(args):
    s = bound_socket(args.port, args.port_file)
    peers = set()

    def on(data, addr, t):
        if addr not in peers:  # one line per distinct client address seen
            peers.add(addr)
            with open(args.peers, "a") as f:
                f.write(f"{addr[0]}:{addr[1]}\n")
        s.sendto(data, addr)

    receive_until_idle(s, args.limit, args.limit, on)


def ping(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    delays, seqs, sizes, arrivals = [], [], [], []

    def drain():
        while True:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                return
            t = now_ns()
            seq, sent, _ = HEADER.unpack_from(data)
            seqs.append(seq)
            sizes.append(len(data))
            arrivals.append(t)
            delays.append((t - sent) / 1e6)

    start = time.monotonic()
    for seq in range(args.count):
        wait = start + seq / args.pps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        s.sendto(make_datagram(seq, 64), (args.host, args.port))
        drain()
    end = time.monotonic() + args.idle
    while time.monotonic() < end:
        time.sleep(0.01)
        drain()
    with open(args.out, "w") as f:
        json.dump(summarize(delays, seqs, sizes, arrivals), f)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("sink")
    a.add_argument("port", type=int)
    a.add_argument("out")
    a.add_argument("--idle", type=float, default=1.0)
    a.add_argument("--limit", type=float, default=60.0)
    a.add_argument("--port-file")
    a = sub.add_parser("send")
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("count", type=int)
    a.add_argument("--size", type=int, default=100)
    a.add_argument("--pps", type=float, default=0)
    a = sub.add_parser("echo")
    a.add_argument("port", type=int)
    a.add_argument("peers")
    a.add_argument("--limit", type=float, default=30.0)
    a.add_argument("--port-file")
    a = sub.add_parser("ping")
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("count", type=int)
    a.add_argument("out")
    a.add_argument("--pps", type=float, default=200)
    a.add_argument("--idle", type=float, default=1.0)
    args = p.parse_args()
    {"sink": sink, "send": send, "echo": echo, "ping": ping}[args.cmd](args)


if __name__ == "__main__":
    main()
