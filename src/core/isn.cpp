#include "core/isn.hpp"

#include <sodium.h>

#include <cstring>

namespace tou {

static_assert(IsnGenerator::kKeySize == crypto_shorthash_KEYBYTES);

uint32_t IsnGenerator::hash(std::span<const uint8_t> data) const {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, data.data(), data.size(), secret_.data());
  uint32_t h;
  std::memcpy(&h, out, sizeof h);
  return h;
}

SeqNum IsnGenerator::generate(Instant now, std::span<const uint8_t> four_tuple) const {
  // RFC 6528 3: M ticks every 4 microseconds.
  uint32_t m = static_cast<uint32_t>(to_us(now) / 4);
  return SeqNum(m + hash(four_tuple));
}

}  // namespace tou
