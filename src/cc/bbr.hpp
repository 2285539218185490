// BBR congestion control, draft-ietf-ccwg-bbr (BBRv3): a model of the path (the
// bottleneck bandwidth, max_bw, and the round-trip propagation delay, min_rtt) drives the
// pacing rate and bounds the data in flight; loss and ECN-free congestion signals set
// short-term bounds (inflight_hi, inflight_lo, bw_lo). The state machine: Startup, Drain,
// ProbeBW (Down, Cruise, Refill, Up) and ProbeRTT. Section numbers below are the draft's.
//
// It reads the delivery-rate sample of every ACK (AckEvent::rate), recovery included,
// and answers with cwnd() and pacing_rate(). Sizes in bytes, bandwidth in bytes per second.
// Randomness (the ProbeBW wait of 4.3.3.6) comes from a deterministic generator seeded
// by the configuration, so runs stay reproducible.
//
// Example:
//   Bbr cc({.mss = 1460});
//   cc.on_ack(ack);  // every ACK
//   if (pipe < cc.cwnd()) send_paced_at(*cc.pacing_rate(srtt));
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>

#include "cc/congestion_controller.hpp"

namespace tou {

class Bbr final : public CongestionController {
 public:
  enum class State : uint8_t {
    kStartup,
    kDrain,
    kProbeBwDown,
    kProbeBwCruise,
    kProbeBwRefill,
    kProbeBwUp,
    kProbeRtt,
  };

  // 2.8 / 5.1: parameters.
  static constexpr double kStartupPacingGain = 2.77;  // 4 * ln(2)
  static constexpr double kDrainPacingGain = 0.35;    // 5.3.2 (about 1 / 2.885)
  static constexpr double kDefaultCwndGain = 2.0;
  static constexpr double kProbeUpCwndGain = 2.25;
  static constexpr double kLossThresh = 0.02;  // 5.5.10.2 BBRLossThresh
  // tou's deviation (see queue_seen()): loss counts as congestion only when every RTT of a
  // round shows a queue, above min_rtt by the larger of min_rtt / kQueueRttDivisor and
  // kQueueRttFloor.
  static constexpr int kQueueRttDivisor = 32;
  static constexpr Duration kQueueRttFloor = std::chrono::milliseconds(1);
  static constexpr double kBeta = 0.7;              // 5.5.10.3 BBRBeta
  static constexpr double kHeadroom = 0.15;         // 5.6.4.2 BBRHeadroom
  static constexpr double kProbeRttCwndGain = 0.5;  // 5.3.4.4
  static constexpr int kPacingMarginPercent = 1;    // 5.6.2
  static constexpr int kFullBwCount = 3;            // 5.3.1.2: rounds without growth
  static constexpr double kFullBwGrowth = 1.25;     // 5.3.1.2: 25% growth
  static constexpr int kStartupFullLossCount = 6;   // 5.3.1.3
  static constexpr int kMinPipeSegments = 4;        // 5.6.4.1 BBRMinPipeCwnd
  static constexpr Duration kProbeRttInterval = std::chrono::seconds(5);  // 5.3.4.4
  static constexpr Duration kMinRttFilterLen = std::chrono::seconds(10);  // 5.3.4.4
  static constexpr Duration kProbeRttDuration = std::chrono::milliseconds(200);
  static constexpr uint32_t kMaxSendQuantum = 64 * 1024;  // 5.6.3
  static constexpr int kExtraAckedRounds = 5;             // half of the 10-round filter (5.5.9)
  // The most ACK aggregation adds to the window: this long at the estimated bandwidth
  // (Linux's bbr_extra_acked_max_us).
  static constexpr Duration kExtraAckedMax = std::chrono::milliseconds(100);

  explicit Bbr(const CongestionConfig& config = {});

  std::string_view name() const override { return "bbr"; }

