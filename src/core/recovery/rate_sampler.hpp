// Delivery-rate estimation, draft-cheng-iccrg-delivery-rate-estimation (Linux tcp_rate.c is
// the reference): every transmission is stamped with the connection's delivery state, and
// when it is delivered (cumulatively ACKed or SACKed) the newest such stamp of the ACK gives
// one rate sample per ACK: bytes delivered over the longer of the send and ACK intervals.
// Sans-I/O: time only arrives as arguments.
//
// Example:
//   DeliveryRateSampler rate;
//   seg.stamp = rate.on_sent(now, queue_was_empty, pipe_after);  // per (re)transmission
//   rate.on_delivered(seg.stamp, seg.last_sent, seg.end(), seg.len, now);  // per delivery
//   RateSample rs = rate.generate(now, min_rtt);  // once per ACK
#pragma once

#include <cstdint>
#include <optional>

#include "base/time.hpp"
#include "wire/seq_num.hpp"

namespace tou {

// The per-transmission state of the draft's section 3.2 (P.delivered, P.delivered_time,
// P.first_send_time, P.is_app_limited), plus BBR's P.lost and P.tx_in_flight.
struct DeliveryStamp {
  uint64_t delivered = 0;       // C.delivered when sent
  Instant delivered_time{};     // C.delivered_time when sent
  Instant first_send_time{};    // C.first_send_time when sent
  uint64_t lost = 0;            // C.lost when sent
  uint32_t tx_in_flight = 0;    // bytes in flight just after this transmission
  bool is_app_limited = false;  // C.app_limited was set when sent
};

// One ACK's rate sample (the draft's "rs").
struct RateSample {
  bool valid = false;      // false: no delivery, or an interval shorter than min_rtt
  bool has_prior = false;  // a transmission was newly delivered: the prior_* fields hold
  uint64_t delivered = 0;  // bytes delivered in [prior, now]
  Duration interval{0};    // max(send_elapsed, ack_elapsed)
  Duration send_elapsed{0};
  Duration ack_elapsed{0};
  uint64_t prior_delivered = 0;  // P.delivered of the newest delivered transmission
  Duration rtt{-1};              // now - send time of that transmission; < 0 unknown
  bool is_app_limited = false;
  uint64_t lost = 0;             // C.lost - P.lost: bytes lost since it was sent
  uint32_t tx_in_flight = 0;     // P.tx_in_flight
  uint64_t newly_delivered = 0;  // bytes delivered by this ACK
  bool round_start = false;      // a delivery round trip ended with this ACK (BBR 4.5.1)
  uint64_t round_count = 0;
  // delivered / interval in bytes per second; 0 when not valid.
  uint64_t delivery_rate() const;
};

class DeliveryRateSampler {
 public:
  // A (re)transmission at `now` (draft 3.2 "Upon sending a packet"); `nothing_outstanding`
  // when no earlier record awaits an ACK, `in_flight` the bytes in the network including
  // this one. Returns the stamp to keep with the record.
  DeliveryStamp on_sent(Instant now, bool nothing_outstanding, uint32_t in_flight);
  // One record delivered for the first time (draft 3.3 "UpdateRateSample"): counts its
  // bytes and keeps its stamp if it is the most recently sent of this ACK.
  void on_delivered(const DeliveryStamp& stamp, Instant sent, SeqNum end, uint32_t len,
                    Instant now);
  // Bytes delivered without a stamp of their own (the front of a partly ACKed record).
  void on_delivered_bytes(uint32_t len, Instant now) {
    delivered_ += len;
    delivered_time_ = now;
  }
  // Bytes newly marked lost (BBR's C.lost).
  void on_lost(uint32_t bytes) { lost_ += bytes; }
  // Once per ACK (draft 3.3 "GenerateRateSample"); resets the per-ACK state.
  RateSample generate(Instant now, Duration min_rtt);
  // The sender has less data than cwnd allows (draft 3.4): samples until everything
  // now in flight is delivered are application-limited.
  void mark_app_limited(uint32_t in_flight);
  bool app_limited() const { return app_limited_ != 0; }
  uint64_t delivered() const { return delivered_; }
  uint64_t lost() const { return lost_; }
  void clear();

 private:
  uint64_t delivered_ = 0;     // C.delivered
  Instant delivered_time_{};   // C.delivered_time
  Instant first_send_time_{};  // C.first_send_time
  uint64_t app_limited_ = 0;   // C.app_limited: end of the app-limited phase, 0 = none
  uint64_t lost_ = 0;          // C.lost
  uint64_t next_round_delivered_ = 0;
  uint64_t round_count_ = 0;
  // This ACK's newest delivered transmission (P) and its delivery count.
  std::optional<DeliveryStamp> prior_;
  Instant prior_sent_{};
  SeqNum prior_end_;
  uint64_t delivered_at_ack_start_ = 0;
};

}  // namespace tou
