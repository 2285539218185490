// Initial sequence numbers, RFC 6528: ISN = M + F(4-tuple, secret), where M
// is a 4-microsecond clock and F a keyed hash (SipHash-2-4 from libsodium).
// The key and the clock come from the caller, so the core stays deterministic.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "base/time.hpp"
#include "wire/seq_num.hpp"

namespace tou {

class IsnGenerator {
 public:
  static constexpr size_t kKeySize = 16;
  explicit IsnGenerator(const std::array<uint8_t, kKeySize>& secret) : secret_(secret) {}

  // `four_tuple` is any stable encoding of local address, local port, remote
  // address and remote port (the engine uses the raw sockaddr bytes).
  SeqNum generate(Instant now, std::span<const uint8_t> four_tuple) const;

  // The keyed hash alone, also used for the timestamp offset (RFC 7323 5.4).
  uint32_t hash(std::span<const uint8_t> data) const;

 private:
  std::array<uint8_t, kKeySize> secret_;
};

}  // namespace tou
