// 32-bit TCP sequence numbers with modular (serial number) arithmetic.
// RFC 9293 3.4: comparisons are modulo 2^32; never compare raw values.
#pragma once

#include <cstdint>

namespace tou {

class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(uint32_t value) : value_(value) {}

  constexpr uint32_t raw() const { return value_; }

  constexpr SeqNum operator+(uint32_t n) const { return SeqNum(value_ + n); }
  constexpr SeqNum operator-(uint32_t n) const { return SeqNum(value_ - n); }
  constexpr SeqNum& operator+=(uint32_t n) {
    value_ += n;
    return *this;
  }
  // Signed distance a - b, meaningful while |a - b| < 2^31.
  friend constexpr int32_t operator-(SeqNum a, SeqNum b) {
    return static_cast<int32_t>(a.value_ - b.value_);
  }

  friend constexpr bool operator==(SeqNum a, SeqNum b) = default;
  friend constexpr bool operator<(SeqNum a, SeqNum b) { return (a - b) < 0; }
  friend constexpr bool operator<=(SeqNum a, SeqNum b) { return (a - b) <= 0; }
  friend constexpr bool operator>(SeqNum a, SeqNum b) { return (a - b) > 0; }
  friend constexpr bool operator>=(SeqNum a, SeqNum b) { return (a - b) >= 0; }

 private:
  uint32_t value_ = 0;
};

constexpr SeqNum seq_max(SeqNum a, SeqNum b) {
  return a < b ? b : a;
}
constexpr SeqNum seq_min(SeqNum a, SeqNum b) {
  return a < b ? a : b;
}

// True when start <= s < start + len (modular).
constexpr bool seq_in_window(SeqNum s, SeqNum start, uint32_t len) {
  return static_cast<uint32_t>(s.raw() - start.raw()) < len;
}

}  // namespace tou
