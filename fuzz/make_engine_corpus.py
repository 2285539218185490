#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_demux and fuzz_options (see each target's
header for its record format). fuzz_demux's seeds are handshakes, data,
resets and garbage built from fuzz/corpus/parse (real segments), sent from one
or several peers with the destination port and checksum fixed up; fuzz_options'
are the options a TCP program sets and reads. Run from the repository root:
  python3 fuzz/make_engine_corpus.py
"""
import os
import struct

PARSE = "fuzz/corpus/parse"
FIX_PORT, FIX_SUM = 4, 8


def record(peer, seg, fix=FIX_PORT | FIX_SUM):
    return bytes([peer | fix]) + struct.pack("!H", len(seg)) + seg


def parse_seed(name):
    with open(os.path.join(PARSE, name), "rb") as f:
        return f.read()


def demux_seeds():
    syn, synack = parse_seed("syn_all_options"), parse_seed("synack_all_options")
    ack, data = parse_seed("ack_handshake"), parse_seed("data_psh")
    fin, rst = parse_seed("fin_ack"), parse_seed("rst")
    seeds = {
        "syn": record(0, syn),
        "syn_then_ack_data_fin": record(0, syn) + record(0, ack) + record(0, data) + record(0, fin),
        "syns_from_four_peers": b"".join(record(p, syn) for p in range(4)),
        "syn_flood_one_peer": record(1, syn) * 12,
        "ack_for_no_connection": record(2, ack),
        "rst_for_no_connection": record(3, rst),
        "synack_to_listener": record(0, synack),
        "garbage": record(0, b"\x00" * 7, 0) + record(1, bytes(range(40)), 0),
        "bad_checksum_syn": record(0, syn, FIX_PORT),
        "wrong_port_ack": record(0, ack, FIX_SUM),
        "empty": record(0, b"", 0),
    }
    for name in sorted(os.listdir(PARSE)):  # every parse seed, as one datagram
        seeds["parse_" + name] = record(0, parse_seed(name))
    return seeds


SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_TOU = 0, 1, 2, 3, 5  # level selectors
SO = dict(SO_REUSEADDR=2, SO_TYPE=3, SO_ERROR=4, SO_SNDBUF=7, SO_RCVBUF=8, SO_KEEPALIVE=9,
          SO_LINGER=13, SO_RCVLOWAT=18, SO_RCVTIMEO=20, SO_SNDTIMEO=21, SO_DOMAIN=39,
          SO_BINDTODEVICE=25, SO_PRIORITY=12, SO_REUSEPORT=15, SO_ACCEPTCONN=30)
TCP = dict(TCP_NODELAY=1, TCP_MAXSEG=2, TCP_CORK=3, TCP_KEEPIDLE=4, TCP_KEEPINTVL=5,
           TCP_KEEPCNT=6, TCP_SYNCNT=7, TCP_DEFER_ACCEPT=9, TCP_INFO=11, TCP_QUICKACK=12,
           TCP_CONGESTION=13, TCP_USER_TIMEOUT=18, TCP_FASTOPEN=23)


def opt(op, sock, level, name, value=b"", length=None):
    length = len(value) if length is None else length
    return bytes([op, sock, level, name, length]) + value


def i32(v):
    return struct.pack("=i", v)


def options_seeds():
    SET, GET = 1, 0
    seeds = {}
    for sock in range(4):
        seeds[f"tcp_info_{sock}"] = opt(GET, sock, IPPROTO_TCP, TCP["TCP_INFO"], bytes(232))
        seeds[f"int_options_{sock}"] = b"".join(
            opt(SET, sock, lvl, name, i32(v)) + opt(GET, sock, lvl, name, bytes(4))
            for lvl, name, v in [(SOL_SOCKET, SO["SO_KEEPALIVE"], 1),
                                 (SOL_SOCKET, SO["SO_SNDBUF"], 65536),
                                 (SOL_SOCKET, SO["SO_RCVBUF"], 1 << 20),
                                 (SOL_SOCKET, SO["SO_RCVLOWAT"], 10),
                                 (SOL_SOCKET, SO["SO_PRIORITY"], 6),
                                 (IPPROTO_TCP, TCP["TCP_NODELAY"], 1),
                                 (IPPROTO_TCP, TCP["TCP_MAXSEG"], 1200),
                                 (IPPROTO_TCP, TCP["TCP_KEEPIDLE"], 30),
                                 (IPPROTO_TCP, TCP["TCP_USER_TIMEOUT"], 10000),
                                 (IPPROTO_TCP, TCP["TCP_QUICKACK"], 1),
                                 (IPPROTO_TCP, TCP["TCP_CORK"], 1),
                                 (IPPROTO_IP, 1, 0x10),  # IP_TOS
                                 (IPPROTO_IPV6, 67, 0x10)])  # IPV6_TCLASS
    seeds["congestion"] = (opt(SET, 3, IPPROTO_TCP, TCP["TCP_CONGESTION"], b"newreno") +
                           opt(GET, 3, IPPROTO_TCP, TCP["TCP_CONGESTION"], bytes(16)) +
                           opt(SET, 3, IPPROTO_TCP, TCP["TCP_CONGESTION"], b"nosuchcc"))
    seeds["linger_timeo"] = (opt(SET, 0, SOL_SOCKET, SO["SO_LINGER"], i32(1) + i32(7)) +
                             opt(GET, 0, SOL_SOCKET, SO["SO_LINGER"], bytes(8)) +
                             opt(SET, 0, SOL_SOCKET, SO["SO_RCVTIMEO"], struct.pack("=qq", 1, 500000)) +
                             opt(GET, 0, SOL_SOCKET, SO["SO_RCVTIMEO"], bytes(16)))
    seeds["short_and_null"] = (opt(SET, 0, SOL_SOCKET, SO["SO_KEEPALIVE"], b"\x01", 1) +
                               opt(SET | 2, 0, IPPROTO_TCP, TCP["TCP_NODELAY"], b"", 4) +
                               opt(GET | 2, 1, SOL_SOCKET, SO["SO_ERROR"], b"", 4) +
                               opt(GET, 2, SOL_SOCKET, SO["SO_ACCEPTCONN"], b"", 0))
    seeds["listener_info"] = opt(GET, 2, SOL_TOU, 1, bytes(64))
    seeds["bind_to_device"] = (opt(SET, 0, SOL_SOCKET, SO["SO_BINDTODEVICE"], b"lo\x00") +
                               opt(GET, 0, SOL_SOCKET, SO["SO_BINDTODEVICE"], bytes(16)))
    return seeds


def write(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


write("fuzz/corpus/demux", demux_seeds())
write("fuzz/corpus/options", options_seeds())
