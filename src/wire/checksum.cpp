// RFC 1071 Internet checksum over the tou pseudo-header and a segment.
//
// Speed matters: this runs over every datagram (up to 64 KiB on loopback). The
// sum is taken over 64-bit words in memory order with an end-around carry, four
// independent accumulators deep, and folded to 16 bits at the end. RFC 1071 2(B):
// the one's complement sum is byte-order independent, so summing in host order
// and swapping the folded result once gives the network-order sum.
#include <bit>
#include <cstring>

#include "wire/segment.hpp"

namespace tou {
namespace {

// One's complement 64-bit add: the carry out of bit 63 wraps into bit 0.
inline uint64_t add_oc(uint64_t a, uint64_t b) {
  a += b;
  return a + (a < b);
}

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t sum_words(const uint8_t* p, size_t n, uint64_t sum) {
  uint64_t s1 = 0, s2 = 0, s3 = 0;
  for (; n >= 32; p += 32, n -= 32) {
    sum = add_oc(sum, load64(p));
    s1 = add_oc(s1, load64(p + 8));
    s2 = add_oc(s2, load64(p + 16));
    s3 = add_oc(s3, load64(p + 24));
  }
  for (; n >= 8; p += 8, n -= 8) sum = add_oc(sum, load64(p));
  if (n != 0) {
    // The tail starts at an offset that is a multiple of 8, so copying it to the
    // front of a zeroed word keeps every byte's position within its 16-bit word;
    // an odd last byte is padded with zero as RFC 1071 asks.
    uint8_t tail[8] = {};
    std::memcpy(tail, p, n);
    sum = add_oc(sum, load64(tail));
  }
  return add_oc(add_oc(sum, s1), add_oc(s2, s3));
}

uint16_t fold(uint64_t s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace

uint16_t segment_checksum(std::span<const uint8_t> segment) {
  const std::span<const uint8_t> pieces[1] = {segment};
  return segment_checksum(pieces);
}

uint16_t segment_checksum(std::span<const std::span<const uint8_t>> pieces) {
  size_t len = 0;
  for (std::span<const uint8_t> piece : pieces) len += piece.size();
  // The 4-byte tou pseudo-header {0, 6 (TCP), length high, length low}.
  const uint8_t pseudo[8] = {0, 6, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  uint64_t sum = load64(pseudo);
  size_t at = 0;  // where the piece starts in the segment
  for (std::span<const uint8_t> piece : pieces) {
    if (at % 2 == 0) {
      sum = sum_words(piece.data(), piece.size(), sum);
    } else {
      // RFC 1071 2(B): a piece that starts at an odd offset, summed as if it started
      // at an even one, is the right sum with its bytes swapped (a multiple of 8 bits
      // of rotation of the 64-bit sum).
      const uint64_t odd = sum_words(piece.data(), piece.size(), 0);
      sum = add_oc(sum, std::rotl(odd, 8));
    }
    at += piece.size();
  }
  uint16_t folded = fold(sum);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded << 8) | (folded >> 8));
  }
  return static_cast<uint16_t>(~folded);
}

}  // namespace tou
