// The tou wire format: one TCP segment (RFC 9293 3.1 header layout, with
// options) per UDP datagram. Two levels, as in smoltcp: parse_segment() checks
// a datagram and yields a Segment (header value + payload view); emit_segment()
// writes a header and payload into a buffer of exactly wire_size() bytes.
//
// Checksum: the Internet checksum (RFC 1071) over a 4-byte tou pseudo-header
// {0x00, 6 (TCP), segment length (16 bits, network order)} followed by the
// segment (header with checksum field zero, options, payload). IP addresses are
// left out: UDP's own checksum already covers them, and NATs rewrite them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "wire/seq_num.hpp"

namespace tou {

// RFC 9293 3.1 control bits.
namespace flags {
constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;
constexpr uint8_t kUrg = 0x20;
constexpr uint8_t kEce = 0x40;
constexpr uint8_t kCwr = 0x80;
}  // namespace flags

constexpr size_t kTcpHeaderSize = 20;  // without options
constexpr size_t kMaxOptionsSize = 40;
constexpr size_t kMaxSackBlocks = 4;  // RFC 2018 3: at most 4 fit in 40 bytes

struct SackBlock {
  SeqNum left;   // first sequence number of the block
  SeqNum right;  // sequence number just past the block
  friend constexpr bool operator==(const SackBlock&, const SackBlock&) = default;
};

// RFC 7323 3: TSval and TSecr.
struct Timestamps {
  uint32_t value = 0;
  uint32_t echo_reply = 0;
  friend constexpr bool operator==(const Timestamps&, const Timestamps&) = default;
};

struct TcpOptions {
  std::optional<uint16_t> mss;           // kind 2, SYN only
  std::optional<uint8_t> window_scale;   // kind 3, SYN only (shift count)
  bool sack_permitted = false;           // kind 4, SYN only
  std::optional<Timestamps> timestamps;  // kind 8
  uint8_t sack_count = 0;                // kind 5: number of valid sack_blocks
  std::array<SackBlock, kMaxSackBlocks> sack_blocks{};

  std::span<const SackBlock> sacks() const { return {sack_blocks.data(), sack_count}; }
  // Bytes the options take on the wire, padded with NOPs to a multiple of 4,
  // never above kMaxOptionsSize. Layout (as Linux does, every field aligned):
  //   mss | sackOK,TS (or nop,nop,TS, or nop,nop,sackOK) | nop,wscale | nop,nop,sack...
  // Only the first sack_capacity() SACK blocks are emitted: with timestamps at
  // most 3 fit, with timestamps and SYN options fewer (RFC 2018 3).
  size_t wire_size() const;
  // How many SACK blocks fit in the option space next to the other options set.
  // The sender should not put more in sack_blocks; emit drops the excess.
  size_t sack_capacity() const;
  // Compares the SACK blocks in use only (sack_blocks past sack_count are ignored).
  friend bool operator==(const TcpOptions& a, const TcpOptions& b) {
    return a.mss == b.mss && a.window_scale == b.window_scale &&
           a.sack_permitted == b.sack_permitted && a.timestamps == b.timestamps &&
           std::ranges::equal(a.sacks(), b.sacks());
  }
};

struct SegmentHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  SeqNum seq;
  SeqNum ack;
  uint8_t flags = 0;
  uint16_t window = 0;  // raw field, before window scaling
  uint16_t urgent = 0;
  TcpOptions options;

  bool has(uint8_t f) const { return (flags & f) != 0; }
  size_t wire_size() const { return kTcpHeaderSize + options.wire_size(); }
  friend bool operator==(const SegmentHeader&, const SegmentHeader&) = default;
};

// A parsed segment: a header value and a view of the payload inside the
// datagram it came from (valid as long as that datagram buffer is).
struct Segment {
  SegmentHeader header;
  std::span<const uint8_t> payload;

  // Sequence space the segment occupies: payload plus one each for SYN and FIN
  // (RFC 9293 3.4, SEG.LEN).
  uint32_t seq_len() const {
    return static_cast<uint32_t>(payload.size()) + (header.has(flags::kSyn) ? 1 : 0) +
           (header.has(flags::kFin) ? 1 : 0);
  }
};

// Why a datagram was rejected. Each has a counter in the core's stats.
enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,       // shorter than the 20-byte header
  kBadDataOffset,  // data offset < 5 or past the end of the datagram
  kBadOption,      // option length < 2, runs past the header, or a fixed-size option of wrong size
  kBadChecksum,
  kBadFlags,  // impossible combination: SYN+RST, SYN+FIN, or no ACK/SYN/RST at all
  kCount,
};
const char* to_string(ParseError e);

struct ParseResult {
  ParseError error = ParseError::kNone;
  Segment segment;  // valid only when error == kNone
  bool ok() const { return error == ParseError::kNone; }
};

// Checks and decodes one datagram. Never reads outside `datagram`, never throws.
// Unknown options are skipped; a SACK option with a length that is not 2+8n is kBadOption.
ParseResult parse_segment(std::span<const uint8_t> datagram);

// Writes header + payload and fills in the checksum. `out` must hold at least
// header.wire_size() + payload.size() bytes (asserted); returns that sum. Cannot
// fail otherwise. `payload` may already be in place at out[header.wire_size()...]
// (a sender that builds the payload first): it is then not copied. Example:
//   std::vector<uint8_t> buf(h.wire_size() + data.size());
//   size_t n = emit_segment(h, data, buf);  // n == buf.size()
size_t emit_segment(const SegmentHeader& header, std::span<const uint8_t> payload,
                    std::span<uint8_t> out);

// RFC 1071 checksum with the tou pseudo-header described above, computed over
// a whole segment whose checksum field is zero (or, for verification, as sent:
// then the result is 0).
uint16_t segment_checksum(std::span<const uint8_t> segment);
// The same checksum over a segment that lies in pieces (a header here, its payload
// there), in order; pieces may have any length, odd ones included.
uint16_t segment_checksum(std::span<const std::span<const uint8_t>> pieces);

// Writes only the header of a segment whose payload lies elsewhere (`payload`, one
// or more pieces in order), with the checksum over header and payload where they
// lie; the datagram is out[0, returned size) followed by the pieces. `out` must
// hold header.wire_size() bytes (asserted). Byte for byte what emit_segment()
// writes for the same payload. Example (a payload that wraps around a ring):
//   std::span<const uint8_t> payload[2] = {tail_of_ring, head_of_ring};
//   size_t n = emit_segment_header(h, payload, buf);  // then send buf[0, n), payload
size_t emit_segment_header(const SegmentHeader& header,
                           std::span<const std::span<const uint8_t>> payload,
                           std::span<uint8_t> out);

// packetdrill-like one-line rendering, for tests and traces:
//   "S. 1000:1000(0) ack 1 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>"
//   ". 1:1(0) ack 1461 win 257 <sack 2921:4381 5841:7301>"
// Flags letters: S F R P U, then '.' for ACK, then E (ECE) W (CWR). Payload as
// start:end(len) in raw sequence numbers; "ack N" only with ACK, "urg N" only with
// URG; options in emit order, padding NOPs not shown, the list only when non-empty.
std::string to_string(const SegmentHeader& header, size_t payload_len);

}  // namespace tou
