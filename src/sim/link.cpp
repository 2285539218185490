#include "sim/link.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tou::sim {

std::string to_string(const LinkStats& s) {
  return fmt::format(
      "sent {} forwarded {} dropped(partition {} queue {} loss {}) dup {} reorder {} corrupt {} "
      "max_queue {}",
      s.sent, s.forwarded, s.dropped_partition, s.dropped_queue, s.dropped_loss, s.duplicated,
      s.reordered, s.corrupted, s.max_queue);
}

ImpairmentConfig impairment_config(const LinkConfig& config) {
  return ImpairmentConfig{.delay = config.delay,
                          .jitter = config.jitter,
                          .loss = config.loss,
                          .burst_loss = config.burst_loss,
                          .burst_duration = config.burst_duration,
                          .duplicate = config.duplicate,
                          .reorder = config.reorder,
                          .corrupt = config.corrupt,
                          .corrupt_bits = config.corrupt_bits};
}

Link::Link(const LinkConfig& config, Rng& rng)
    : config_(config), impairment_(impairment_config(config), rng) {}

bool Link::is_down(Instant now) const {
  return std::any_of(config_.partitions.begin(), config_.partitions.end(),
                     [now](const Partition& p) { return p.start <= now && now < p.end; });
}

const char* to_string(Fate fate) {
  switch (fate) {
    case Fate::kForwarded:
      return "forwarded";
    case Fate::kDroppedPartition:
      return "dropped (partition)";
    case Fate::kDroppedQueue:
      return "dropped (queue full)";
    case Fate::kDroppedLoss:
      return "lost";
  }
  return "?";
}

SendOutcome Link::send(Instant now, std::span<const uint8_t> datagram, std::vector<Arrival>& out) {
  SendOutcome outcome;
  ++stats_.sent;
  stats_.bytes_sent += datagram.size();

  // 1. Partition.
  if (is_down(now)) {
    ++stats_.dropped_partition;
    outcome.fate = Fate::kDroppedPartition;
    return outcome;
  }

  // 2-3. Queue and serialization. Time in nanoseconds so that fractional
  // serialization times do not accumulate rounding error.
  const int64_t now_ns = to_us(now) * 1000;
  int64_t departure_ns = now_ns;
  if (config_.rate_mbps > 0) {
    while (!backlog_ns_.empty() && backlog_ns_.front() <= now_ns) backlog_ns_.pop_front();
    if (config_.queue_packets > 0 && backlog_ns_.size() >= config_.queue_packets) {
      ++stats_.dropped_queue;
      outcome.fate = Fate::kDroppedQueue;
      return outcome;
    }
    // 1 Mbit/s is one bit per microsecond: bits * 1000 / rate nanoseconds.
    const double bits = static_cast<double>((datagram.size() + config_.overhead_bytes) * 8);
    const auto tx_ns = static_cast<int64_t>(std::llround(bits * 1000.0 / config_.rate_mbps));
    departure_ns = std::max(now_ns, busy_until_ns_) + tx_ns;
    busy_until_ns_ = departure_ns;
    backlog_ns_.push_back(departure_ns);
    stats_.max_queue = std::max(stats_.max_queue, backlog_ns_.size());
  }

  // 4-8. The impairment's decisions, drawn in the order the header lists them.
  Arrival copy{Instant{}, std::vector<uint8_t>(datagram.begin(), datagram.end())};
  const Verdict verdict = impairment_.decide(copy.bytes, now);

  // 4. Propagation; the arrival instant is rounded up to the microsecond clock.
  Instant arrival = instant_from_us((departure_ns + 999) / 1000) + verdict.delay;
  arrival = std::max(arrival, last_arrival_);
  last_arrival_ = arrival;

  // 5. Loss.
  if (verdict.lost) {
    ++stats_.dropped_loss;
    outcome.fate = Fate::kDroppedLoss;
    return outcome;
  }

  // 6. Reordering: held back without moving the FIFO point, so later ones overtake it.
  if (verdict.reordered) {
    ++stats_.reordered;
    outcome.reordered = true;
    arrival += config_.reorder_delay;
  }
  copy.at = arrival;
  // 7. Corruption (already applied to the copy's bytes).
  if (verdict.corrupted) {
    ++stats_.corrupted;
    outcome.corrupted = true;
  }
  // 8. Duplication: the same bytes again, right after.
  out.push_back(std::move(copy));
  ++stats_.forwarded;
  stats_.bytes_forwarded += datagram.size();
  if (verdict.duplicated) {
    ++stats_.duplicated;
    outcome.duplicated = true;
    ++stats_.forwarded;
    stats_.bytes_forwarded += datagram.size();
    out.push_back(Arrival{arrival, out.back().bytes});
  }
  return outcome;
}

}  // namespace tou::sim
