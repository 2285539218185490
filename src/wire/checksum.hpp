// One's complement sums (RFC 1071), the parts segment_checksum() (wire/segment.hpp)
// is made of; tests hold the vectorized sum to the portable one.
//
// A sum is a 64-bit one's complement value over bytes read as 64-bit words in
// memory order, with the first byte at an even position; only its value modulo
// 2^16 - 1 matters once folded, and it is zero only when every byte is.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tou::wire {

// Adds the bytes to `sum` (a short last word padded with zeros).
uint64_t ones_sum(std::span<const uint8_t> bytes, uint64_t sum = 0);

// One's complement 64-bit add: the carry out of bit 63 wraps into bit 0.
inline uint64_t ones_add(uint64_t a, uint64_t b) {
  a += b;
  return a + (a < b);
}

// A sum of bytes that start at an odd position of what is being summed: RFC 1071
// 2(B), the sum with its bytes swapped, a rotation of the 64-bit sum by 8 bits.
inline uint64_t ones_at_odd(uint64_t sum) {
  return std::rotl(sum, 8);
}

// The sum folded to 16 bits with end-around carries (0 only for a zero sum).
uint16_t ones_fold(uint64_t sum);

namespace detail {
uint64_t ones_sum_portable(const uint8_t* p, size_t n, uint64_t sum);
// True when ones_sum() uses the AVX2 loop on this CPU.
bool ones_sum_vectorized();
}  // namespace detail

}  // namespace tou::wire