  // 5.2 BBRUpdateOnACK: model (bandwidth, min_rtt, congestion signals, state machine),
  // then the control parameters (pacing rate, send quantum, cwnd).
  void on_ack(const AckEvent& ack) override;
  // 5.4.1 restart from idle.
  void on_sent(Instant now, uint32_t bytes, uint32_t pipe) override;
  // 5.6.4.4 fast recovery: save cwnd, packet conservation for one round.
  void on_congestion_event(Instant now, uint32_t bytes_in_flight) override;
  // 5.6.4.4: restore the cwnd saved when recovery began.
  void on_recovery_end(Instant now) override;
  // 5.6.4.4 retransmission timeout: save cwnd, cwnd = 1 SMSS (nothing is in flight).
  void on_rto(Instant now, uint32_t bytes_in_flight) override;
  // A spurious recovery or timeout (RFC 3708): the losses it counted were not losses;
  // restore cwnd and drop the short-term bounds they set.
  void on_congestion_undo(Instant now) override;
  // BBR does not reduce cwnd after idle (Linux skips tcp_cwnd_restart for it); the pacing
  // rate carries on at the estimated bandwidth (5.4.1).
  void on_idle_restart(Instant now) override;
  void set_mss(uint32_t mss) override;
  void adopt_window(uint32_t cwnd, uint32_t ssthresh) override;
  uint32_t cwnd() const override { return cwnd_; }
  // BBR keeps no slow-start threshold; reported "arbitrarily high" outside recovery.
  uint32_t ssthresh() const override { return ssthresh_; }
  std::optional<uint64_t> pacing_rate(Duration srtt) const override;

  // Introspection (tests, stats).
  State state() const { return state_; }
  double max_bw() const { return max_bw_; }      // bytes per second
  double bw() const { return bw_; }              // min(max_bw, bw_lo)
  Duration min_rtt() const { return min_rtt_; }  // Duration::max() before a sample
  uint64_t inflight_hi() const { return inflight_hi_; }
  uint64_t inflight_lo() const { return inflight_lo_; }
  bool full_bw_reached() const { return full_bw_reached_; }
  uint64_t round_count() const { return round_count_; }
  uint64_t probe_rtt_count() const { return probe_rtt_count_; }
  // Recoveries begun without a standing queue (random loss): no packet conservation.
  uint64_t random_loss_recoveries() const { return random_loss_recoveries_; }
  uint32_t send_quantum() const override { return send_quantum_; }
  static const char* to_string(State s);

 private:
  static constexpr uint64_t kInfinity = std::numeric_limits<uint64_t>::max();

  bool in_probe_bw() const;
  uint32_t min_pipe_cwnd() const { return kMinPipeSegments * mss_; }
  uint64_t bdp(double gain) const;
  uint64_t quantization_budget(uint64_t inflight) const;
  uint64_t inflight(double gain) const { return quantization_budget(bdp(gain)); }
  uint64_t inflight_with_headroom() const;
  uint64_t target_inflight() const;
  uint64_t probe_rtt_cwnd() const;

  void update_round(const AckEvent& ack);
  void update_queue_signal(const AckEvent& ack);
  bool queue_seen() const;
  bool round_shows_queue() const;  // this round's smallest RTT so far
  Duration queue_margin() const;
  bool loss_is_congestive() const;
  void update_latest_delivery_signals(const AckEvent& ack);
  void advance_latest_delivery_signals(const AckEvent& ack);
  void update_congestion_signals(const AckEvent& ack);
  void update_max_bw(const AckEvent& ack);
  void advance_max_bw_filter();
  void update_ack_aggregation(const AckEvent& ack);
  void check_full_bw_reached(const AckEvent& ack);
  void check_startup_high_loss(const AckEvent& ack);
  void check_drain_done(const AckEvent& ack);
  void update_probe_bw_cycle_phase(const AckEvent& ack);
  void adapt_upper_bounds(const AckEvent& ack);
  bool check_inflight_too_high(const AckEvent& ack);
  void handle_inflight_too_high(const AckEvent& ack);
  void probe_inflight_hi_upward(const AckEvent& ack);
  void raise_inflight_hi_slope();
  bool is_time_to_probe_bw(const AckEvent& ack);
  bool is_time_to_cruise(uint32_t pipe) const;
  bool is_time_to_go_down(const AckEvent& ack);
  void update_min_rtt(const AckEvent& ack);
  void check_probe_rtt(const AckEvent& ack);
  void handle_probe_rtt(const AckEvent& ack);
  void check_probe_rtt_done(Instant now);
  void exit_probe_rtt(Instant now);

  void enter_startup();
  void enter_drain();
  void enter_probe_bw(Instant now);
  void start_probe_bw_down(Instant now);
  void start_probe_bw_cruise();
  void start_probe_bw_refill();
  void start_probe_bw_up(const AckEvent& ack);
  void start_round() { next_round_delivered_ = delivered_; }
  void reset_full_bw();
  void reset_lower_bounds();
  void reset_congestion_signals();
  void pick_probe_wait();
  void save_cwnd();
  void restore_cwnd();

