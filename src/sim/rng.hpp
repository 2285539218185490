// The simulator's one source of randomness. Every random choice of a run (link
// impairments, ISS, timestamp offsets, payload bytes) is drawn from one Rng
// seeded by the run's seed, so (seed, settings) reproduces a run exactly.
//
// The draws are defined here bit for bit (std::mt19937_64 is specified by the
// standard; the std::*_distribution classes are not, so they are not used):
// the same seed gives the same run with any standard library.
//
//   tou::sim::Rng rng(42);
//   if (rng.chance(0.01)) drop();
//   Duration extra = rng.duration_upto(5ms);
#pragma once

#include <cstdint>
#include <random>

#include "base/time.hpp"

namespace tou::sim {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // 64 uniformly random bits.
  uint64_t next() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // True with probability p. Draws nothing when p <= 0 or p >= 1, so a switched-off
  // impairment costs no draws.
  bool chance(double p) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return uniform() < p;
  }
  // Uniform in [0, n); n > 0. Rejection sampling, no modulo bias.
  uint64_t below(uint64_t n);
  // Uniform in [0, max] microseconds.
  Duration duration_upto(Duration max) {
    if (max.count() <= 0) return Duration{0};
    return Duration{static_cast<int64_t>(below(static_cast<uint64_t>(max.count()) + 1))};
  }

 private:
  std::mt19937_64 engine_;
};

// SplitMix64 (Steele, Lea, Flood 2014): a stateless 64-bit mixer, used to derive
// independent streams (e.g. payload bytes by offset) from one drawn key.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace tou::sim
