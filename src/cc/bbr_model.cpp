// BBR's model of the path (draft-ietf-ccwg-bbr 5.5): the queue signal that tells
// congestive loss from random loss (tou's deviation), the latest delivery signals,
// the congestion signals and lower bounds, the max_bw filter and ACK aggregation.
// The state machine and the control parameters are in bbr.cpp.
#include <algorithm>
#include <cmath>

#include "cc/bbr.hpp"
#include "cc/bbr_detail.hpp"

namespace tou {

using bbr_detail::seconds;
using bbr_detail::to_bytes;

// tou's deviation from 5.5.10 (the draft takes every loss above BBRLossThresh as
// congestion): loss from a full bottleneck queue comes with a standing queue, every RTT of
// the round above min_rtt; random loss on a path whose queue BBR keeps empty does not.
// Loss counts as congestion (Startup's exit on loss, inflight_hi, bw_lo and inflight_lo)
// only while this round's or the last round's smallest RTT shows a queue; without one, as
// in BBRv1, random loss at the rates of lossy long-haul and wireless paths leaves the model
// alone (a probe's short queue, or one delayed ACK, does not make a round's minimum).
void Bbr::update_queue_signal(const AckEvent& ack) {
  if (!ack.rtt || *ack.rtt <= Duration{0}) return;
  round_min_rtt_ = std::min(round_min_rtt_, *ack.rtt);
  latest_rtt_shows_queue_ = min_rtt_ != Duration::max() && *ack.rtt > min_rtt_ + queue_margin();
}

Duration Bbr::queue_margin() const {
  return std::max(min_rtt_ / kQueueRttDivisor, kQueueRttFloor);
}

// Whether the loss this ACK reports looks like an overfull queue, for the window's
// response in recovery (5.6.4.4): a standing queue, or a queue behind this very ACK (a
// shallow buffer overflows without a standing queue a whole round long).
bool Bbr::loss_is_congestive() const {
  // Without an RTT sample in this round or the last, nothing tells random loss apart.
  if (round_min_rtt_ == Duration::max() && !rtt_in_last_round_) return true;
  return queue_seen() || latest_rtt_shows_queue_;
}

bool Bbr::queue_seen() const {
  return queue_in_last_round_ || round_shows_queue();
}

bool Bbr::round_shows_queue() const {
  if (round_min_rtt_ == Duration::max() || min_rtt_ == Duration::max()) return false;
  return round_min_rtt_ > min_rtt_ + queue_margin();
}

// 5.5.10.3 BBRUpdateLatestDeliverySignals.
void Bbr::update_latest_delivery_signals(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  loss_round_start_ = false;
  bw_latest_ = std::max(bw_latest_, static_cast<double>(rs.delivery_rate()));
  inflight_latest_ = std::max(inflight_latest_, rs.delivered);
  if (rs.has_prior && rs.prior_delivered >= loss_round_delivered_) {
    loss_round_delivered_ = delivered_;
    loss_round_start_ = true;
  }
}

// 5.5.10.3 BBRAdvanceLatestDeliverySignals.
void Bbr::advance_latest_delivery_signals(const AckEvent& ack) {
  if (!loss_round_start_) return;
  bw_latest_ = static_cast<double>(ack.rate.delivery_rate());
  inflight_latest_ = ack.rate.delivered;
}

// 5.5.10.3 BBRUpdateCongestionSignals / BBRAdaptLowerBoundsFromCongestion.
void Bbr::update_congestion_signals(const AckEvent& ack) {
  update_max_bw(ack);
  if (ack.bytes_lost > 0) {
    lost_in_round_ += ack.bytes_lost;
    ++loss_events_in_round_;
  }
  delivered_in_round_ += ack.rate.newly_delivered;
  // tou's deviation from 5.5.10.3, where any loss in a round sets loss_in_round: only a
  // round that lost more than BBRLossThresh of what it delivered counts as congested, so
  // that random (non-congestive) loss below that rate does not ratchet bw_lo and
  // inflight_lo down round after round (the same threshold 5.5.10.2 applies to
  // inflight_hi). Loss from a full queue exceeds it quickly.
  if (static_cast<double>(lost_in_round_) >
          kLossThresh * static_cast<double>(delivered_in_round_) &&
      lost_in_round_ > 0 && queue_seen()) {
    loss_in_round_ = true;
  }
  if (!loss_round_start_) return;
  lost_in_round_ = 0;
  delivered_in_round_ = 0;
  const bool probing =
      state_ == State::kStartup || state_ == State::kProbeBwRefill || state_ == State::kProbeBwUp;
  if (!probing && !loss_in_round_) {
    // tou's deviation, with the one above: a round without congestive loss ends the
    // short-term bounds (the draft keeps them until the next Refill), so that one lossy
    // round among clean ones costs one round, not the rest of the ProbeBW cycle.
    reset_lower_bounds();
  }
  if (!probing && loss_in_round_) {
    // BBRInitLowerBounds, then BBRLossLowerBounds: back off by beta, no lower than what
    // the last round delivered.
    if (std::isinf(bw_lo_)) bw_lo_ = max_bw_;
    if (inflight_lo_ == kInfinity) inflight_lo_ = cwnd_;
    bw_lo_ = std::max(bw_latest_, kBeta * bw_lo_);
    inflight_lo_ =
        std::max<uint64_t>(inflight_latest_, to_bytes(kBeta * static_cast<double>(inflight_lo_)));
  }
  loss_in_round_ = false;
}

// 5.5.5 BBRUpdateMaxBw: application-limited samples only count when they raise the
// estimate (they cannot show the path's capacity, only a lower bound of it).
void Bbr::update_max_bw(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  if (!rs.valid) return;
  const double rate = static_cast<double>(rs.delivery_rate());
  const bool app_limited = rs.is_app_limited || rs.prior_delivered < app_limited_until_;
  if (rate >= max_bw_ || !app_limited) {
    max_bw_slots_[1] = std::max(max_bw_slots_[1], rate);
    max_bw_ = std::max(max_bw_slots_[0], max_bw_slots_[1]);
  }
}

// 5.5.5: the filter window is two ProbeBW cycles; a new cycle drops the oldest.
void Bbr::advance_max_bw_filter() {
  if (max_bw_slots_[1] == 0) return;
  max_bw_slots_[0] = max_bw_slots_[1];
  max_bw_slots_[1] = 0;
}

// 5.5.9 BBRUpdateACKAggregation: how much more was ACKed than bw predicts, max over
// about ten rounds (two windows of five, as Linux).
void Bbr::update_ack_aggregation(const AckEvent& ack) {
  const uint64_t newly = ack.rate.newly_delivered;
  if (newly == 0) return;
  if (!extra_acked_started_) {
    extra_acked_started_ = true;
    extra_acked_interval_start_ = ack.now;
  }
  if (round_start_ && round_count_ - extra_acked_slot_start_round_ >= kExtraAckedRounds) {
    extra_acked_slot_start_round_ = round_count_;
    extra_acked_slot_ ^= 1;
    extra_acked_slots_[static_cast<size_t>(extra_acked_slot_)] = 0;
  }
  uint64_t expected = to_bytes(bw_ * seconds(ack.now - extra_acked_interval_start_));
  if (extra_acked_delivered_ <= expected) {
    extra_acked_delivered_ = 0;
    extra_acked_interval_start_ = ack.now;
    expected = 0;
  }
  extra_acked_delivered_ += newly;
  const uint64_t extra = std::min<uint64_t>(extra_acked_delivered_ - expected, cwnd_);
  uint64_t& slot = extra_acked_slots_[static_cast<size_t>(extra_acked_slot_)];
  slot = std::max(slot, extra);
}

}  // namespace tou
