// Helpers shared by BBR's files (bbr.cpp: the state machine and control parameters;
// bbr_model.cpp: the path model and congestion signals).
#pragma once

#include <cstdint>

#include "base/time.hpp"
#include "cc/newreno.hpp"

namespace tou::bbr_detail {

inline double seconds(Duration d) {
  return static_cast<double>(to_us(d)) / 1e6;
}

// A byte count from a product of rates and times, clamped to [0, kMaxCwnd].
inline uint64_t to_bytes(double x) {
  if (!(x > 0)) return 0;
  if (x >= static_cast<double>(cc_detail::kMaxCwnd)) return cc_detail::kMaxCwnd;
  return static_cast<uint64_t>(x);
}

}  // namespace tou::bbr_detail
