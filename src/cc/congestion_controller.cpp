#include "cc/congestion_controller.hpp"

#include <algorithm>

namespace tou {

std::optional<uint64_t> CongestionController::pacing_rate(Duration srtt) const {
  if (srtt <= Duration{0}) return std::nullopt;
  // Linux's tcp_update_pacing_rate ratios: 200% of cwnd / srtt in slow start (so pacing
  // does not hold back the doubling), 120% afterwards.
  const uint64_t percent = in_slow_start() ? 200 : 120;
  const uint64_t rate =
      uint64_t{cwnd()} * 1'000'000 * percent / (uint64_t{100} * static_cast<uint64_t>(to_us(srtt)));
  // Never 0: a zero rate would stall a sender that has a window to use.
  return std::max<uint64_t>(rate, 1);
}

}  // namespace tou
