// A token bucket for replies an attacker can trigger (RSTs to segments for no
// connection, ACKs from TIME-WAIT): `rate` tokens a second, at most `burst`
// saved up. Sans-I/O: time comes in as an argument.
//
//   TokenBucket rst(1000, 100);
//   if (rst.take(now)) send_reset(); else ++suppressed;
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "base/time.hpp"

namespace tou {

class TokenBucket {
 public:
  TokenBucket(uint32_t rate_per_s, uint32_t burst) : rate_(rate_per_s), burst_(burst) {}

  // Takes one token; false (nothing taken) when the bucket is empty.
  bool take(Instant now) {
    constexpr uint64_t kUnit = 1'000'000;  // a token, in token-microseconds
    const uint64_t cap = uint64_t{burst_} * kUnit;
    if (!last_) {
      level_ = cap;
    } else if (now > *last_) {
      uint64_t elapsed = static_cast<uint64_t>(to_us(now - *last_));
      // (A wait of `cap` microseconds refills any rate >= 1: no overflow below.)
      level_ = rate_ > 0 && elapsed >= cap ? cap : std::min(cap, level_ + elapsed * rate_);
    }
    last_ = now;
    if (level_ < kUnit) return false;
    level_ -= kUnit;
    return true;
  }

 private:
  uint32_t rate_;
  uint32_t burst_;
  uint64_t level_ = 0;
  std::optional<Instant> last_;
};

}  // namespace tou
