// CUBIC congestion control, RFC 9438. The window is kept in bytes as a double (the RFC's
// formulas are in segments; every conversion multiplies or divides by SMSS at the place the
// RFC's segment quantity appears). Slow start is Reno's (RFC 9438 4.10), shared with
// NewReno; HyStart++ (RFC 9406) is not implemented.
//
// Example:
//   Cubic cc({.mss = 1460});
//   cc.on_congestion_event(now, flight);  // W_max = cwnd, cwnd = ssthresh = 0.7 * cwnd
//   cc.on_recovery_end(later);
//   cc.on_ack({.now = t, .bytes_acked = 1460, .bytes_in_flight = flight, .srtt = srtt});
#pragma once

#include <cstdint>
#include <optional>

#include "cc/congestion_controller.hpp"

namespace tou {

class Cubic final : public CongestionController {
 public:
  static constexpr double kC = 0.4;     // RFC 9438 4.2: C, in segments / second^3
  static constexpr double kBeta = 0.7;  // RFC 9438 4.6: beta_cubic
  // RFC 9438 4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic), about 0.53.
  static constexpr double kAlpha = 3.0 * (1.0 - kBeta) / (1.0 + kBeta);

  // cwnd starts at the initial window (RFC 6928), ssthresh "arbitrarily high" (RFC 5681 3.1).
  explicit Cubic(const CongestionConfig& config = {});

  std::string_view name() const override { return "cubic"; }

  // ACKs in fast recovery (ack.in_recovery) change nothing; the recovery sets the window.
  // Slow start below ssthresh exactly as NewReno (RFC 9438 4.10, RFC 3465 L = 2). In
  // congestion avoidance, per ACK: W_est grows by alpha_cubic * segments_acked / cwnd
  // (4.3); if W_cubic(t) < W_est the window follows W_est (Reno-friendly region, 4.3),
  // otherwise it moves toward target = W_cubic(t + RTT) clamped to [cwnd, 1.5 * cwnd] by
  // (target - cwnd) / cwnd per segment acknowledged (concave 4.4, convex 4.5). RTT is
  // ack.srtt, or ack.min_rtt while srtt is unknown. Application-limited ACKs (see
  // cc_detail::growth_not_validated) do not grow cwnd and, per 5.8, the time they span
  // is taken out of t by moving the epoch start forward.
  void on_ack(const AckEvent& ack) override;

  // RFC 9438 4.7 fast convergence: W_max = cwnd * (1 + beta) / 2 if cwnd < W_max, else
  // W_max = cwnd; then 4.6: ssthresh = max(cwnd * beta, 2 * SMSS), cwnd = ssthresh. The
  // next congestion avoidance ACK starts a new epoch. cwnd, not FlightSize, is the base
  // (4.6 allows it when cwnd cannot grow while application-limited, which on_ack ensures),
  // so bytes_in_flight is unused.
  void on_congestion_event(Instant now, uint32_t bytes_in_flight) override;

  // RFC 6582 3.2 step 3 full-ACK deflation, cwnd = ssthresh; a no-op unless a congestion
  // event started a recovery that no RTO has ended since.
  void on_recovery_end(Instant now) override;

  // RFC 9438 4.8: cwnd = 1 SMSS (RFC 5681 loss window) and ssthresh as in 4.6,
  // max(cwnd * beta, 2 * SMSS). ssthresh is left alone on a repeated timeout with nothing
  // acknowledged in between (RFC 5681 3.1) and on a timeout during fast recovery, whose
  // reduction was already made for this window (as Linux's tcp_enter_loss does). The
  // first congestion avoidance epoch afterwards uses K = 0 and W_max = cwnd_epoch (4.8).
  void on_rto(Instant now, uint32_t bytes_in_flight) override;

  // The reduction was spurious (RFC 3708 with D-SACK): cwnd, ssthresh and W_max return to
  // their values before it (RFC 9438 4.9 "spurious congestion events"), no recovery.
  void on_congestion_undo(Instant now) override;

  // RFC 5681 4.1: cwnd = min(IW, cwnd). The epoch is closed so that the idle time is not
  // part of t (RFC 9438 5.8); the next congestion avoidance ACK opens a new one.
  void on_idle_restart(Instant now) override;

  // Sets SMSS. Before any ACK or event the window is still the initial window and is
  // recomputed for the new SMSS; afterwards cwnd keeps its size in bytes (at least 1 SMSS).
  void set_mss(uint32_t mss) override;

  // cwnd (at least 1 SMSS) and ssthresh as given, W_max forgotten (as Linux's
  // bictcp_init): the next congestion avoidance ACK opens an epoch with K = 0.
  void adopt_window(uint32_t cwnd, uint32_t ssthresh) override;

  uint32_t cwnd() const override;
  uint32_t ssthresh() const override { return ssthresh_; }
  uint32_t mss() const { return mss_; }

  // Introspection (tests, stats). Windows in bytes.
  double w_max() const { return w_max_; }            // RFC 9438 4.2 W_max; 0 before any loss
  double k_seconds() const { return k_; }            // K of the current epoch
  double w_est() const { return w_est_; }            // RFC 9438 4.3 W_est
  double cwnd_prior() const { return cwnd_prior_; }  // cwnd before the last reduction
  std::optional<Instant> epoch_start() const { return epoch_start_; }
  // RFC 9438 4.2 eq. 1 for the current epoch, in bytes: C * (t - K)^3 * SMSS + W_max.
  double w_cubic(Duration t) const;

 private:
  uint32_t beta_ssthresh() const;
  void save_prior();
  void start_epoch(Instant now);
  void congestion_avoidance(const AckEvent& ack, uint32_t acked);
  double w_cubic_seconds(double t) const;

  CongestionConfig config_;
  uint32_t mss_;
  double cwnd_;  // bytes; cwnd() reports it rounded down
  uint32_t ssthresh_;
  double w_max_ = 0;
  double cwnd_prior_ = 0;
  double k_ = 0;  // seconds
  double w_est_ = 0;
  std::optional<Instant> epoch_start_;  // start of the congestion avoidance epoch
  std::optional<Instant> last_ack_;     // time of the last on_ack with new data
  // RFC 9438 4.9: the state before the last reduction, for an undo.
  double prior_cwnd_ = 0;
  uint32_t prior_ssthresh_ = 0;
  double prior_w_max_ = 0;
  bool pristine_ = true;          // nothing has happened yet: cwnd is still IW
  bool in_recovery_ = false;      // on_congestion_event seen, not yet ended
  bool rto_backed_off_ = false;   // on_rto seen, no new data acknowledged since
  bool epoch_after_rto_ = false;  // the next epoch is the first one after a timeout
};

}  // namespace tou
