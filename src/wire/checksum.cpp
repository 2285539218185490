// RFC 1071 Internet checksum over the tou pseudo-header and a segment.
//
// Speed matters: this runs over every datagram (up to 64 KiB on loopback), on
// the sender at a time its payload has left the cache. The portable sum is taken
// over 64-bit words in memory order with an end-around carry, four independent
// accumulators deep; on x86-64 with AVX2 (chosen at run time) 32-bit halves are
// summed into 64-bit lanes, 64 bytes a step, with no carries to chase. Either is
// folded to 16 bits at the end. RFC 1071 2(B): the one's complement sum is
// byte-order independent, so summing in host order and swapping the folded
// result once gives the network-order sum.
#include "wire/checksum.hpp"

#include <bit>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TOU_CHECKSUM_AVX2 1
#endif

#include "wire/segment.hpp"

namespace tou {
namespace wire {
namespace {

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

uint64_t detail::ones_sum_portable(const uint8_t* p, size_t n, uint64_t sum) {
  uint64_t s1 = 0, s2 = 0, s3 = 0;
  for (; n >= 32; p += 32, n -= 32) {
    sum = ones_add(sum, load64(p));
    s1 = ones_add(s1, load64(p + 8));
    s2 = ones_add(s2, load64(p + 16));
    s3 = ones_add(s3, load64(p + 24));
  }
  for (; n >= 8; p += 8, n -= 8) sum = ones_add(sum, load64(p));
  if (n != 0) {
    // The tail starts at an offset that is a multiple of 8, so copying it to the
    // front of a zeroed word keeps every byte's position within its 16-bit word;
    // an odd last byte is padded with zero as RFC 1071 asks.
    uint8_t tail[8] = {};
    std::memcpy(tail, p, n);
    sum = ones_add(sum, load64(tail));
  }
  return ones_add(ones_add(sum, s1), ones_add(s2, s3));
}

#ifdef TOU_CHECKSUM_AVX2
namespace {

// Each 64-bit lane gains two 32-bit values per 64 bytes, so it cannot overflow
// below 2^37 bytes. A lane's total is congruent to what the portable sum adds for
// the same words modulo 2^16 - 1 (2^32 = 1 there), which is all the fold keeps;
// and a lane is zero only when its words all are, so the sum is +0 exactly when
// the portable one is.
__attribute__((target("avx2"))) uint64_t ones_sum_avx2(const uint8_t* p, size_t n, uint64_t sum) {
  const __m256i low = _mm256_set1_epi64x(0xffffffff);
  __m256i lows = _mm256_setzero_si256();
  __m256i highs = _mm256_setzero_si256();
  for (; n >= 64; p += 64, n -= 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    lows = _mm256_add_epi64(lows, _mm256_and_si256(a, low));
    highs = _mm256_add_epi64(highs, _mm256_srli_epi64(a, 32));
    lows = _mm256_add_epi64(lows, _mm256_and_si256(b, low));
    highs = _mm256_add_epi64(highs, _mm256_srli_epi64(b, 32));
  }
  alignas(32) uint64_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), lows);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 4), highs);
  for (uint64_t lane : lanes) sum = ones_add(sum, lane);
  // The rest starts 64-byte aligned within the piece, as the portable sum wants.
  return detail::ones_sum_portable(p, n, sum);
}

}  // namespace
#endif

bool detail::ones_sum_vectorized() {
#ifdef TOU_CHECKSUM_AVX2
  // __builtin_cpu_init() first: the first call may come from a static
  // initializer that runs before the compiler's own CPU detection.
  static const bool avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  return avx2;
#else
  return false;
#endif
}

uint64_t ones_sum(std::span<const uint8_t> bytes, uint64_t sum) {
#ifdef TOU_CHECKSUM_AVX2
  if (bytes.size() >= 64 && detail::ones_sum_vectorized()) {
    return ones_sum_avx2(bytes.data(), bytes.size(), sum);
  }
#endif
  return detail::ones_sum_portable(bytes.data(), bytes.size(), sum);
}

uint16_t ones_fold(uint64_t s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace wire

uint16_t segment_checksum(std::span<const uint8_t> segment) {
  const std::span<const uint8_t> pieces[1] = {segment};
  return segment_checksum(pieces);
}

uint16_t segment_checksum(std::span<const std::span<const uint8_t>> pieces) {
  size_t len = 0;
  uint64_t sum = 0;
  for (std::span<const uint8_t> piece : pieces) {
    // A piece that starts at an odd offset: RFC 1071 2(B), its own sum byte-swapped.
    sum = len % 2 == 0 ? wire::ones_sum(piece, sum)
                       : wire::ones_add(sum, wire::ones_at_odd(wire::ones_sum(piece)));
    len += piece.size();
  }
  // The 4-byte tou pseudo-header {0, 6 (TCP), length high, length low}.
  const uint8_t pseudo[8] = {0, 6, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  uint16_t folded = wire::ones_fold(wire::ones_add(sum, wire::load64(pseudo)));
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded << 8) | (folded >> 8));
  }
  return static_cast<uint16_t>(~folded);
}

}  // namespace tou
