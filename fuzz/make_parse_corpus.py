#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_parse: small real tou segments (one TCP
segment per UDP datagram, RFC 9293 3.1 layout, checksum over the 4-byte tou
pseudo-header {0, 6, len_hi, len_lo}; see src/wire/segment.hpp), plus a few
malformed ones. Independent of the C++ code on purpose, so the seeds also
cross-check it. Run from the repository root:  python3 fuzz/make_parse_corpus.py
"""
import os
import struct
import sys

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
NOP = b"\x01"


def checksum(seg: bytes) -> int:
    data = bytes([0, 6, (len(seg) >> 8) & 0xFF, len(seg) & 0xFF]) + seg
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(flags, seq=0, ack=0, win=65535, opts=b"", payload=b"", sport=40000,
            dport=5001, urg=0, doff=None, fix_checksum=True, cksum=None):
    if doff is None:
        assert len(opts) % 4 == 0
        doff = 5 + len(opts) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, doff << 4,
                      flags, win, 0, urg)
    seg = bytearray(hdr + opts + payload)
    c = checksum(bytes(seg)) if fix_checksum else (cksum or 0)
    seg[16:18] = struct.pack("!H", c)
    return bytes(seg)


def mss(v): return struct.pack("!BBH", 2, 4, v)
def wscale(v): return struct.pack("!BBB", 3, 3, v)
def sack_ok(): return b"\x04\x02"
def ts(val, ecr): return struct.pack("!BBII", 8, 10, val, ecr)
def sack(*blocks): return struct.pack("!BB", 5, 2 + 8 * len(blocks)) + b"".join(
    struct.pack("!II", l & 0xFFFFFFFF, r & 0xFFFFFFFF) for l, r in blocks)


ISS_C, ISS_S = 0x1000, 0xFFFFFF00  # the server's ISN wraps during the data
SEEDS = {
    # The handshake, Linux layouts.
    "syn_all_options": segment(SYN, ISS_C, 0, 64240,
                               mss(1460) + sack_ok() + ts(1, 0) + NOP + wscale(7)),
    "synack_all_options": segment(SYN | ACK, ISS_S, ISS_C + 1, 65160,
                                  mss(1460) + sack_ok() + ts(100, 1) + NOP + wscale(9)),
    "syn_no_ts": segment(SYN, ISS_C, 0, 64240, mss(1460) + NOP * 2 + sack_ok() + NOP + wscale(7)),
    "syn_mss_only": segment(SYN, ISS_C, 0, 8192, mss(536)),
    "ack_handshake": segment(ACK, ISS_C + 1, ISS_S + 1, 502, NOP * 2 + ts(2, 100)),
    # Data and ACKs.
    "data_psh": segment(PSH | ACK, ISS_C + 1, ISS_S + 1, 502, NOP * 2 + ts(3, 100),
                        b"GET / HTTP/1.0\r\n\r\n"),
    "data_1448": segment(ACK, ISS_S + 1, ISS_C + 19, 509, NOP * 2 + ts(101, 3),
                         bytes(range(256)) * 5 + bytes(168)),
    "data_odd_length": segment(ACK, ISS_S + 1, ISS_C + 19, 509, b"", b"xyz"),
    "ack_sack_1": segment(ACK, ISS_C + 19, ISS_S + 1, 502,
                          NOP * 2 + ts(4, 101) + NOP * 2 + sack((ISS_S + 1449, ISS_S + 2897))),
    "ack_sack_3_ts": segment(ACK, ISS_C + 19, ISS_S + 1, 502,
                             NOP * 2 + ts(5, 102) + NOP * 2 + sack(
                                 (0x10, 0x5B0), (0xB60, 0x1110), (0x16C0, 0x1C70))),
    "ack_sack_4": segment(ACK, ISS_C + 19, ISS_S + 1, 502, NOP * 2 + sack(
        (100, 200), (300, 400), (500, 600), (700, 800))),
    "dup_ack_zero_window": segment(ACK, ISS_C + 19, ISS_S + 1, 0),
    "urg_ece_cwr": segment(URG | ACK | ECE | CWR | PSH, 7, 9, 100, b"", b"!", urg=1),
    "unknown_option_eol": segment(ACK, 1, 1, 100, bytes([30, 4, 0xAA, 0xBB, 0, 0, 0, 0])),
    # Teardown.
    "fin_ack": segment(FIN | ACK, ISS_C + 19, ISS_S + 1449, 502, NOP * 2 + ts(6, 103)),
    "fin_data": segment(FIN | PSH | ACK, ISS_S + 1449, ISS_C + 20, 509, b"", b"bye\n"),
    "rst": segment(RST, ISS_C + 20, 0, 0),
    "rst_ack": segment(RST | ACK, 0, ISS_C + 1, 0),
    # Malformed: each should be rejected with the error in its name.
    "bad_checksum": segment(ACK, 1, 1, 100, fix_checksum=False, cksum=0x1234),
    "bad_data_offset": segment(ACK, 1, 1, 100, doff=4),
    "bad_option_mss_len": segment(SYN, 1, 0, 100, bytes([2, 5, 5, 0xB4, 0, 0, 0, 0])),
    "bad_option_sack_len": segment(ACK, 1, 1, 100, bytes([5, 6, 0, 0, 0, 1, 0, 0])),
    "bad_flags_syn_fin": segment(SYN | FIN, 1, 0, 100),
    "too_short": segment(ACK, 1, 1, 100)[:19],
}


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "parse")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
