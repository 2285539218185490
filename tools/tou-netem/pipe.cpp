#include "pipe.hpp"

#include <algorithm>
#include <cmath>

namespace tou::netem {

namespace {
// A burst of a few full-size Ethernet frames: small enough that the long-run
// rate is what was asked, large enough that timer slack costs no throughput.
constexpr double kBucketDepthBytes = 4 * 1514;
}  // namespace

TokenBucket::TokenBucket(double rate_mbps, size_t overhead_bytes)
    : bytes_per_us_(rate_mbps / 8.0),  // 1 Mbit/s = 1 bit/us
      overhead_bytes_(overhead_bytes),
      depth_(kBucketDepthBytes),
      tokens_(kBucketDepthBytes) {}

void TokenBucket::refill(Instant now) {
  if (now > last_refill_) {
    tokens_ =
        std::min(depth_, tokens_ + static_cast<double>(to_us(now - last_refill_)) * bytes_per_us_);
    last_refill_ = now;
  }
}

Instant TokenBucket::departure(Instant arrival, size_t size) const {
  // A packet larger than the bucket leaves when the bucket is full, going into debt.
  const double need = std::min(cost(size), depth_);
  const Instant from = std::max(arrival, last_refill_);
  const double tokens =
      std::min(depth_, tokens_ + static_cast<double>(to_us(from - last_refill_)) * bytes_per_us_);
  if (tokens >= need) return from;
  return from + Duration{static_cast<int64_t>(std::ceil((need - tokens) / bytes_per_us_))};
}

void TokenBucket::take(Instant at, size_t size) {
  refill(at);
  tokens_ -= cost(size);
}

Pipe::Pipe(const DirectionConfig& config, uint64_t seed, size_t overhead_bytes)
    : config_(config), rng_(seed), impairment_(config.impairment, rng_) {
  if (config.rate_mbps > 0) bucket_.emplace(config.rate_mbps, overhead_bytes);
}

void Pipe::offer(Instant now, Packet packet) {
  ++stats_.received;
  stats_.bytes_received += packet.bytes.size();
  if (!bucket_) {
    impair(now, std::move(packet));
    return;
  }
  admit(now);  // packets whose departure came before this arrival have left the queue
  if (config_.queue_packets > 0 && queue_.size() >= config_.queue_packets) {
    ++stats_.dropped_queue;
    return;
  }
  queue_.push_back({std::move(packet), now});
  stats_.max_queue = std::max(stats_.max_queue, queue_.size());
  admit(now);
}

void Pipe::admit(Instant now) {
  while (!queue_.empty()) {
    const size_t size = queue_.front().packet.bytes.size();
    const Instant arrival = queue_.front().arrival;
    const Instant departure = bucket_->departure(arrival, size);
    if (departure > now) return;
    bucket_->take(departure, size);
    account_departure(arrival, departure, size);
    Packet p = std::move(queue_.front().packet);
    queue_.pop_front();
    impair(departure, std::move(p));
  }
}

// The scheduled rate: wire bytes over the time the link was busy, that is over
// the gaps before departures that had to wait for tokens.
void Pipe::account_departure(Instant arrival, Instant departure, size_t size) {
  if (departure > arrival && departure > last_departure_ && last_departure_ != Instant{}) {
    stats_.rate_limited_bytes += static_cast<uint64_t>(bucket_->cost(size));
    stats_.rate_limited_us += static_cast<uint64_t>(to_us(departure - last_departure_));
  }
  last_departure_ = departure;
}

void Pipe::impair(Instant departure, Packet packet) {
  if (delay_line_.size() >= kMaxDelayLine) {
    ++stats_.dropped_queue;
    return;
  }
  const sim::Verdict v = impairment_.decide(packet.bytes, departure);
  stats_.delay_drawn.add(to_us(v.delay));
  const Instant release = std::max(departure + v.delay, fifo_point_);
  fifo_point_ = release;
  if (v.lost) {
    ++stats_.dropped_loss;
    return;
  }
  Instant at = release;
  if (v.reordered) {
    ++stats_.reordered;
    at += config_.reorder_delay;
  }
  if (v.corrupted) ++stats_.corrupted;
  if (v.duplicated) {
    ++stats_.duplicated;
    packet.due = at;
    delay_line_.push(at, packet);  // a copy, released together with the original
  }
  packet.due = at;
  delay_line_.push(at, std::move(packet));
}

void Pipe::release(Instant now, std::vector<Packet>& out) {
  if (bucket_) admit(now);
  while (!delay_line_.empty() && delay_line_.top_time() <= now) {
    Packet p = delay_line_.pop();
    // How far behind its schedule this process ran (a loaded machine).
    stats_.late_max_us = std::max(stats_.late_max_us, static_cast<uint64_t>(to_us(now - p.due)));
    ++stats_.forwarded;
    stats_.bytes_forwarded += p.bytes.size();
    out.push_back(std::move(p));
  }
}

std::optional<Instant> Pipe::next_deadline() const {
  std::optional<Instant> next;
  if (!delay_line_.empty()) next = delay_line_.top_time();
  if (bucket_ && !queue_.empty()) {
    const Instant ready =
        bucket_->departure(queue_.front().arrival, queue_.front().packet.bytes.size());
    if (!next || ready < *next) next = ready;
  }
  return next;
}

}  // namespace tou::netem
