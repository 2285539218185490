// One direction of a simulated link, in the spirit of picoquic's sim_link.c and
// Linux netem. A datagram offered at time `now` goes through, in this order:
//
//   1. partition   sent while the link is down (any [start, end) window): dropped
//   2. queue       with a rate set, drop-tail when queue_packets datagrams are
//                  already waiting or being serialized (0 = unlimited)
//   3. serialize   it leaves when the previous one has left, after
//                  (size + overhead_bytes) * 8 / rate (exact, nanosecond clock)
//   4. propagate   + delay + uniform [0, jitter]; jitter never reorders: a datagram
//                  never arrives before the one sent before it
//   5. loss        independent (probability `loss`), bursty Gilbert-Elliott per
//                  datagram (same average, see GilbertElliott), or bursts that
//                  last burst_duration on average (TimedBursts); lost datagrams have used
//                  their share of the rate, as on a real wire
//   6. reorder     with probability `reorder`, + reorder_delay, so later
//                  datagrams overtake it
//   7. corrupt     with probability `corrupt`, flip corrupt_bits distinct random bits
//   8. duplicate   with probability `duplicate`, a second copy arrives right after
//
// Every random choice is drawn from the Rng the link was given; the decisions of
// steps 4-8 are made by an Impairment (impairment.hpp), the code tou-netem shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "sim/impairment.hpp"
#include "sim/rng.hpp"

namespace tou::sim {

// The link is down for datagrams sent in [start, end).
struct Partition {
  Instant start;
  Instant end;
};

// Settings for one direction. Probabilities are fractions in [0, 1].
struct LinkConfig {
  Duration delay{std::chrono::milliseconds(10)};  // one-way propagation delay
  Duration jitter{0};                             // extra delay, uniform in [0, jitter]
  double rate_mbps = 0;                           // 0 = unlimited (no serialization, no queue)
  size_t queue_packets = 0;                       // drop-tail limit; 0 = unlimited
  size_t overhead_bytes = 28;                     // per datagram on the wire: IPv4 + UDP headers
  double loss = 0;
  bool burst_loss = false;     // Gilbert-Elliott with GilbertElliott::with_average_loss(loss)
  Duration burst_duration{0};  // with burst_loss, > 0: TimedBursts of this mean length
  double duplicate = 0;
  double reorder = 0;
  Duration reorder_delay{std::chrono::milliseconds(10)};
  double corrupt = 0;
  int corrupt_bits = 1;  // one bit: the Internet checksum catches every 1-bit error
  std::vector<Partition> partitions;
};

// What the link did, one counter per outcome. Every offered datagram ends in
// exactly one of forwarded / dropped_*; duplicates add to forwarded.
struct LinkStats {
  uint64_t sent = 0;  // datagrams offered
  uint64_t bytes_sent = 0;
  uint64_t forwarded = 0;  // copies scheduled for arrival (duplicates included)
  uint64_t bytes_forwarded = 0;
  uint64_t dropped_partition = 0;
  uint64_t dropped_queue = 0;
  uint64_t dropped_loss = 0;
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t corrupted = 0;
  size_t max_queue = 0;  // largest backlog seen, in datagrams (the arriving one included)

  uint64_t dropped() const { return dropped_partition + dropped_queue + dropped_loss; }
};
std::string to_string(const LinkStats& stats);

// The time-agnostic part of `config` (steps 4-8).
ImpairmentConfig impairment_config(const LinkConfig& config);

// What the link did with one offered datagram.
enum class Fate : uint8_t { kForwarded, kDroppedPartition, kDroppedQueue, kDroppedLoss };
const char* to_string(Fate fate);

struct SendOutcome {
  Fate fate = Fate::kForwarded;
  bool reordered = false;
  bool corrupted = false;
  bool duplicated = false;
  friend bool operator==(const SendOutcome&, const SendOutcome&) = default;
};

// One copy of a datagram on its way: when it arrives and what arrives.
struct Arrival {
  Instant at;
  std::vector<uint8_t> bytes;
};

class Link {
 public:
  // `rng` must outlive the link.
  Link(const LinkConfig& config, Rng& rng);

  // Offers one datagram at `now` (times must not decrease between calls);
  // appends the copies that will arrive (0, 1 or 2) to `out`.
  SendOutcome send(Instant now, std::span<const uint8_t> datagram, std::vector<Arrival>& out);

  bool is_down(Instant now) const;
  const LinkConfig& config() const { return config_; }
  const LinkStats& stats() const { return stats_; }

 private:
  LinkConfig config_;
  Impairment impairment_;
  int64_t busy_until_ns_ = 0;       // when the transmitter finishes the last datagram
  std::deque<int64_t> backlog_ns_;  // finish times of datagrams not yet fully sent
  Instant last_arrival_{};          // FIFO point for jitter
  LinkStats stats_;
};

}  // namespace tou::sim
