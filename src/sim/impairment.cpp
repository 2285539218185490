#include "sim/impairment.hpp"

#include <algorithm>
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

Impairment::Impairment(const ImpairmentConfig& config, Rng& rng) : config_(config), rng_(rng) {
  if (config_.burst_loss) ge_ = GilbertElliott::with_average_loss(config_.loss);
}

bool Impairment::lose() {
  if (!config_.burst_loss) return rng_.chance(config_.loss);
  if (config_.loss <= 0) return false;
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

Verdict Impairment::decide(std::span<uint8_t> bytes) {
  Verdict v;
  v.delay = config_.delay + rng_.duration_upto(config_.jitter);
  if (lose()) {
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
