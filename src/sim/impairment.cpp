#include "sim/impairment.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

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

TimedBursts TimedBursts::with_average_loss(double loss, Duration mean_bad, double loss_in_bad) {
  TimedBursts t;
  loss = std::clamp(loss, 0.0, 1.0);
  t.mean_bad = mean_bad;
  t.loss_in_bad = std::max(loss_in_bad, loss);
  t.share_bad = t.loss_in_bad > 0 ? loss / t.loss_in_bad : 0;
  return t;
}

double TimedBursts::bad_after(bool bad, Duration dt) const {
  if (share_bad <= 0 || share_bad >= 1 || mean_bad.count() <= 0) return share_bad;
  // 1/tau = 1/mean_bad + 1/mean_good = 1 / (mean_bad * (1 - pi)).
  const double tau_us = static_cast<double>(mean_bad.count()) * (1 - share_bad);
  const double decay = std::exp(-static_cast<double>(std::max<int64_t>(dt.count(), 0)) / tau_us);
  return bad ? share_bad + (1 - share_bad) * decay : share_bad * (1 - decay);
}

Impairment::Impairment(const ImpairmentConfig& config, Rng& rng) : config_(config), rng_(rng) {
  if (config_.burst_loss) ge_ = GilbertElliott::with_average_loss(config_.loss);
  if (config_.burst_loss && config_.burst_duration.count() > 0) {
    timed_ = TimedBursts::with_average_loss(config_.loss, config_.burst_duration);
  }
}

bool Impairment::lose(Instant now) {
  if (!config_.burst_loss) return rng_.chance(config_.loss);
  if (config_.loss <= 0) return false;
  if (config_.burst_duration.count() > 0) {
    // The first datagram meets the chain in its stationary state.
    const double p_bad =
        last_send_ ? timed_.bad_after(ge_bad_, now - *last_send_) : timed_.share_bad;
    last_send_ = now;
    ge_bad_ = rng_.uniform() < p_bad;
    return rng_.chance(ge_bad_ ? timed_.loss_in_bad : 0.0);
  }
  ge_bad_ = ge_bad_ ? !rng_.chance(ge_.r) : rng_.chance(ge_.p);
  return rng_.chance(ge_bad_ ? ge_.loss_in_bad : ge_.loss_in_good);
}

void Impairment::flip_bits(std::span<uint8_t> bytes) {
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

Verdict Impairment::decide(std::span<uint8_t> bytes, Instant now) {
  Verdict v;
  v.delay = config_.delay + rng_.duration_upto(config_.jitter);
  if (lose(now)) {
    v.lost = true;
    return v;
  }
  v.reordered = rng_.chance(config_.reorder);
  if (rng_.chance(config_.corrupt)) {
    v.corrupted = true;
    flip_bits(bytes);
  }
  v.duplicated = rng_.chance(config_.duplicate);
  return v;
}

}  // namespace tou::sim
