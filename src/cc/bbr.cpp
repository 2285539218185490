#include "cc/bbr.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "cc/bbr_detail.hpp"
#include "cc/newreno.hpp"

namespace tou {

using bbr_detail::seconds;
using bbr_detail::to_bytes;

const char* Bbr::to_string(State s) {
  switch (s) {
    case State::kStartup:
      return "Startup";
    case State::kDrain:
      return "Drain";
    case State::kProbeBwDown:
      return "ProbeBW_DOWN";
    case State::kProbeBwCruise:
      return "ProbeBW_CRUISE";
    case State::kProbeBwRefill:
      return "ProbeBW_REFILL";
    case State::kProbeBwUp:
      return "ProbeBW_UP";
    case State::kProbeRtt:
      return "ProbeRTT";
  }
  return "?";
}

// 5.2 BBROnInit.
Bbr::Bbr(const CongestionConfig& config)
    : config_(config),
      mss_(std::max<uint32_t>(config.mss, 1)),
      cwnd_(cc_detail::initial_window(config, mss_)),
      ssthresh_(cc_detail::kInitialSsthresh),
      rng_state_(0x9e3779b97f4a7c15ULL ^ config.mss) {
  enter_startup();
}

uint32_t Bbr::initial_cwnd() const {
  return cc_detail::initial_window(config_, mss_);
}

bool Bbr::in_probe_bw() const {
  return state_ == State::kProbeBwDown || state_ == State::kProbeBwCruise ||
         state_ == State::kProbeBwRefill || state_ == State::kProbeBwUp;
}

// 5.6.4.2 BBRBDP.
uint64_t Bbr::bdp(double gain) const {
  if (min_rtt_ == Duration::max()) return initial_cwnd();
  return to_bytes(gain * bw_ * seconds(min_rtt_));
}

// 5.6.4.2 BBRQuantizationBudget: room for the send quantum (three, as offload budget), at
// least BBRMinPipeCwnd, and two more segments while probing up.
uint64_t Bbr::quantization_budget(uint64_t inflight) const {
  inflight = std::max<uint64_t>(inflight, 3 * uint64_t{send_quantum_});
  inflight = std::max<uint64_t>(inflight, min_pipe_cwnd());
  if (state_ == State::kProbeBwUp) inflight += 2 * uint64_t{mss_};
  return inflight;
}

// 5.6.4.2 BBRInflightWithHeadroom: leave room for other flows below inflight_hi.
uint64_t Bbr::inflight_with_headroom() const {
  if (inflight_hi_ == kInfinity) return kInfinity;
  const uint64_t headroom =
      std::max<uint64_t>(mss_, to_bytes(kHeadroom * static_cast<double>(inflight_hi_)));
  const uint64_t below = inflight_hi_ > headroom ? inflight_hi_ - headroom : 0;
  return std::max<uint64_t>(below, min_pipe_cwnd());
}

// 5.3.3.6 BBRTargetInflight: min(bdp, cwnd).
uint64_t Bbr::target_inflight() const {
  return std::min<uint64_t>(bdp(1.0), cwnd_);
}

// 5.3.4.4 BBRProbeRTTCwnd.
uint64_t Bbr::probe_rtt_cwnd() const {
  return std::max<uint64_t>(bdp(kProbeRttCwndGain), min_pipe_cwnd());
}

// ---------------------------------------------------------------------------------------
// 5.2 BBRUpdateOnACK.

void Bbr::on_ack(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  delivered_ += rs.newly_delivered;
  last_pipe_ = ack.pipe;
  cwnd_before_ack_ = cwnd_;
  if (ack.bytes_acked > 0 || rs.newly_delivered > 0) pristine_ = false;
  if (min_rtt_ == Duration::max() && ack.min_rtt > Duration{0}) {
    // 5.2 BBROnInit: min_rtt starts from the connection's estimate when there is one.
    min_rtt_ = ack.min_rtt;
    min_rtt_stamp_ = ack.now;
    probe_rtt_min_delay_ = ack.min_rtt;
    probe_rtt_min_stamp_ = ack.now;
  }
  // 5.6.2 BBRInitPacingRate: the initial window over the first RTT, times Startup's gain.
  // The rate never drops below it before the pipe is full, so a first sample of a few
  // bytes (the handshake's) cannot set a crawl that the next samples then confirm.
  if (pacing_rate_ == 0 && ack.srtt > Duration{0}) {
    pacing_rate_ = kStartupPacingGain * initial_cwnd() / seconds(ack.srtt);
  }
  // 5.5.1 BBRUpdateRound.
  update_round(ack);
  if (ack.rate.valid) round_valid_ = true;
  update_queue_signal(ack);
  // BBRUpdateModelAndState.
  update_latest_delivery_signals(ack);
  update_congestion_signals(ack);
  update_ack_aggregation(ack);
  check_full_bw_reached(ack);
  check_startup_high_loss(ack);
  if (state_ == State::kStartup && full_bw_reached_) enter_drain();
  check_drain_done(ack);
  update_probe_bw_cycle_phase(ack);
  update_min_rtt(ack);
  check_probe_rtt(ack);
  advance_latest_delivery_signals(ack);
  bw_ = std::min(max_bw_, bw_lo_);  // 5.5.10.3 BBRBoundBWForModel
  // BBRUpdateControlParameters.
  set_pacing_rate(pacing_gain_);
  set_send_quantum();
  set_cwnd(ack);
}

void Bbr::update_round(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  round_start_ = false;
  if (rs.has_prior && rs.prior_delivered >= next_round_delivered_) {
    start_round();
    ++round_count_;
    ++rounds_since_bw_probe_;
    round_start_ = true;
    queue_in_last_round_ = round_shows_queue();
    last_round_valid_ = round_valid_;
    round_valid_ = false;
    rtt_in_last_round_ = round_min_rtt_ != Duration::max();
    round_min_rtt_ = Duration::max();
  }
}

// 5.3.1.2 BBRCheckStartupFullBandwidth, run in every state: full_bw_now says the
// bandwidth has stopped growing by 25% for three rounds (ProbeBW_UP uses it too).
void Bbr::check_full_bw_reached(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  // Nor after a round without one valid sample (each interval under min_rtt), which says
  // nothing of growth (Linux counts no round on an invalid sample). A handshake RTT
  // stretched by a reordered SYN-ACK otherwise voids every sample of the first rounds, and
  // Startup ends on the SYN-ACK's own sample of a few bytes (232 bit/s in the grid's
  // reorder_20pct seed 104362362 at offset 2,000,000).
  if (full_bw_now_ || !round_start_ || rs.is_app_limited || !last_round_valid_) return;
  if (max_bw_ >= full_bw_ * kFullBwGrowth) {
    reset_full_bw();
    full_bw_ = max_bw_;
    return;
  }
  ++full_bw_count_;
  full_bw_now_ = full_bw_count_ >= kFullBwCount;
  if (full_bw_now_) full_bw_reached_ = true;
}

// 5.3.1.3 BBRCheckStartupHighLoss: Startup also ends when a round lost more than
// BBRLossThresh of its data in at least kStartupFullLossCount loss events.
void Bbr::check_startup_high_loss(const AckEvent& ack) {
  if (state_ != State::kStartup || full_bw_reached_) return;
  const RateSample& rs = ack.rate;
  const bool too_high = rs.tx_in_flight > 0 &&
                        static_cast<double>(rs.lost) > kLossThresh * rs.tx_in_flight &&
                        queue_seen();
  if (too_high && loss_events_in_round_ >= kStartupFullLossCount) {
    full_bw_reached_ = true;
    inflight_hi_ = std::max<uint64_t>(bdp(1.0), inflight_latest_);
  }
  if (loss_round_start_) loss_events_in_round_ = 0;
}

// 5.3.2 BBRCheckDrainDone: leave Drain once the queue Startup built has drained.
void Bbr::check_drain_done(const AckEvent& ack) {
  if (state_ == State::kDrain && ack.pipe <= inflight(1.0)) enter_probe_bw(ack.now);
}

// 5.3.3.6 BBRUpdateProbeBWCyclePhase.
void Bbr::update_probe_bw_cycle_phase(const AckEvent& ack) {
  if (!full_bw_reached_) return;
  adapt_upper_bounds(ack);
  if (!in_probe_bw()) return;
  switch (state_) {
    case State::kProbeBwDown:
      if (is_time_to_probe_bw(ack)) return;
      if (is_time_to_cruise(ack.pipe)) start_probe_bw_cruise();
      break;
    case State::kProbeBwCruise:
      is_time_to_probe_bw(ack);
      break;
    case State::kProbeBwRefill:
      // After one round of refilling the pipe, probe up.
      if (round_start_) {
        bw_probe_samples_ = 1;
        start_probe_bw_up(ack);
      }
      break;
    case State::kProbeBwUp:
      if (is_time_to_go_down(ack)) start_probe_bw_down(ack.now);
      break;
    default:
      break;
  }
}

// 5.3.3.6 BBRAdaptUpperBounds.
void Bbr::adapt_upper_bounds(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  if (ack_phase_ == AckPhase::kProbeStarting && round_start_) {
    ack_phase_ = AckPhase::kProbeFeedback;  // the first ACKs of the probe arrive
  }
  if (ack_phase_ == AckPhase::kProbeStopping && round_start_) {
    // The samples of the last probe are in: the max_bw filter moves on one cycle (once).
    bw_probe_samples_ = 0;
    ack_phase_ = AckPhase::kInit;
    if (in_probe_bw() && !rs.is_app_limited) advance_max_bw_filter();
  }
  if (check_inflight_too_high(ack)) return;
  if (inflight_hi_ == kInfinity) return;
  if (rs.tx_in_flight > inflight_hi_) inflight_hi_ = rs.tx_in_flight;
  if (state_ == State::kProbeBwUp) probe_inflight_hi_upward(ack);
}

// 5.5.10.2 IsInflightTooHigh: more than BBRLossThresh of what was in flight was lost.
bool Bbr::check_inflight_too_high(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  const bool too_high = rs.tx_in_flight > 0 &&
                        static_cast<double>(rs.lost) > kLossThresh * rs.tx_in_flight &&
                        queue_seen();
  if (!too_high) return false;
  if (bw_probe_samples_ > 0) handle_inflight_too_high(ack);
  return true;
}

// 5.5.10.2 BBRHandleInflightTooHigh.
void Bbr::handle_inflight_too_high(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  bw_probe_samples_ = 0;
  if (!rs.is_app_limited) {
    inflight_hi_ = std::max<uint64_t>(rs.tx_in_flight,
                                      to_bytes(static_cast<double>(target_inflight()) * kBeta));
  }
  if (state_ == State::kProbeBwUp) start_probe_bw_down(ack.now);
}

// 5.3.3.6 BBRProbeInflightHiUpward: grow inflight_hi exponentially per round while
// the window is full.
void Bbr::probe_inflight_hi_upward(const AckEvent& ack) {
  const bool cwnd_limited = ack.bytes_in_flight + mss_ >= cwnd_;
  if (!cwnd_limited || cwnd_ < inflight_hi_) return;
  bw_probe_up_acks_ += ack.rate.newly_delivered;
  if (bw_probe_up_acks_ >= probe_up_cnt_) {
    const uint64_t delta = bw_probe_up_acks_ / probe_up_cnt_;
    bw_probe_up_acks_ -= delta * probe_up_cnt_;
    inflight_hi_ = std::min<uint64_t>(inflight_hi_ + delta * mss_, cc_detail::kMaxCwnd);
  }
  if (round_start_) raise_inflight_hi_slope();
}

// 5.3.3.6 BBRRaiseInflightHiSlope: 1, 2, 4, ... segments more per round.
void Bbr::raise_inflight_hi_slope() {
  const uint64_t growth_this_round = uint64_t{mss_} << std::min(bw_probe_up_rounds_, 30);
  bw_probe_up_rounds_ = std::min(bw_probe_up_rounds_ + 1, 30);
  probe_up_cnt_ = std::max<uint64_t>(cwnd_ * uint64_t{mss_} / growth_this_round, 1);
}

// 5.3.3.6 BBRIsTimeToProbeBW: after the randomised wait, or after as many rounds as
// Reno would take to grow by one BDP (BBRIsRenoCoexistenceProbeTime, capped at 63).
bool Bbr::is_time_to_probe_bw(const AckEvent& ack) {
  const uint64_t reno_rounds = std::min<uint64_t>(target_inflight() / mss_, 63);
  if (ack.now > cycle_stamp_ + bw_probe_wait_ || rounds_since_bw_probe_ >= reno_rounds) {
    start_probe_bw_refill();
    return true;
  }
  return false;
}

// 5.3.3.6 BBRIsTimeToCruise.
bool Bbr::is_time_to_cruise(uint32_t pipe) const {
  if (pipe > inflight_with_headroom()) return false;
  return pipe <= inflight(1.0);
}

// 5.3.3.6 BBRIsTimeToGoDown: the bandwidth stopped growing, or the probe has put
// 1.25 BDP in flight (the earlier draft's rule, so that a probe lasts about a round).
bool Bbr::is_time_to_go_down(const AckEvent& ack) {
  const bool cwnd_limited = ack.bytes_in_flight + mss_ >= cwnd_;
  if (cwnd_limited && inflight_hi_ != kInfinity && cwnd_ >= inflight_hi_) {
    reset_full_bw();
    full_bw_ = static_cast<double>(ack.rate.delivery_rate());
  } else if (full_bw_now_) {
    return true;
  }
  return round_count_ > probe_up_start_round_ && ack.pipe >= inflight(1.25);
}

// 5.5.6 / 5.5.7 BBRUpdateMinRTT: a 10 s min filter, and a 5 s one that schedules ProbeRTT.
void Bbr::update_min_rtt(const AckEvent& ack) {
  probe_rtt_expired_ = ack.now > probe_rtt_min_stamp_ + kProbeRttInterval;
  const std::optional<Duration> rtt = ack.rtt;
  if (rtt && *rtt > Duration{0} && (*rtt < probe_rtt_min_delay_ || probe_rtt_expired_)) {
    probe_rtt_min_delay_ = *rtt;
    probe_rtt_min_stamp_ = ack.now;
  }
  const bool min_rtt_expired = ack.now > min_rtt_stamp_ + kMinRttFilterLen;
  if (probe_rtt_min_delay_ < min_rtt_ || min_rtt_expired) {
    min_rtt_ = probe_rtt_min_delay_;
    min_rtt_stamp_ = probe_rtt_min_stamp_;
  }
}

// 5.3.4.4 BBRCheckProbeRTT.
void Bbr::check_probe_rtt(const AckEvent& ack) {
  if (state_ != State::kProbeRtt && probe_rtt_expired_ && !idle_restart_ &&
      min_rtt_ != Duration::max()) {
    state_ = State::kProbeRtt;
    pacing_gain_ = 1.0;
    cwnd_gain_ = kProbeRttCwndGain;
    ++probe_rtt_count_;
    save_cwnd();
    probe_rtt_done_stamp_.reset();
    ack_phase_ = AckPhase::kProbeStopping;
    start_round();
  }
  if (state_ == State::kProbeRtt) handle_probe_rtt(ack);
  if (ack.rate.newly_delivered > 0) idle_restart_ = false;
}

// 5.3.4.4 BBRHandleProbeRTT: hold inflight at BBRProbeRTTCwnd for 200 ms and a round.
void Bbr::handle_probe_rtt(const AckEvent& ack) {
  // Ignore low rate samples during ProbeRTT (MarkConnectionAppLimited).
  app_limited_until_ = std::max<uint64_t>(delivered_ + ack.pipe, 1);
  if (!probe_rtt_done_stamp_ && ack.pipe <= probe_rtt_cwnd()) {
    probe_rtt_done_stamp_ = ack.now + kProbeRttDuration;
    probe_rtt_round_done_ = false;
    start_round();
  } else if (probe_rtt_done_stamp_) {
    if (round_start_) probe_rtt_round_done_ = true;
    if (probe_rtt_round_done_) check_probe_rtt_done(ack.now);
  }
}

// 5.3.4.4 BBRCheckProbeRTTDone.
void Bbr::check_probe_rtt_done(Instant now) {
  if (!probe_rtt_done_stamp_ || now <= *probe_rtt_done_stamp_) return;
  probe_rtt_min_stamp_ = now;  // schedule the next ProbeRTT
  restore_cwnd();
  exit_probe_rtt(now);
}

// 5.3.4.4 BBRExitProbeRTT.
void Bbr::exit_probe_rtt(Instant now) {
  reset_lower_bounds();
  if (full_bw_reached_) {
    start_probe_bw_down(now);
    start_probe_bw_cruise();
  } else {
    enter_startup();
  }
}

// ---------------------------------------------------------------------------------------
// State transitions.

void Bbr::enter_startup() {
  state_ = State::kStartup;
  pacing_gain_ = kStartupPacingGain;
  cwnd_gain_ = kDefaultCwndGain;
}

void Bbr::enter_drain() {
  state_ = State::kDrain;
  pacing_gain_ = kDrainPacingGain;
  cwnd_gain_ = kDefaultCwndGain;
}

void Bbr::enter_probe_bw(Instant now) {
  cwnd_gain_ = kDefaultCwndGain;
  start_probe_bw_down(now);
}

void Bbr::start_probe_bw_down(Instant now) {
  reset_congestion_signals();
  probe_up_cnt_ = kInfinity;
  pick_probe_wait();
  cycle_stamp_ = now;
  ack_phase_ = AckPhase::kProbeStopping;
  start_round();
  state_ = State::kProbeBwDown;
  pacing_gain_ = 0.9;
  cwnd_gain_ = kDefaultCwndGain;
}

void Bbr::start_probe_bw_cruise() {
  state_ = State::kProbeBwCruise;
  pacing_gain_ = 1.0;
  cwnd_gain_ = kDefaultCwndGain;
}

void Bbr::start_probe_bw_refill() {
  reset_lower_bounds();
  bw_probe_up_rounds_ = 0;
  bw_probe_up_acks_ = 0;
  ack_phase_ = AckPhase::kRefilling;
  start_round();
  state_ = State::kProbeBwRefill;
  pacing_gain_ = 1.0;
  cwnd_gain_ = kDefaultCwndGain;
}

void Bbr::start_probe_bw_up(const AckEvent& ack) {
  ack_phase_ = AckPhase::kProbeStarting;
  start_round();
  probe_up_start_round_ = round_count_;
  reset_full_bw();
  full_bw_ = static_cast<double>(ack.rate.delivery_rate());
  state_ = State::kProbeBwUp;
  pacing_gain_ = 1.25;
  cwnd_gain_ = kProbeUpCwndGain;
  raise_inflight_hi_slope();
}

void Bbr::reset_full_bw() {
  full_bw_ = 0;
  full_bw_count_ = 0;
  full_bw_now_ = false;
}

void Bbr::reset_lower_bounds() {
  bw_lo_ = std::numeric_limits<double>::infinity();
  inflight_lo_ = kInfinity;
}

void Bbr::reset_congestion_signals() {
  loss_in_round_ = false;
  lost_in_round_ = 0;
  delivered_in_round_ = 0;
  loss_events_in_round_ = 0;
  bw_latest_ = 0;
  inflight_latest_ = 0;
}

// 5.3.3.5 BBRPickProbeWait: 0 or 1 rounds, and 2 to 3 seconds. Deterministic (splitmix64).
void Bbr::pick_probe_wait() {
  rng_state_ += 0x9e3779b97f4a7c15ULL;
  uint64_t z = rng_state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  rounds_since_bw_probe_ = z & 1;
  bw_probe_wait_ = std::chrono::seconds(2) + Duration{static_cast<int64_t>((z >> 1) % 1'000'000)};
}

// 5.6.4.4 BBRSaveCwnd / BBRRestoreCwnd.
void Bbr::save_cwnd() {
  if (!in_recovery_ && state_ != State::kProbeRtt) {
    prior_cwnd_ = cwnd_;
  } else {
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
  }
}

void Bbr::restore_cwnd() {
  cwnd_ = std::max(cwnd_, prior_cwnd_);
}

// ---------------------------------------------------------------------------------------
// Control parameters.

// 5.6.2 BBRSetPacingRateWithGain: never lowered before the pipe is full.
void Bbr::set_pacing_rate(double gain) {
  const double rate = gain * bw_ * (100 - kPacingMarginPercent) / 100.0;
  if (rate > 0 && (full_bw_reached_ || rate > pacing_rate_)) pacing_rate_ = rate;
}

// 5.6.3 BBRSetSendQuantum: 1 ms at the pacing rate, between 2 SMSS and 64 KB.
void Bbr::set_send_quantum() {
  const uint64_t quantum = to_bytes(pacing_rate_ / 1000);
  send_quantum_ =
      static_cast<uint32_t>(std::clamp<uint64_t>(quantum, 2 * uint64_t{mss_}, kMaxSendQuantum));
}

// 5.6.4.6 BBRSetCwnd with 5.6.4.4 (recovery), 5.6.4.5 (ProbeRTT) and 5.6.4.7 (model).
void Bbr::set_cwnd(const AckEvent& ack) {
  const RateSample& rs = ack.rate;
  // BBRUpdateMaxInflight: cwnd_gain * BDP plus the ACK aggregation allowance.
  // The excess is bounded by cwnd (5.5.9), which alone would let the window double
  // every round on a path that acknowledges in bursts and queues whatever is sent.
  // Once the pipe is full, Linux also bounds it by 100 ms of bandwidth
  // (bbr_ack_aggregation_cwnd); in Startup the estimate is still growing, and
  // the bound would slow it.
  uint64_t extra_acked = std::max(extra_acked_slots_[0], extra_acked_slots_[1]);
  if (full_bw_reached_) {
    extra_acked = std::min(extra_acked, to_bytes(bw_ * seconds(kExtraAckedMax)));
  }
  const uint64_t max_inflight = quantization_budget(bdp(cwnd_gain_) + extra_acked);
  uint64_t cwnd = cwnd_;
  // BBRModulateCwndForRecovery: losses come off cwnd when they are congestion (tou's
  // deviation, see loss_is_congestive(); random loss would otherwise slow Startup).
  if (ack.bytes_lost > 0 && loss_is_congestive())
    cwnd = std::max<uint64_t>(cwnd > ack.bytes_lost ? cwnd - ack.bytes_lost : 0, mss_);
  if (packet_conservation_) {
    if (round_start_ && round_count_ >= conservation_round_end_) packet_conservation_ = false;
    cwnd = std::max<uint64_t>(cwnd, uint64_t{ack.pipe} + rs.newly_delivered);
  }
  // RFC 7661 (cwnd validation): an ACK of an application-limited flight that used less
  // than half the window does not grow it; the model still sets its upper bound.
  const bool validated = !cc_detail::growth_not_validated(ack, cwnd_);
  if (!packet_conservation_ && !validated) {
    cwnd = std::min<uint64_t>(cwnd, std::max<uint64_t>(max_inflight, cwnd_));
  } else if (!packet_conservation_) {
    if (full_bw_reached_) {
      cwnd = std::min<uint64_t>(cwnd + rs.newly_delivered, max_inflight);
    } else if (cwnd < max_inflight || delivered_ < initial_cwnd()) {
      cwnd += rs.newly_delivered;
    }
    cwnd = std::max<uint64_t>(cwnd, min_pipe_cwnd());
  }
  // BBRBoundCwndForProbeRTT.
  if (state_ == State::kProbeRtt) cwnd = std::min(cwnd, probe_rtt_cwnd());
  // BBRBoundCwndForModel.
  uint64_t cap = kInfinity;
  if (in_probe_bw() && state_ != State::kProbeBwCruise) {
    cap = inflight_hi_;
  } else if (state_ == State::kProbeRtt || state_ == State::kProbeBwCruise) {
    cap = inflight_with_headroom();
  }
  cap = std::min(cap, inflight_lo_);
  cap = std::max<uint64_t>(cap, min_pipe_cwnd());
  cwnd = std::min(cwnd, cap);
  cwnd_ = static_cast<uint32_t>(std::clamp<uint64_t>(cwnd, mss_, cc_detail::kMaxCwnd));
}

// ---------------------------------------------------------------------------------------
// Events.

void Bbr::on_sent(Instant now, uint32_t bytes, uint32_t pipe) {
  // 5.4.1 BBRHandleRestartFromIdle: the first send after an idle period.
  if (pipe > bytes || pristine_) return;
  idle_restart_ = true;
  extra_acked_interval_start_ = now;
  if (in_probe_bw()) {
    set_pacing_rate(1.0);
  } else if (state_ == State::kProbeRtt) {
    check_probe_rtt_done(now);
  }
}

void Bbr::on_congestion_event(Instant /*now*/, uint32_t /*bytes_in_flight*/) {
  pristine_ = false;
  // 5.6.4.4: on entering fast recovery, packet conservation for one round trip. The
  // window saved is the one before the ACK that started the recovery took its losses off
  // (as Linux, whose ssthresh hook saves it before cong_control runs).
  cwnd_ = std::max(cwnd_, cwnd_before_ack_);
  save_cwnd();
  in_recovery_ = true;
  // tou's deviation (see loss_is_congestive()): a loss without a queue is random, not a
  // sign of an overfull bottleneck; the window stays. On a lossy path every round has a
  // loss, and conservation every other round would halve Startup's growth (2x a round to
  // about 1.4x) and hold ProbeBW below the model's window.
  if (!loss_is_congestive()) {
    ++random_loss_recoveries_;
    return;
  }
  cwnd_ = std::max(last_pipe_ + mss_, min_pipe_cwnd());
  cwnd_ = std::min(cwnd_, cc_detail::kMaxCwnd);
  packet_conservation_ = true;
  conservation_round_end_ = round_count_ + 1;
  start_round();
}

void Bbr::on_recovery_end(Instant /*now*/) {
  if (!in_recovery_) return;
  in_recovery_ = false;
  packet_conservation_ = false;
  restore_cwnd();
}

void Bbr::on_rto(Instant /*now*/, uint32_t /*bytes_in_flight*/) {
  pristine_ = false;
  // 5.6.4.4: upon a retransmission timeout, save cwnd and start over from what is in
  // flight (nothing: every segment counts as lost) plus one segment.
  save_cwnd();
  in_recovery_ = false;
  packet_conservation_ = false;
  cwnd_ = mss_;
}

void Bbr::on_congestion_undo(Instant /*now*/) {
  in_recovery_ = false;
  packet_conservation_ = false;
  restore_cwnd();
  reset_lower_bounds();
  loss_in_round_ = false;
  lost_in_round_ = 0;
}

void Bbr::on_idle_restart(Instant now) {
  idle_restart_ = true;
  extra_acked_interval_start_ = now;
  if (in_probe_bw()) set_pacing_rate(1.0);
}

void Bbr::set_mss(uint32_t mss) {
  assert(mss > 0);
  mss_ = std::max<uint32_t>(mss, 1);
  if (pristine_) {
    cwnd_ = initial_cwnd();
  } else {
    cwnd_ = std::max(cwnd_, std::min(mss_, cc_detail::kMaxCwnd));
  }
}

void Bbr::adopt_window(uint32_t cwnd, uint32_t ssthresh) {
  cwnd_ = std::clamp(cwnd, std::min(mss_, cc_detail::kMaxCwnd), cc_detail::kMaxCwnd);
  ssthresh_ = std::max(ssthresh, 2 * mss_);
  pristine_ = false;
}

std::optional<uint64_t> Bbr::pacing_rate(Duration srtt) const {
  if (pacing_rate_ > 0) return std::max<uint64_t>(static_cast<uint64_t>(pacing_rate_), 1);
  // 5.6.2 BBRInitPacingRate: the initial window over the first RTT, times Startup's gain.
  if (srtt <= Duration{0}) return std::nullopt;
  const double nominal = initial_cwnd() / seconds(srtt);
  return std::max<uint64_t>(static_cast<uint64_t>(kStartupPacingGain * nominal), 1);
}

}  // namespace tou
