#include "engine/receive_coalescing.hpp"

#include <cstdlib>
#include <cstring>

namespace tou::engine {

std::optional<Instant> ReceiveCoalescing::end_turn(Instant now, std::optional<Instant> next_timer,
                                                   bool work_waiting) {
  const size_t datagrams = datagrams_;
  const Duration window = window_;
  datagrams_ = 0;
  window_ = kNoWindow;
  const bool was_polling = polling_;
  polling_ = false;
  // Off, or a turn without datagrams: a timer, the program's pair, or a
  // poll that found nothing (which ends the polling).
  if (!enabled_ || datagrams == 0) return std::nullopt;
  const std::optional<Instant> previous = last_datagrams_;
  last_datagrams_ = now;
  if (window == Duration{0} || datagrams >= kEnoughDatagrams) return std::nullopt;
  // The first datagram of a stream waits for nothing: the second one, come
  // within the window, shows that more are coming.
  if (!was_polling && (!previous || now - *previous >= window)) return std::nullopt;
  Instant until = now + window;
  if (next_timer && *next_timer < until) until = *next_timer;
  if (until <= now || work_waiting) return std::nullopt;
  polling_ = true;
  return until;
}

bool receive_coalescing_wanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("TOU_RECEIVE_COALESCE");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return wanted;
}

}  // namespace tou::engine
