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
//   5. loss        independent (probability `loss`) or bursty Gilbert-Elliott
//                  (same average, see GilbertElliott); lost datagrams have used
//                  their share of the rate, as on a real wire
//   6. reorder     with probability `reorder`, + reorder_delay, so later
//                  datagrams overtake it
//   7. corrupt     with probability `corrupt`, flip corrupt_bits distinct random bits
//   8. duplicate   with probability `duplicate`, a second copy arrives right after
//
// Every random choice is drawn from the Rng the link was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "sim/rng.hpp"

namespace tou::sim {

// The link is down for datagrams sent in [start, end).
struct Partition {
  Instant start;
  Instant end;
};

// Two-state bursty loss (Gilbert 1960, Elliott 1963). Before each datagram the
// state moves Good -> Bad with probability p (Bad -> Good with r); then the
// datagram is lost with the state's loss probability. The long-run fraction of
// time in Bad is p / (p + r), so the average loss is
//   loss_in_good * r / (p + r) + loss_in_bad * p / (p + r).
struct GilbertElliott {
  double p = 0;             // Good -> Bad
  double r = 1;             // Bad -> Good; the Bad state lasts 1/r datagrams on average
  double loss_in_good = 0;  // 1 - k in Elliott's notation
  double loss_in_bad = 1;   // 1 - h

  double average_loss() const;

  // The parameters `--burst` uses for an average loss L: no loss in Good, half
  // the datagrams lost in Bad (loss_in_bad = max(0.5, L)), Bad lasting
  // mean_bad_length = 8 datagrams (r = 1/8), and p chosen so that the average is
  // exactly L: p = r * pi / (1 - pi) with pi = L / loss_in_bad. When that p would
  // exceed 1 (L close to loss_in_bad), p = 1 and r = (1 - pi) / pi instead.
  // At L = 1% this gives bursts of about 4 losses within 8 datagrams, once every
  // ~400 datagrams. As in netem, the chain advances per datagram, not per unit
  // of time: a sparse sender (one retransmission per RTO) can stay in Bad across
  // long idle periods, so runs of lost retransmissions are likelier than on a
  // real path whose bursts last a fixed time.
  static GilbertElliott with_average_loss(double loss, double mean_bad_length = 8,
                                          double loss_in_bad = 0.5);
};

// Settings for one direction. Probabilities are fractions in [0, 1].
struct LinkConfig {
  Duration delay{std::chrono::milliseconds(10)};  // one-way propagation delay
  Duration jitter{0};                             // extra delay, uniform in [0, jitter]
  double rate_mbps = 0;                           // 0 = unlimited (no serialization, no queue)
  size_t queue_packets = 0;                       // drop-tail limit; 0 = unlimited
  size_t overhead_bytes = 28;                     // per datagram on the wire: IPv4 + UDP headers
  double loss = 0;
  bool burst_loss = false;  // Gilbert-Elliott with GilbertElliott::with_average_loss(loss)
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
  bool lose();
  void corrupt(std::vector<uint8_t>& bytes);

  LinkConfig config_;
  Rng& rng_;
  GilbertElliott ge_;
  bool ge_bad_ = false;
  int64_t busy_until_ns_ = 0;       // when the transmitter finishes the last datagram
  std::deque<int64_t> backlog_ns_;  // finish times of datagrams not yet fully sent
  Instant last_arrival_{};          // FIFO point for jitter
  LinkStats stats_;
};

}  // namespace tou::sim
