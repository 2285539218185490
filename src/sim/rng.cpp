#include "sim/rng.hpp"

namespace tou::sim {

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  // Accept draws below the largest multiple of n that fits in 2^64.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  for (;;) {
    uint64_t x = next();
    if (x < limit) return x % n;
  }
}

}  // namespace tou::sim
