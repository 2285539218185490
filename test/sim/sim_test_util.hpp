// Helpers shared by the simulator's transfer tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "sim/transfer.hpp"

namespace tou::sim::testing {

// TOU_TEST_SCALE (default 1.0) scales the number of seeds, e.g. 0.25 under sanitizers.
inline double test_scale() {
  const char* s = std::getenv("TOU_TEST_SCALE");
  if (s == nullptr || *s == '\0') return 1.0;
  const double v = std::strtod(s, nullptr);
  return v > 0 ? v : 1.0;
}

inline int scaled(int seeds) {
  return std::max(1, static_cast<int>(std::lround(seeds * test_scale())));
}

// TOU_SIM_SEED_OFFSET (default 0) shifts the property tests' seeds.
inline uint64_t seed_offset() {
  const char* s = std::getenv("TOU_SIM_SEED_OFFSET");
  return s == nullptr ? 0 : std::strtoull(s, nullptr, 10);
}

// What a failing run prints: the seed, the failure, and how to reproduce it.
inline std::string explain(uint64_t seed, const TransferOptions& o, const TransferResult& r) {
  return fmt::format("seed {}: {}\n  {}\n  reproduce: {}", seed, r.failure, r.summary(),
                     to_command_line(seed, o));
}

}  // namespace tou::sim::testing
