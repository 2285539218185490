// Retransmission timer computation, RFC 6298, with Karn's algorithm left to
// the caller (it only feeds samples from segments not retransmitted, or from
// timestamps, RFC 7323 4.2).
#pragma once

#include <cstdint>

#include "base/time.hpp"

namespace tou {

struct RttConfig {
  Duration initial_rto = std::chrono::seconds(1);       // RFC 6298 (2.1)
  Duration min_rto = std::chrono::milliseconds(200);    // Linux's floor; RFC 6298 (2.4) says 1 s
  Duration max_rto = std::chrono::seconds(60);          // RFC 6298 (2.5)
  Duration granularity = std::chrono::milliseconds(1);  // G in RFC 6298 (2.2)
  // What min_rto floors. RFC 6298 (2.4) floors the RTO. Linux floors the variance term
  // (tcp_rtt_estimator keeps rttvar >= tcp_rto_min), so RTO >= SRTT + min_rto: RTTVAR,
  // updated on every ACK, decays to almost nothing on a steady path, and an RTO of
  // SRTT + a millisecond then fires whenever one retransmission is lost, before RACK
  // (RFC 8985 6.2) can find it a round trip later, and resends the whole flight.
  enum class Floor : uint8_t { kVariance, kRto };
  Floor floor = Floor::kVariance;
};

class RttEstimator {
 public:
  explicit RttEstimator(const RttConfig& config = {});

  // RFC 6298 (2.2) first sample, (2.3) later samples; then RTO = SRTT + max(G, 4*RTTVAR)
  // with min_rto as RttConfig::floor says, capped at max_rto (2.4, 2.5). Resets the backoff (5.7
  // note: a new sample after backoff restarts from the computed RTO).
  void on_sample(Duration rtt);

  // RFC 6298 (5.5): double the RTO (capped at max_rto).
  void backoff();
  // RFC 6298 (5.7): after a SYN timeout with no RTT sample, data starts from an
  // RTO of at least `rto` (3 s) with the backoff cleared.
  void restart_from(Duration rto);
  // The timeout that backed the RTO off was spurious (RFC 4015 3.2, as F-RTO tells).
  void clear_backoff() { backoffs_ = 0; }
  // Number of consecutive backoffs since the last sample.
  int backoff_count() const { return backoffs_; }

  Duration rto() const;  // current RTO including backoff
  bool has_sample() const { return has_sample_; }
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  Duration latest() const { return latest_; }
  Duration min_rtt() const { return min_rtt_; }  // 0 until the first sample

 private:
  RttConfig config_;
  bool has_sample_ = false;
  Duration srtt_{0};
  Duration rttvar_{0};
  Duration latest_{0};
  Duration min_rtt_{0};
  Duration base_rto_;
  int backoffs_ = 0;
};

}  // namespace tou
