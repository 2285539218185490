#include "cc/newreno.hpp"

#include <algorithm>
#include <cassert>

namespace tou {

namespace cc_detail {

uint32_t initial_window(const CongestionConfig& config, uint32_t mss) {
  // RFC 6928 2 / RFC 5681 3.1: IW in segments times SMSS; never less than one segment.
  const uint64_t segments = std::max<uint32_t>(config.initial_window_segments, 1);
  return static_cast<uint32_t>(std::min<uint64_t>(segments * mss, kMaxCwnd));
}

uint32_t half_flight_ssthresh(uint32_t bytes_in_flight, uint32_t mss) {
  // RFC 5681 3.1 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
  return std::max(bytes_in_flight / 2, 2 * mss);
}

bool growth_not_validated(const AckEvent& ack, uint32_t cwnd) {
  return ack.app_limited && uint64_t{cwnd} >= 2 * uint64_t{ack.bytes_in_flight};
}

SlowStartStep slow_start(uint32_t cwnd, uint32_t ssthresh, uint32_t mss, uint32_t bytes_acked) {
  assert(cwnd < ssthresh);
  // RFC 3465 2.2: cwnd += min(N, L * SMSS), L = 2 (RFC 5681 3.1 eq. 2 is L = 1).
  const auto increase =
      static_cast<uint32_t>(std::min<uint64_t>(bytes_acked, uint64_t{kAbcLimit} * mss));
  const uint32_t room = std::min(ssthresh, kMaxCwnd) - std::min(cwnd, kMaxCwnd);
  if (increase < room) return {cwnd + increase, 0};
  // Slow start ends at ssthresh (RFC 5681 3.1: cwnd >= ssthresh is congestion avoidance);
  // what was acknowledged beyond the room left counts toward congestion avoidance.
  return {cwnd + room, bytes_acked - room};
}

}  // namespace cc_detail

NewReno::NewReno(const CongestionConfig& config)
    : config_(config),
      mss_(std::max<uint32_t>(config.mss, 1)),
      cwnd_(cc_detail::initial_window(config, mss_)) {}

void NewReno::on_ack(const AckEvent& ack) {
  // Loss recovery sets the window while it lasts (RFC 6582 3.2, RFC 6675 5).
  if (ack.bytes_acked == 0 || ack.in_recovery) return;
  pristine_ = false;
  rto_backed_off_ = false;
  if (cc_detail::growth_not_validated(ack, cwnd_)) return;

  uint32_t acked = ack.bytes_acked;
  if (cwnd_ < ssthresh_) {
    const auto step = cc_detail::slow_start(cwnd_, ssthresh_, mss_, acked);
    cwnd_ = step.cwnd;
    acked = step.leftover;
  }
  if (cwnd_ < ssthresh_ || acked == 0) return;

  // Congestion avoidance, RFC 5681 3.1 eq. 3 (cwnd += SMSS * SMSS / cwnd per ACK) done the
  // RFC 3465 2.1 way so that it is exact: once cwnd bytes have been acknowledged, cwnd
  // grows by one SMSS, and the counter keeps the remainder.
  ca_bytes_acked_ += acked;
  while (ca_bytes_acked_ >= cwnd_ && cwnd_ < cc_detail::kMaxCwnd) {
    ca_bytes_acked_ -= cwnd_;
    cwnd_ = std::min(cwnd_ + mss_, cc_detail::kMaxCwnd);
  }
  if (cwnd_ >= cc_detail::kMaxCwnd) ca_bytes_acked_ = 0;
}

void NewReno::on_congestion_event(Instant /*now*/, uint32_t bytes_in_flight) {
  pristine_ = false;
  prior_cwnd_ = cwnd_;
  prior_ssthresh_ = ssthresh_;
  // RFC 5681 3.2 step 2 (eq. 4).
  ssthresh_ = cc_detail::half_flight_ssthresh(bytes_in_flight, mss_);
  // RFC 6675 5 step 4 / RFC 6582 3.2 step 2 without the 3 * SMSS inflation: the connection
  // clocks out data by pipe, so cwnd is simply the new ssthresh.
  cwnd_ = ssthresh_;
  ca_bytes_acked_ = 0;  // RFC 3465 2.1: the counter restarts with the new window
  in_recovery_ = true;
}

void NewReno::on_recovery_end(Instant /*now*/) {
  if (!in_recovery_) return;
  in_recovery_ = false;
  // RFC 6582 3.2 step 3, full ACK: cwnd = ssthresh (the "deflate the window" option).
  cwnd_ = ssthresh_;
}

void NewReno::on_rto(Instant /*now*/, uint32_t bytes_in_flight) {
  pristine_ = false;
  if (!rto_backed_off_) {
    prior_cwnd_ = in_recovery_ ? std::max(prior_cwnd_, cwnd_) : cwnd_;
    prior_ssthresh_ = in_recovery_ ? std::max(prior_ssthresh_, ssthresh_) : ssthresh_;
  }
  // RFC 5681 3.1 eq. 4, except that when the timer fires again before anything new is
  // acknowledged "the value of ssthresh is held constant".
  if (!rto_backed_off_) ssthresh_ = cc_detail::half_flight_ssthresh(bytes_in_flight, mss_);
  rto_backed_off_ = true;
  // RFC 5681 3.1: after a timeout cwnd is at most the loss window, LW = 1 SMSS.
  cwnd_ = mss_;
  ca_bytes_acked_ = 0;  // RFC 3465 2.1
  // RFC 6582 4: a timeout ends fast recovery.
  in_recovery_ = false;
}

void NewReno::on_congestion_undo(Instant /*now*/) {
  cwnd_ = std::min(std::max(cwnd_, prior_cwnd_), cc_detail::kMaxCwnd);
  ssthresh_ = std::max(ssthresh_, prior_ssthresh_);
  ca_bytes_acked_ = 0;
  in_recovery_ = false;
  rto_backed_off_ = false;
}

void NewReno::on_idle_restart(Instant /*now*/) {
  // RFC 5681 4.1: RW = min(IW, cwnd).
  cwnd_ = std::min(cwnd_, cc_detail::initial_window(config_, mss_));
  ca_bytes_acked_ = 0;
}

void NewReno::set_mss(uint32_t mss) {
  assert(mss > 0);
  mss_ = std::max<uint32_t>(mss, 1);
  if (pristine_) {
    cwnd_ = cc_detail::initial_window(config_, mss_);
  } else {
    cwnd_ = std::max(cwnd_, std::min(mss_, cc_detail::kMaxCwnd));
  }
}

void NewReno::adopt_window(uint32_t cwnd, uint32_t ssthresh) {
  cwnd_ = std::clamp(cwnd, std::min(mss_, cc_detail::kMaxCwnd), cc_detail::kMaxCwnd);
  ssthresh_ = std::max(ssthresh, 2 * mss_);
  ca_bytes_acked_ = 0;
  pristine_ = false;
  in_recovery_ = false;
  rto_backed_off_ = false;
}

}  // namespace tou