  void set_pacing_rate(double gain);
  void set_send_quantum();
  void set_cwnd(const AckEvent& ack);
  uint32_t initial_cwnd() const;

  CongestionConfig config_;
  uint32_t mss_;
  uint32_t cwnd_;
  uint32_t ssthresh_;
  bool pristine_ = true;
  State state_ = State::kStartup;
  double pacing_gain_ = kStartupPacingGain;
  double cwnd_gain_ = kDefaultCwndGain;
  double pacing_rate_ = 0;  // bytes per second; 0 = not yet known
  uint32_t send_quantum_ = 0;

  // Round counting (5.5.1), on the sampler's delivered counter.
  uint64_t delivered_ = 0;
  uint64_t next_round_delivered_ = 0;
  uint64_t round_count_ = 0;
  bool round_start_ = false;

  // Bandwidth model (5.5.2 - 5.5.5): max_bw over two ProbeBW cycles.
  std::array<double, 2> max_bw_slots_{0, 0};
  double max_bw_ = 0;
  double bw_lo_ = std::numeric_limits<double>::infinity();
  double bw_ = 0;
  double bw_latest_ = 0;
  uint64_t inflight_latest_ = 0;
  uint64_t inflight_hi_ = kInfinity;
  uint64_t inflight_lo_ = kInfinity;
  uint64_t loss_round_delivered_ = 0;
  bool loss_round_start_ = false;
  bool loss_in_round_ = false;
  int loss_events_in_round_ = 0;
  uint64_t lost_in_round_ = 0;
  uint64_t delivered_in_round_ = 0;
  // The smallest RTT sample of this round (5.5.1 rounds), and whether the last round's
  // smallest was above min_rtt by the queue margin: a standing queue.
  Duration round_min_rtt_ = Duration::max();
  bool queue_in_last_round_ = false;
  bool round_valid_ = false;             // this round had a valid rate sample
  bool last_round_valid_ = false;        // the last round had one
  bool latest_rtt_shows_queue_ = false;  // the latest RTT sample was above the margin
  bool rtt_in_last_round_ = false;       // the last round had an RTT sample

  // min_rtt (5.5.6 - 5.5.7).
  Duration min_rtt_ = Duration::max();
  Instant min_rtt_stamp_{};
  Duration probe_rtt_min_delay_ = Duration::max();
  Instant probe_rtt_min_stamp_{};
  bool probe_rtt_expired_ = false;
  std::optional<Instant> probe_rtt_done_stamp_;
  bool probe_rtt_round_done_ = false;
  uint64_t probe_rtt_count_ = 0;
  uint64_t random_loss_recoveries_ = 0;
  // Samples taken while ProbeRTT holds the window down say nothing about bandwidth:
  // they count as application-limited until this much is delivered (5.3.4.4).
  uint64_t app_limited_until_ = 0;

  // Startup (5.3.1).
  bool full_bw_reached_ = false;
  bool full_bw_now_ = false;
  double full_bw_ = 0;
  int full_bw_count_ = 0;

  // ProbeBW (5.3.3).
  enum class AckPhase : uint8_t {
    kInit,
    kProbeStarting,
    kProbeFeedback,
    kProbeStopping,
    kRefilling
  };
  AckPhase ack_phase_ = AckPhase::kInit;
  Instant cycle_stamp_{};
  Duration bw_probe_wait_{0};
  uint64_t rounds_since_bw_probe_ = 0;
  int bw_probe_samples_ = 0;
  int bw_probe_up_rounds_ = 0;
  uint64_t bw_probe_up_acks_ = 0;
  uint64_t probe_up_cnt_ = kInfinity;
  uint64_t probe_up_start_round_ = 0;
  uint64_t rng_state_;

  // ACK aggregation (5.5.9): extra_acked over two windows of kExtraAckedRounds.
  std::array<uint64_t, 2> extra_acked_slots_{0, 0};
  int extra_acked_slot_ = 0;
  uint64_t extra_acked_slot_start_round_ = 0;
  Instant extra_acked_interval_start_{};
  uint64_t extra_acked_delivered_ = 0;
  bool extra_acked_started_ = false;

  // Recovery (5.6.4.4).
  uint32_t prior_cwnd_ = 0;
  bool in_recovery_ = false;
  bool packet_conservation_ = false;
  uint64_t conservation_round_end_ = 0;
  uint32_t last_pipe_ = 0;
  uint32_t cwnd_before_ack_ = 0;  // cwnd when the latest on_ack began
  bool idle_restart_ = false;
};

}  // namespace tou
