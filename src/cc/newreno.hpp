// NewReno window management: RFC 5681 slow start and congestion avoidance with
// appropriate byte counting (RFC 3465), the RFC 6928 initial window and the RFC 5681 4.1
// restart window. Loss recovery itself (RFC 6582 / RFC 6675) is the connection's job;
// this class only sets cwnd and ssthresh when told that recovery starts or ends.
//
// Example:
//   NewReno cc({.mss = 1460});
//   cc.on_ack({.now = now, .bytes_acked = 1460, .bytes_in_flight = 14600});
//   if (bytes_in_flight < cc.cwnd()) { /* may send */ }
#pragma once

#include <cstdint>
#include <limits>

#include "cc/congestion_controller.hpp"

namespace tou {

// Helpers shared by the window-based controllers (CUBIC uses Reno's slow start,
// RFC 9438 4.10). Not part of the public API.
namespace cc_detail {

// The largest cwnd a controller reports: 1 GiB, the largest window TCP window scaling can
// express (RFC 7323 2.3). Keeps every sum of a window and an increment inside uint32_t.
inline constexpr uint32_t kMaxCwnd = uint32_t{1} << 30;

// RFC 5681 3.1: "The initial value of ssthresh SHOULD be set arbitrarily high".
inline constexpr uint32_t kInitialSsthresh = std::numeric_limits<uint32_t>::max();

// RFC 3465 2.2: in slow start cwnd grows by at most L * SMSS per ACK, L = 2.
inline constexpr uint32_t kAbcLimit = 2;

// RFC 6928 / RFC 5681 3.1: IW = initial_window_segments * SMSS (at least one segment).
uint32_t initial_window(const CongestionConfig& config, uint32_t mss);

// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
uint32_t half_flight_ssthresh(uint32_t bytes_in_flight, uint32_t mss);

// RFC 7661 spirit: an ACK that arrives while the sender is application-limited, with cwnd
// already at least twice the data in flight, does not validate a larger window; growing
// cwnd there would only build a window the path never carried. Returns true if the ACK
// must not grow cwnd.
bool growth_not_validated(const AckEvent& ack, uint32_t cwnd);

struct SlowStartStep {
  uint32_t cwnd = 0;      // the new window
  uint32_t leftover = 0;  // acknowledged bytes past ssthresh, for congestion avoidance
};

// One slow-start ACK (RFC 5681 3.1 with RFC 3465 2.2, L = 2): cwnd += min(N, L * SMSS),
// stopping at ssthresh; the bytes that were not needed to reach ssthresh are handed back
// so that congestion avoidance can count them. Requires cwnd < ssthresh.
SlowStartStep slow_start(uint32_t cwnd, uint32_t ssthresh, uint32_t mss, uint32_t bytes_acked);

}  // namespace cc_detail

class NewReno final : public CongestionController {
 public:
  // cwnd starts at the initial window (RFC 6928), ssthresh "arbitrarily high" (RFC 5681 3.1).
  explicit NewReno(const CongestionConfig& config = {});

  std::string_view name() const override { return "newreno"; }

  // Slow start while cwnd < ssthresh: cwnd += min(bytes_acked, 2 * SMSS) (RFC 3465 2.2).
  // Congestion avoidance otherwise: one SMSS per cwnd bytes acknowledged, counted exactly
  // in bytes (RFC 5681 3.1 eq. 3 as RFC 3465 2.1 byte counting). No growth for an ACK with
  // bytes_acked == 0, for one in fast recovery (ack.in_recovery: the recovery sets the
  // window), nor for an application-limited one (see growth_not_validated).
  void on_ack(const AckEvent& ack) override;

  // RFC 5681 3.2 step 2 (eq. 4): ssthresh = max(FlightSize / 2, 2 * SMSS); cwnd = ssthresh
  // (RFC 6675 5 step 4: the connection sends by pipe, so no inflation by 3 * SMSS).
  void on_congestion_event(Instant now, uint32_t bytes_in_flight) override;

  // RFC 6582 3.2 step 3, "full ACK": deflate to cwnd = ssthresh. A no-op unless a
  // congestion event started a recovery that no RTO has ended since (RFC 6582 4: after a
  // timeout the sender leaves fast recovery and slow-starts from the loss window).
  void on_recovery_end(Instant now) override;

  // RFC 5681 3.1: ssthresh per eq. 4 and cwnd = LW = 1 SMSS. On back-to-back timeouts
  // (no new data acknowledged in between) ssthresh is held constant, as RFC 5681 3.1 asks
  // for a segment already retransmitted by the timer.
  void on_rto(Instant now, uint32_t bytes_in_flight) override;

  // RFC 3708 / RFC 4015 style restore: cwnd and ssthresh back to at least their values
  // before the spurious reduction; no recovery in progress.
  void on_congestion_undo(Instant now) override;

  // RFC 5681 4.1: cwnd = RW = min(IW, cwnd).
  void on_idle_restart(Instant now) override;

  // Sets SMSS. Before any ACK or event the window is still the initial window and is
  // recomputed for the new SMSS; afterwards cwnd keeps its size in bytes (at least 1 SMSS).
  void set_mss(uint32_t mss) override;

  // cwnd (at least 1 SMSS) and ssthresh as given; no recovery in progress.
  void adopt_window(uint32_t cwnd, uint32_t ssthresh) override;

  uint32_t cwnd() const override { return cwnd_; }
  uint32_t ssthresh() const override { return ssthresh_; }
  uint32_t mss() const { return mss_; }

 private:
  CongestionConfig config_;
  uint32_t mss_;
  uint32_t cwnd_;
  uint32_t ssthresh_ = cc_detail::kInitialSsthresh;
  // RFC 3465 2.1 bytes_acked: bytes acknowledged in congestion avoidance not yet turned
  // into a cwnd increase.
  uint64_t ca_bytes_acked_ = 0;
  uint32_t prior_cwnd_ = 0;      // cwnd before the last reduction (for an undo)
  uint32_t prior_ssthresh_ = 0;  // ssthresh before it
  bool pristine_ = true;         // nothing has happened yet: cwnd is still IW
  bool in_recovery_ = false;     // on_congestion_event seen, no on_recovery_end / on_rto yet
  bool rto_backed_off_ = false;  // on_rto seen, no new data acknowledged since
};

}  // namespace tou
