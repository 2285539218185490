// Segment parse and emit: the RFC 9293 3.1 header, big-endian.
//
//   0      2      4          8          12     13     14      16      18      20
//   | src  | dst  | seq      | ack      | doff | flags| window| cksum | urgent| options...
#include "wire/segment.hpp"

#include <array>
#include <cassert>
#include <cstring>

#include "wire/byte_order.hpp"
#include "wire/options.hpp"

namespace tou {
namespace {

constexpr size_t kChecksumOffset = 16;

// RFC 9293 3.10.7: combinations no correct sender produces. A segment must carry
// ACK, SYN or RST (everything after the handshake carries ACK; RFC 9293 3.10.7.4).
bool flags_valid(uint8_t f) {
  const bool syn = (f & flags::kSyn) != 0;
  if (syn && (f & (flags::kRst | flags::kFin)) != 0) return false;
  return (f & (flags::kAck | flags::kSyn | flags::kRst)) != 0;
}

}  // namespace

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kTooShort:
      return "too-short";
    case ParseError::kBadDataOffset:
      return "bad-data-offset";
    case ParseError::kBadOption:
      return "bad-option";
    case ParseError::kBadChecksum:
      return "bad-checksum";
    case ParseError::kBadFlags:
      return "bad-flags";
    case ParseError::kCount:
      break;
  }
  return "unknown";
}

// Checks run from the most general to the most specific: a datagram that fails
// its checksum is counted as corruption even if its fields also look malformed.
ParseResult parse_segment(std::span<const uint8_t> datagram) {
  ParseResult r;
  if (datagram.size() < kTcpHeaderSize) {
    r.error = ParseError::kTooShort;
    return r;
  }
  if (segment_checksum(datagram) != 0) {
    r.error = ParseError::kBadChecksum;
    return r;
  }
  const uint8_t* p = datagram.data();
  const size_t header_len = static_cast<size_t>(p[12] >> 4) * 4;  // data offset, 32-bit words
  if (header_len < kTcpHeaderSize || header_len > datagram.size()) {
    r.error = ParseError::kBadDataOffset;
    return r;
  }
  SegmentHeader& h = r.segment.header;
  h.flags = p[13];  // the 4 reserved bits in p[12] are ignored (RFC 9293 3.1)
  if (!flags_valid(h.flags)) {
    r.error = ParseError::kBadFlags;
    return r;
  }
  r.error =
      wire::parse_options(datagram.subspan(kTcpHeaderSize, header_len - kTcpHeaderSize), h.options);
  if (r.error != ParseError::kNone) return r;
  h.src_port = wire::load_be16(p);
  h.dst_port = wire::load_be16(p + 2);
  h.seq = SeqNum(wire::load_be32(p + 4));
  h.ack = SeqNum(wire::load_be32(p + 8));
  h.window = wire::load_be16(p + 14);
  h.urgent = wire::load_be16(p + 18);
  r.segment.payload = datagram.subspan(header_len);
  return r;
}

namespace {

// Writes the header with a zero checksum field; returns its size.
size_t write_header(const SegmentHeader& h, std::span<uint8_t> out) {
  const size_t header_len = h.wire_size();
  assert(out.size() >= header_len);
  uint8_t* p = out.data();
  wire::store_be16(p, h.src_port);
  wire::store_be16(p + 2, h.dst_port);
  wire::store_be32(p + 4, h.seq.raw());
  wire::store_be32(p + 8, h.ack.raw());
  p[12] = static_cast<uint8_t>((header_len / 4) << 4);
  p[13] = h.flags;
  wire::store_be16(p + 14, h.window);
  wire::store_be16(p + kChecksumOffset, 0);
  wire::store_be16(p + 18, h.urgent);
  [[maybe_unused]] const uint8_t* end = wire::emit_options(h.options, p + kTcpHeaderSize);
  assert(end == p + header_len);
  return header_len;
}

}  // namespace

size_t emit_segment(const SegmentHeader& h, std::span<const uint8_t> payload,
                    std::span<uint8_t> out) {
  const size_t total = h.wire_size() + payload.size();
  assert(out.size() >= total);
  assert(total <= 0xffff);  // one UDP datagram; the pseudo-header length is 16 bits
  const size_t header_len = write_header(h, out);
  uint8_t* p = out.data();
  // The payload may already be in place (the connection copies it there first).
  if (!payload.empty() && payload.data() != p + header_len) {
    std::memcpy(p + header_len, payload.data(), payload.size());
  }
  const std::span<const uint8_t> segment(p, total);
  wire::store_be16(p + kChecksumOffset, segment_checksum(segment));
  return total;
}

size_t emit_segment_header(const SegmentHeader& h,
                           std::span<const std::span<const uint8_t>> payload,
                           std::span<uint8_t> out) {
  // The header and at most a few payload pieces (a ring's wrap makes two).
  constexpr size_t kMaxPieces = 4;
  assert(payload.size() < kMaxPieces);
  const size_t header_len = write_header(h, out);
  std::array<std::span<const uint8_t>, kMaxPieces> pieces;
  pieces[0] = out.first(header_len);
  size_t count = 1;
  for (std::span<const uint8_t> piece : payload) pieces[count++] = piece;
  wire::store_be16(
      out.data() + kChecksumOffset,
      segment_checksum(std::span<const std::span<const uint8_t>>(pieces.data(), count)));
  return header_len;
}

}  // namespace tou
