#!/usr/bin/env python3
"""Writes a pcap of hand-built tou segments with known fields, for dissector_test.sh.

  dissector_pcap.py OUT.pcap

Each packet is IPv4 + UDP (127.0.0.1:40000 <-> 127.0.0.1:7000, one on port 7001)
carrying one tou segment built here from its fields, independently of the
dissector: TCP's header layout, options laid out as Linux does, and tou's
checksum (RFC 1071 over the pseudo-header {0, 6, length} and the segment).
"""
import struct
import sys

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
NOP, EOL = b"\x01", b"\x00"


def mss(v): return struct.pack("!BBH", 2, 4, v)
def wscale(v): return struct.pack("!BBB", 3, 3, v)
def sack_perm(): return b"\x04\x02"
def ts(val, ecr): return struct.pack("!BBII", 8, 10, val, ecr)
def sack(*blocks): return struct.pack("!BB", 5, 2 + 8 * len(blocks)) + b"".join(struct.pack("!II", l, r) for l, r in blocks)


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def tou_checksum(segment):
    return 0xFFFF - ones_complement_sum(struct.pack("!BBH", 0, 6, len(segment)) + segment)


def segment(sport, dport, seq, ack, flags, win, options=b"", payload=b"", urgent=0, reserved=0,
            bad_checksum=False):
    assert len(options) % 4 == 0
    doff = (20 + len(options)) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff << 4) | reserved, flags, win, 0,
                       urgent)
    seg = bytearray(head + options + payload)
    ck = tou_checksum(bytes(seg))
    if bad_checksum:
        ck ^= 0x0101
    seg[16:18] = struct.pack("!H", ck)
    return bytes(seg)


def ipv4_udp(sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # UDP checksum 0: none
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", 0xFFFF - ones_complement_sum(ip)) + ip[12:]
    return ip + udp


C, S = 40000, 7000
PACKETS = [
    # 1. SYN with Linux's option layout: mss, sackOK, TS, nop, wscale.
    (C, S, segment(C, S, 1000, 0, SYN, 65535, mss(1460) + sack_perm() + ts(1, 0) + NOP + wscale(7))),
    # 2. SYN-ACK: mss, nop, nop, TS, nop, wscale.
    (S, C, segment(S, C, 5000, 1001, SYN | ACK, 65160,
                   mss(1400) + NOP + NOP + ts(7, 1) + NOP + wscale(8))),
    # 3. ACK + PSH with 100 bytes of data and timestamps.
    (C, S, segment(C, S, 1001, 5001, PSH | ACK, 502, NOP + NOP + ts(2, 7), b"a" * 100)),
    # 4. ACK with two SACK blocks and timestamps.
    (S, C, segment(S, C, 5001, 1101, ACK, 509,
                   NOP + NOP + ts(8, 2) + NOP + NOP + sack((3000, 4448), (5896, 7344)))),
    # 5. FIN + ACK, no options.
    (C, S, segment(C, S, 1101, 5001, FIN | ACK, 502)),
    # 6. RST + ACK.
    (S, C, segment(S, C, 5001, 1102, RST | ACK, 0)),
    # 7. A corrupted checksum.
    (C, S, segment(C, S, 1101, 5001, ACK, 502, b"", b"xyz", bad_checksum=True)),
    # 8. An unknown option (kind 30, 4 bytes) then EOL padding; URG, ECE, CWR; odd payload.
    (C, S, segment(C, S, 4294967295, 2, URG | ACK | ECE | CWR, 1, b"\x1e\x04\xab\xcd" + EOL * 4,
                   b"12345", urgent=3)),
    # 9. On port 7001, for Decode As (-d udp.port==7001,tou).
    (C, 7001, segment(C, 7001, 42, 43, ACK, 44, b"", b"hello")),
]


def main():
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for i, (sport, dport, seg) in enumerate(PACKETS):
            pkt = ipv4_udp(sport, dport, seg)
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(pkt), len(pkt)) + pkt)


if __name__ == "__main__":
    main()
