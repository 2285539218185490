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

bool TokenBucket::try_take(Instant now, size_t size) {
  refill(now);
  // A packet larger than the bucket leaves when the bucket is full, going into debt.
  const double need = std::min(cost(size), depth_);
  if (tokens_ < need) return false;
  tokens_ -= cost(size);
  return true;
}

Instant TokenBucket::ready_at(size_t size) const {
  const double missing = std::min(cost(size), depth_) - tokens_;
  if (missing <= 0) return last_refill_;
  return last_refill_ + Duration{static_cast<int64_t>(std::ceil(missing / bytes_per_us_))};
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
  admit(now);  // tokens earned since the last call go to packets already waiting
  if (config_.queue_packets > 0 && queue_.size() >= config_.queue_packets) {
    ++stats_.dropped_queue;
    return;
  }
  queue_.push_back(std::move(packet));
  stats_.max_queue = std::max(stats_.max_queue, queue_.size());
  admit(now);
}

void Pipe::admit(Instant now) {
  while (!queue_.empty() && bucket_->try_take(now, queue_.front().bytes.size())) {
    Packet p = std::move(queue_.front());
    queue_.pop_front();
    impair(now, std::move(p));
  }
}

void Pipe::impair(Instant departure, Packet packet) {
  if (delay_line_.size() >= kMaxDelayLine) {
    ++stats_.dropped_queue;
    return;
  }
  const sim::Verdict v = impairment_.decide(packet.bytes, departure);
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
    delay_line_.push(at, packet);  // a copy, released together with the original
  }
  delay_line_.push(at, std::move(packet));
}

void Pipe::release(Instant now, std::vector<Packet>& out) {
  if (bucket_) admit(now);
  while (!delay_line_.empty() && delay_line_.top_time() <= now) {
    Packet p = delay_line_.pop();
    ++stats_.forwarded;
    stats_.bytes_forwarded += p.bytes.size();
    out.push_back(std::move(p));
  }
}

std::optional<Instant> Pipe::next_deadline() const {
  std::optional<Instant> next;
  if (!delay_line_.empty()) next = delay_line_.top_time();
  if (bucket_ && !queue_.empty()) {
    const Instant ready = bucket_->ready_at(queue_.front().bytes.size());
    if (!next || ready < *next) next = ready;
  }
  return next;
}

}  // namespace tou::netem
