#include "core/rtt_estimator.hpp"

#include <algorithm>

namespace tou {

RttEstimator::RttEstimator(const RttConfig& config)
    : config_(config), base_rto_(config.initial_rto) {}

void RttEstimator::on_sample(Duration rtt) {
  // A negative sample can only come from a bogus timestamp echo; count it as zero.
  rtt = std::max(rtt, Duration{0});
  latest_ = rtt;
  if (!has_sample_) {
    // RFC 6298 (2.2): SRTT <- R, RTTVAR <- R/2.
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    min_rtt_ = rtt;
    has_sample_ = true;
  } else {
    // RFC 6298 (2.3), beta = 1/4 and alpha = 1/8; RTTVAR first, with the old SRTT:
    //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
    //   SRTT <- (1 - alpha) * SRTT + alpha * R'
    // In integer microseconds, rounded down.
    const Duration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
    min_rtt_ = std::min(min_rtt_, rtt);
  }
  // RFC 6298 (2.2)/(2.3): RTO <- SRTT + max(G, K*RTTVAR) with K = 4.
  constexpr int kK = 4;
  Duration variance = std::max(config_.granularity, kK * rttvar_);
  // Linux's floor on the variance term (RttConfig::floor), or RFC 6298 (2.4)'s on the RTO.
  if (config_.floor == RttConfig::Floor::kVariance) variance = std::max(variance, config_.min_rto);
  const Duration rto = srtt_ + variance;
  // RFC 6298 (2.4) floor and (2.5) ceiling.
  base_rto_ = std::clamp(rto, config_.min_rto, std::max(config_.min_rto, config_.max_rto));
  // RFC 6298 (5.7) note: a new sample ends the backoff.
  backoffs_ = 0;
}

void RttEstimator::backoff() {
  ++backoffs_;
}

Duration RttEstimator::rto() const {
  // RFC 6298 (5.5): RTO <- RTO * 2 per expiry; (2.5) caps it at max_rto.
  Duration rto = base_rto_;
  for (int i = 0; i < backoffs_ && rto < config_.max_rto; ++i) rto *= 2;
  return std::min(rto, config_.max_rto);
}

void RttEstimator::restart_from(Duration rto) {
  backoffs_ = 0;
  if (!has_sample_) base_rto_ = std::max(base_rto_, std::min(rto, config_.max_rto));
}

}  // namespace tou
