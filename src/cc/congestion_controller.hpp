// Congestion control behind a small interface (as smoltcp and quiche do).
// Loss recovery (RFC 6675 / RFC 6582 / RFC 8985, the sent-segment records and the
// delivery-rate sampler in core/recovery) owns the controller: it gives it one AckEvent
// on EVERY acknowledgment, recovery included, plus the recovery, timeout and send events;
// the controller answers with cwnd and a pacing rate.
// All sizes are in bytes. Sans-I/O: time only arrives as arguments.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/time.hpp"
#include "core/recovery/rate_sampler.hpp"

namespace tou {

struct AckEvent {
  Instant now;
  uint32_t bytes_acked = 0;      // newly cumulatively acknowledged bytes
  uint32_t bytes_in_flight = 0;  // FlightSize before this ACK
  std::optional<Duration> rtt;   // RTT sample from this ACK, if any
  Duration min_rtt{0};           // smallest RTT seen so far (0 = unknown)
  Duration srtt{0};              // smoothed RTT (0 = unknown)
  bool app_limited = false;      // the sender had nothing more to send (RFC 7661 spirit)
  // What loss recovery learnt from this ACK (every ACK reaches the controller):
  uint32_t bytes_sacked = 0;  // newly SACKed (RFC 6675)
  uint32_t bytes_lost = 0;    // newly marked lost (RFC 6675 IsLost, RFC 8985 RACK)
  uint32_t pipe = 0;          // bytes in the network after this ACK (RFC 6675 SetPipe)
  // The ACK arrived in fast recovery (including the one that ends it): loss-based
  // controllers leave the window to the recovery (RFC 6582 / RFC 6675).
  bool in_recovery = false;
  RateSample rate;  // the delivery-rate sample of this ACK (draft-cheng-iccrg-...)
};

class CongestionController {
 public:
  virtual ~CongestionController() = default;

  virtual std::string_view name() const = 0;

  // Every ACK, in loss recovery too (ack.in_recovery): grow the window when new data is
  // acknowledged (RFC 5681 3.1 slow start / congestion avoidance, RFC 9438 for CUBIC),
  // update the model (BBR).
  virtual void on_ack(const AckEvent& ack) = 0;

  // A data segment (new or retransmitted) of `bytes` left; `pipe` is the bytes in the
  // network after it. For the controllers that model the path (BBR's restart from idle).
  virtual void on_sent(Instant /*now*/, uint32_t /*bytes*/, uint32_t /*pipe*/) {}

  // Loss detected by fast retransmit / SACK (RFC 5681 3.2, RFC 6675 5 step 4):
  // set ssthresh and cwnd for the recovery that starts now.
  virtual void on_congestion_event(Instant now, uint32_t bytes_in_flight) = 0;

  // Loss recovery has ended (RFC 6582 3.2 step 3 / RFC 6675 5 "exit").
  virtual void on_recovery_end(Instant now) = 0;

  // Retransmission timeout (RFC 5681 3.1 eq. 4 and the loss window: cwnd = 1 MSS).
  virtual void on_rto(Instant now, uint32_t bytes_in_flight) = 0;

  // The last fast recovery or timeout was spurious (RFC 3708 with D-SACK, RFC 2883): every
  // retransmission of it was a duplicate, nothing was lost. Restores the window it reduced
  // (as Linux's tcp_undo_cwnd_reduction: cwnd = max(cwnd, prior cwnd), likewise ssthresh)
  // and ends the recovery.
  virtual void on_congestion_undo(Instant now) = 0;

  // The connection has been idle for longer than an RTO (RFC 5681 4.1 restart window).
  virtual void on_idle_restart(Instant now) = 0;

  virtual void set_mss(uint32_t mss) = 0;

  // Takes over the window of the controller this one replaces (TCP_CONGESTION
  // on an open connection). Linux keeps cwnd and ssthresh in the socket across
  // the switch and re-initialises only the algorithm's own state; so does this.
  virtual void adopt_window(uint32_t cwnd, uint32_t ssthresh) = 0;
  virtual uint32_t cwnd() const = 0;
  virtual uint32_t ssthresh() const = 0;
  bool in_slow_start() const { return cwnd() < ssthresh(); }

  // Pacing hook: the rate (bytes/second) at which to spread a window over an RTT,
  // or nullopt for no pacing. Default: Linux's ratios, 2x in slow start, 1.2x after.
  virtual std::optional<uint64_t> pacing_rate(Duration srtt) const;

  // Bytes the sender may send back to back to make up for a paced send that ran late (a
  // timer's slack, a loaded machine): BBR's send quantum (draft-ietf-ccwg-bbr 5.6.3).
  // 0, the default, keeps strict pacing: time lost to a late wake-up is not made up.
  virtual uint32_t send_quantum() const { return 0; }
};

struct CongestionConfig {
  uint32_t mss = 1460;
  uint32_t initial_window_segments = 10;  // RFC 6928
};

// Registry: creates a controller by name ("newreno", "cubic"); nullptr if unknown.
std::unique_ptr<CongestionController> make_congestion_controller(std::string_view name,
                                                                 const CongestionConfig& config);
// Names the registry knows, in a stable order.
std::vector<std::string_view> congestion_controller_names();

}  // namespace tou
