// One direction of the emulated link, in real time. A packet offered at `now`
//   1. waits in a drop-tail queue for the token bucket (when a rate is set),
//   2. then gets its fate from the simulator's Impairment (delay + jitter, loss,
//      reordering, corruption, duplication: the same code and draw order as
//      tou-sim's links), and
//   3. sits in a delay line ordered by release time until it is due.
// Like the simulator's link, jitter never reorders (a packet is never released
// before the one admitted before it); only --reorder does.
//
// The schedule is virtual: a packet leaves the rate queue at the instant the
// bucket had its tokens (or at its arrival, if later), not at the instant this
// process happened to look, and its release time follows from that. So a
// process woken late on a loaded machine releases packets late, but the
// schedule (and the rate, delays and queue drops it implies) stays the one a
// perfectly punctual emulator would have made from the same arrivals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "base/time.hpp"
#include "options.hpp"
#include "sim/event_queue.hpp"
#include "sim/impairment.hpp"
#include "sim/rng.hpp"
#include "stats.hpp"

namespace tou::netem {

struct Packet {
  std::vector<uint8_t> bytes;
  uint32_t flow = 0;  // who it belongs to (the proxy's client session); unused on TUN
  Instant due{};      // when the schedule releases it (set by the pipe)
};

// A token bucket that lets packets through at `rate_mbps`, with a small burst.
class TokenBucket {
 public:
  // overhead_bytes: counted per packet on top of its size (headers not in the payload).
  TokenBucket(double rate_mbps, size_t overhead_bytes);
  // The first instant >= `arrival` at which a packet of `size` bytes may leave.
  Instant departure(Instant arrival, size_t size) const;
  // Spends the tokens of a packet of `size` bytes leaving at `at` (>= the last call's).
  void take(Instant at, size_t size);
  // Bytes a packet of `size` bytes takes on the wire.
  double cost(size_t size) const { return static_cast<double>(size + overhead_bytes_); }

 private:
  void refill(Instant now);

  double bytes_per_us_;
  size_t overhead_bytes_;
  double depth_;   // bucket size in bytes: the largest burst at full rate
  double tokens_;  // bytes that may leave at last_refill_
  Instant last_refill_{};
};

class Pipe {
 public:
  Pipe(const DirectionConfig& config, uint64_t seed, size_t overhead_bytes);

  // A packet arrived at `now`.
  void offer(Instant now, Packet packet);
  // Appends to `out` every packet (and duplicate) due at `now`, in release order.
  void release(Instant now, std::vector<Packet>& out);
  // When release() next has something to do; nullopt when the pipe is empty.
  std::optional<Instant> next_deadline() const;

  DirectionStats& stats() { return stats_; }
  const DirectionStats& stats() const { return stats_; }

 private:
  // Moves packets from the rate queue through the impairment into the delay line.
  void admit(Instant now);
  void impair(Instant departure, Packet packet);
  void account_departure(Instant arrival, Instant departure, size_t size);

  struct Queued {
    Packet packet;
    Instant arrival;
  };

  // Bounds the delay line's memory (a fast sender with a long delay); beyond, drop-tail.
  static constexpr size_t kMaxDelayLine = 200'000;

  DirectionConfig config_;
  sim::Rng rng_;
  sim::Impairment impairment_;
  std::optional<TokenBucket> bucket_;
  std::deque<Queued> queue_;  // waiting for tokens
  Instant last_departure_{};  // from the rate queue, in the schedule
  sim::EventQueue<Packet> delay_line_;
  Instant fifo_point_{};  // release time of the last admitted packet (jitter keeps order)
  DirectionStats stats_;
};

}  // namespace tou::netem
