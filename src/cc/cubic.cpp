#include "cc/cubic.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "cc/newreno.hpp"

namespace tou {

namespace {

double seconds(Duration d) {
  return static_cast<double>(to_us(d)) / 1e6;
}

}  // namespace

Cubic::Cubic(const CongestionConfig& config)
    : config_(config),
      mss_(std::max<uint32_t>(config.mss, 1)),
      cwnd_(cc_detail::initial_window(config, mss_)),
      ssthresh_(cc_detail::kInitialSsthresh) {}

uint32_t Cubic::cwnd() const {
  return static_cast<uint32_t>(std::clamp(cwnd_, 1.0, double{cc_detail::kMaxCwnd}));
}

double Cubic::w_cubic_seconds(double t) const {
  // RFC 9438 4.2 eq. 1, W_cubic(t) = C * (t - K)^3 + W_max, with C in segments.
  const double d = t - k_;
  return kC * d * d * d * mss_ + w_max_;
}

double Cubic::w_cubic(Duration t) const {
  return w_cubic_seconds(seconds(t));
}

uint32_t Cubic::beta_ssthresh() const {
  // RFC 9438 4.6: max(cwnd * beta_cubic, 2 * SMSS), rounded to the nearest byte.
  return std::max(static_cast<uint32_t>(std::lround(cwnd_ * kBeta)), 2 * mss_);
}

void Cubic::start_epoch(Instant now) {
  epoch_start_ = now;
  // RFC 9438 4.3: W_est starts at cwnd_epoch; 4.8: so it does after a timeout.
  w_est_ = cwnd_;
  if (epoch_after_rto_ || w_max_ <= cwnd_) {
    // RFC 9438 4.8: the first epoch after a timeout has K = 0 and W_max = cwnd_epoch. The
    // same holds when cwnd has already reached W_max (e.g. slow start after an idle restart
    // went past it): eq. 2 would have no real root, and the curve starts convex from here.
    w_max_ = cwnd_;
    k_ = 0;
    epoch_after_rto_ = false;
  } else {
    // RFC 9438 4.2 eq. 2: K = cubic_root((W_max - cwnd_epoch) / C), in segments. With
    // cwnd_epoch = beta * W_max it is the familiar cubic_root(W_max * (1 - beta) / C).
    k_ = std::cbrt((w_max_ - cwnd_) / mss_ / kC);
  }
}

void Cubic::on_ack(const AckEvent& ack) {
  // Loss recovery sets the window while it lasts (RFC 6582 3.2, RFC 6675 5).
  if (ack.bytes_acked == 0 || ack.in_recovery) return;
  pristine_ = false;
  rto_backed_off_ = false;
  const Instant previous_ack = last_ack_.value_or(ack.now);
  last_ack_ = ack.now;
  if (cc_detail::growth_not_validated(ack, cwnd())) {
    // RFC 9438 5.8: t "MUST NOT include" periods in which cwnd did not grow because the
    // sender was application-limited; move the epoch start forward by this ACK's share.
    if (epoch_start_ && ack.now > previous_ack) {
      epoch_start_ = std::min(ack.now, *epoch_start_ + (ack.now - previous_ack));
    }
    return;
  }

  uint32_t acked = ack.bytes_acked;
  if (cwnd() < ssthresh_) {
    // RFC 9438 4.10: slow start as Reno (RFC 5681 3.1 with RFC 3465 L = 2).
    const auto step = cc_detail::slow_start(cwnd(), ssthresh_, mss_, acked);
    cwnd_ = step.cwnd;
    acked = step.leftover;
  }
  if (cwnd() < ssthresh_ || acked == 0) return;
  congestion_avoidance(ack, acked);
}

void Cubic::congestion_avoidance(const AckEvent& ack, uint32_t acked) {
  if (!epoch_start_) start_epoch(ack.now);
  const double t = std::max(0.0, seconds(ack.now - *epoch_start_));
  const Duration rtt_sample = ack.srtt > Duration{0} ? ack.srtt : ack.min_rtt;
  const double rtt = std::max(0.0, seconds(rtt_sample));

  // RFC 9438 4.3: W_est += alpha_cubic * segments_acked / cwnd (in segments; the byte form
  // is alpha * acked * SMSS / cwnd). Once W_est reaches cwnd_prior, alpha becomes 1.
  const double alpha = w_est_ >= cwnd_prior_ ? 1.0 : kAlpha;
  w_est_ += alpha * acked * mss_ / cwnd_;

  if (w_cubic_seconds(t) < w_est_) {
    // RFC 9438 4.3, Reno-friendly region: cwnd = W_est (never a decrease in avoidance).
    cwnd_ = std::max(cwnd_, w_est_);
  } else {
    // RFC 9438 4.2 target: W_cubic(t + RTT) clamped to [cwnd, 1.5 * cwnd]; then 4.4
    // (concave) and 4.5 (convex) alike: cwnd += (target - cwnd) / cwnd per segment
    // acknowledged, i.e. (target - cwnd) * acked / cwnd in bytes. A stretch ACK for more
    // than a window does not carry cwnd past the target.
    const double target = std::clamp(w_cubic_seconds(t + rtt), cwnd_, 1.5 * cwnd_);
    cwnd_ += (target - cwnd_) * std::min(1.0, acked / cwnd_);
  }
  cwnd_ = std::min(cwnd_, double{cc_detail::kMaxCwnd});
}

void Cubic::on_congestion_event(Instant /*now*/, uint32_t /*bytes_in_flight*/) {
  pristine_ = false;
  save_prior();
  // RFC 9438 4.7 fast convergence, applied before the reduction.
  w_max_ = cwnd_ < w_max_ ? cwnd_ * (1.0 + kBeta) / 2.0 : cwnd_;
  // RFC 9438 4.6: cwnd_prior = cwnd; ssthresh = max(cwnd * beta, 2 * SMSS); cwnd = ssthresh.
  cwnd_prior_ = cwnd_;
  ssthresh_ = beta_ssthresh();
  cwnd_ = ssthresh_;
  epoch_start_.reset();
  epoch_after_rto_ = false;
  in_recovery_ = true;
}

void Cubic::on_recovery_end(Instant /*now*/) {
  if (!in_recovery_) return;
  in_recovery_ = false;
  // RFC 6582 3.2 step 3: cwnd = ssthresh.
  cwnd_ = ssthresh_;
}

void Cubic::on_rto(Instant /*now*/, uint32_t /*bytes_in_flight*/) {
  pristine_ = false;
  if (!rto_backed_off_ && !in_recovery_) save_prior();
  if (!rto_backed_off_ && !in_recovery_) {
    // RFC 9438 4.8: ssthresh as in 4.6.
    cwnd_prior_ = cwnd_;
    ssthresh_ = beta_ssthresh();
  }
  rto_backed_off_ = true;
  in_recovery_ = false;
  // RFC 9438 4.8 / RFC 5681 3.1: cwnd = LW = 1 SMSS.
  cwnd_ = mss_;
  epoch_start_.reset();
  epoch_after_rto_ = true;
}

void Cubic::save_prior() {
  prior_cwnd_ = cwnd_;
  prior_ssthresh_ = ssthresh_;
  prior_w_max_ = w_max_;
}

void Cubic::on_congestion_undo(Instant /*now*/) {
  // RFC 9438 4.9: restore cwnd, ssthresh and W_max from before the spurious event.
  cwnd_ = std::min(std::max(cwnd_, prior_cwnd_), double{cc_detail::kMaxCwnd});
  ssthresh_ = std::max(ssthresh_, prior_ssthresh_);
  w_max_ = prior_w_max_;
  epoch_start_.reset();
  epoch_after_rto_ = false;
  in_recovery_ = false;
  rto_backed_off_ = false;
}

void Cubic::on_idle_restart(Instant /*now*/) {
  // RFC 5681 4.1: RW = min(IW, cwnd).
  cwnd_ = std::min(cwnd_, static_cast<double>(cc_detail::initial_window(config_, mss_)));
  // RFC 9438 5.8: idle time is not part of t.
  epoch_start_.reset();
}

void Cubic::set_mss(uint32_t mss) {
  assert(mss > 0);
  mss_ = std::max<uint32_t>(mss, 1);
  if (pristine_) {
    cwnd_ = cc_detail::initial_window(config_, mss_);
  } else {
    cwnd_ = std::max(cwnd_, static_cast<double>(std::min(mss_, cc_detail::kMaxCwnd)));
  }
}

void Cubic::adopt_window(uint32_t cwnd, uint32_t ssthresh) {
  cwnd_ = std::clamp<double>(cwnd, std::min(mss_, cc_detail::kMaxCwnd), cc_detail::kMaxCwnd);
  ssthresh_ = std::max(ssthresh, 2 * mss_);
  w_max_ = 0;
  cwnd_prior_ = 0;
  k_ = 0;
  w_est_ = 0;
  epoch_start_.reset();
  last_ack_.reset();
  pristine_ = false;
  in_recovery_ = false;
  rto_backed_off_ = false;
  epoch_after_rto_ = false;
}

}  // namespace tou
