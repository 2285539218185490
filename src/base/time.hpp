// Virtual time for the sans-I/O core. The core never reads a clock: every
// entry point takes `Instant now`, supplied by the engine or the simulator.
#pragma once

#include <chrono>
#include <cstdint>

namespace tou {

// A clock type that only names the time base; it has no now() on purpose.
struct CoreClock {
  using duration = std::chrono::microseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoreClock, duration>;
  static constexpr bool is_steady = true;
};

using Duration = std::chrono::microseconds;
using Instant = CoreClock::time_point;

using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""us;
using std::chrono_literals::operator""s;

constexpr Instant kTimeZero{};

constexpr Instant instant_from_us(int64_t us) {
  return Instant{Duration{us}};
}
constexpr int64_t to_us(Instant t) {
  return t.time_since_epoch().count();
}
constexpr int64_t to_us(Duration d) {
  return d.count();
}

}  // namespace tou
