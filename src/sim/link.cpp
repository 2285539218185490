#include "sim/link.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tou::sim {

double GilbertElliott::average_loss() const {
  if (p + r <= 0) return loss_in_good;  // never leaves Good
  const double pi_bad = p / (p + r);
  return loss_in_good * (1 - pi_bad) + loss_in_bad * pi_bad;
}

GilbertElliott GilbertElliott::with_average_loss(double loss, double mean_bad_length,
                                                 double loss_in_bad) {
  GilbertElliott ge;
  loss = std::clamp(loss, 0.0, 1.0);
  ge.loss_in_good = 0;
  ge.loss_in_bad = std::max(loss_in_bad, loss);
  const double pi = ge.loss_in_bad > 0 ? loss / ge.loss_in_bad : 0;  // time in Bad
  ge.r = 1.0 / std::max(mean_bad_length, 1.0);
  if (pi <= 0) {
    ge.p = 0;
  } else if (pi >= 1) {
    ge.p = 1;
    ge.r = 0;
  } else {
    ge.p = ge.r * pi / (1 - pi);
    if (ge.p > 1) {
      ge.p = 1;
      ge.r = (1 - pi) / pi;
    }
  }
  return ge;
}

std::string to_string(const LinkStats& s) {
  return fmt::format(
      "sent {} forwarded {} dropped(partition {} queue {} loss {}) dup {} reorder {} corrupt {} "
      "max_queue {}",
      s.sent, s.forwarded, s.dropped_partition, s.dropped_queue, s.dropped_loss, s.duplicated,
      s.reordered, s.corrupted, s.max_queue);
}

Link::Link(const LinkConfig& config, Rng& rng) : config_(config), rng_(rng) {
  if (config_.burst_loss) ge_ = GilbertElliott::with_average_loss(config_.loss);
}

bool Link::is_down(Instant now) const {
  return std::any_of(config_.partitions.begin(), config_.partitions.end(),
                     [now](const Partition& p) { return p.start <= now && now < p.end; });
}

bool Link::lose() {
  if (!config_.burst_loss) return rng_.chance(config_.loss);
  if (config_.loss <= 0) return false;
  ge_bad_ = ge_bad_ ? !rng_.chance(ge_.r) : rng_.chance(ge_.p);
  return rng_.chance(ge_bad_ ? ge_.loss_in_bad : ge_.loss_in_good);
}

void Link::corrupt(std::vector<uint8_t>& bytes) {
  if (bytes.empty()) return;
  const uint64_t nbits = bytes.size() * 8;
  const int flips = static_cast<int>(std::min<uint64_t>(std::max(config_.corrupt_bits, 1), nbits));
  std::vector<uint64_t> done;
  while (static_cast<int>(done.size()) < flips) {
    uint64_t bit = rng_.below(nbits);
    if (std::find(done.begin(), done.end(), bit) != done.end()) continue;  // distinct bits
    done.push_back(bit);
    bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
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

  // 4. Propagation; the arrival instant is rounded up to the microsecond clock.
  Instant arrival = instant_from_us((departure_ns + 999) / 1000) + config_.delay +
                    rng_.duration_upto(config_.jitter);
  arrival = std::max(arrival, last_arrival_);
  last_arrival_ = arrival;

  // 5. Loss.
  if (lose()) {
    ++stats_.dropped_loss;
    outcome.fate = Fate::kDroppedLoss;
    return outcome;
  }

  // 6. Reordering: held back without moving the FIFO point, so later ones overtake it.
  if (rng_.chance(config_.reorder)) {
    ++stats_.reordered;
    outcome.reordered = true;
    arrival += config_.reorder_delay;
  }

  Arrival copy{arrival, std::vector<uint8_t>(datagram.begin(), datagram.end())};
  // 7. Corruption.
  if (rng_.chance(config_.corrupt)) {
    ++stats_.corrupted;
    outcome.corrupted = true;
    corrupt(copy.bytes);
  }
  // 8. Duplication: the same bytes again, right after.
  const bool dup = rng_.chance(config_.duplicate);
  out.push_back(std::move(copy));
  ++stats_.forwarded;
  stats_.bytes_forwarded += datagram.size();
  if (dup) {
    ++stats_.duplicated;
    outcome.duplicated = true;
    ++stats_.forwarded;
    stats_.bytes_forwarded += datagram.size();
    out.push_back(Arrival{arrival, out.back().bytes});
  }
  return outcome;
}

}  // namespace tou::sim
