#include "tou_ports.hpp"

namespace tou::netem {
namespace {

constexpr size_t kHeaderSize = 20;
constexpr size_t kChecksumOffset = 16;

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// RFC 1624 (3): HC' = ~(~HC + ~m + m'), in one's complement arithmetic.
uint16_t adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum =
      static_cast<uint16_t>(~checksum) + static_cast<uint32_t>(uint16_t(~old_word)) + new_word;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

void rewrite_tou_ports(std::span<uint8_t> datagram, uint16_t src_port, uint16_t dst_port) {
  if (datagram.size() < kHeaderSize) return;
  uint8_t* p = datagram.data();
  uint16_t checksum = load16(p + kChecksumOffset);
  checksum = adjust(checksum, load16(p), src_port);
  checksum = adjust(checksum, load16(p + 2), dst_port);
  store16(p, src_port);
  store16(p + 2, dst_port);
  store16(p + kChecksumOffset, checksum);
}

}  // namespace tou::netem
