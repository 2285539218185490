// Loss recovery: the one place that owns what was sent and what became of it (as quiche's
// recovery and picoquic's loss_recovery.c). It holds the sent-segment records and SACK
// scoreboard (SentQueue, with the delivery-rate sampler), the fast-recovery state of
// RFC 6675 / RFC 6582, RACK-TLP (RFC 8985), the undo of spurious recoveries (RFC 3708 with
// D-SACK, RFC 2883), and the congestion controller, which hears of every ACK through one
// entry, on_ack().
//
// The connection keeps the sequence variables, the buffers and the timers' deadlines; this
// module reads them (SendSequence, RttEstimator) and writes the recovery timers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "base/time.hpp"
#include "cc/congestion_controller.hpp"
#include "core/recovery/sent_queue.hpp"
#include "core/rtt_estimator.hpp"
#include "core/stats.hpp"
#include "core/tcb.hpp"
#include "wire/segment.hpp"
#include "wire/seq_num.hpp"

namespace tou {

// What the connection does for loss recovery that is not loss recovery's business: the
// path MTU search (RFC 8899 4.4), whose lost probes are not congestion.
class LossRecoveryHost {
 public:
  // Returns newly_lost less the losses that are a lost path MTU probe.
  virtual size_t discount_probe_loss(Instant now, size_t newly_lost) = 0;
  // True while the duplicate ACKs are those of a lost probe's hole.
  virtual bool in_probe_hole() const = 0;
  // The first sequence number of the path MTU probe in flight, if any.
  virtual std::optional<SeqNum> pmtu_probe_seq() const = 0;

 protected:
  ~LossRecoveryHost() = default;
};

class LossRecovery {
 public:
  struct Links {
    const SendSequence& snd;
    const RttEstimator& rtt;
    ConnectionTimers& timers;
    ConnectionStats& stats;
    LossRecoveryHost& host;
    const bool& sack_ok;  // RFC 2018 2: agreed in the handshake
  };
  LossRecovery(Links links, std::unique_ptr<CongestionController> controller, bool rack)
      : cc(std::move(controller)), l_(links), rack_(rack) {}

  // The cumulative ACK moved SND.UNA to `ack`: ends the recovery on a full ACK, or marks
  // the next hole on a partial one without SACK. Returns true when recovery ended.
  bool on_snd_una_advanced(SeqNum ack);

  // One ACK's worth of loss recovery (after the cumulative part and the window update):
  // duplicate-ACK counting, SACK and D-SACK, RACK, loss marking, entering recovery, and
  // one AckEvent to the controller, then the recovery that started or ended with it.
  struct AckInput {
    Instant now;
    const Segment& seg;
    bool dup = false;            // RFC 5681 2 duplicate ACK
    uint32_t bytes_acked = 0;    // newly cumulatively acknowledged
    uint32_t flight_before = 0;  // FlightSize before this ACK
    bool app_limited = false;    // RFC 7661 spirit: not cwnd-limited
    bool was_in_recovery = false;
    bool recovery_ended = false;     // on_snd_una_advanced() said so
    std::optional<Duration> rtt;     // this ACK's RTT sample
    std::optional<uint32_t> ts_ecr;  // the ACK's TSecr, when timestamps are on (RFC 7323)
    bool new_data_sendable = false;  // unsent data and room in the peer's window (F-RTO 2b)
  };
  void on_ack(const AckInput& in);

  // The RACK reordering timer fired (RFC 8985 6.3).
  void on_reorder_timer(Instant now, uint32_t flight_size);
  // RFC 3708 / RFC 2883: a window reduction begins an episode whose retransmissions count.
  void start_undo_episode();
  // A retransmission left, with our TSval when timestamps are on: one more to be
  // D-SACKed (RFC 3708), and the first one's TSval for RFC 3522.
  void on_retransmission_sent(std::optional<uint32_t> tsval);
  // RFC 6675 4 SetPipe(), with RFC 6582 3.2 step 4 without SACK.
  uint32_t bytes_in_pipe() const;

  // RFC 5682 (F-RTO, the SACK-enhanced algorithm of section 3 as Linux runs it): the
  // timer fired; watch the next ACKs to tell a spurious timeout from a real one.
  void start_frto(Instant now);
  // Step 2b: a new segment left instead of a retransmission (two at most).
  void on_frto_new_data_sent();
  bool frto_new_data_due() const { return frto_ == Frto::kSendNewData; }
  // Step 3: nothing more leaves until the next ACK tells whether the timeout was real.
  bool frto_awaits_ack() const { return frto_ == Frto::kNewDataSent; }
  // Steps 2b-3: no retransmission until the next ACK tells whether the timeout was real.
  bool frto_holds_retransmissions() const {
    return frto_ == Frto::kSendNewData || frto_ == Frto::kNewDataSent;
  }
  // No new segment could leave in step 2b: the usual RTO recovery goes on.
  void end_frto() { frto_ = Frto::kOff; }

  // State the connection's output, timers and path MTU search read and write.
  std::unique_ptr<CongestionController> cc;
  SentQueue sent;  // one record per segment in flight

  // Loss recovery: RFC 6675 (SACK) or RFC 6582 (NewReno) when SACK is off.
  bool in_recovery = false;
  bool rto_recovery = false;  // after a timeout, until SND.UNA reaches `recover`
  SeqNum recover;             // RecoveryPoint / "recover"
  int dup_acks = 0;
  bool fast_retransmit_due = false;  // the first retransmission of a recovery ignores cwnd
  // RFC 8985 6.2 (RACK): the newest delivered transmission and its RTT.
  std::optional<Instant> rack_sent;
  SeqNum rack_end;
  Duration rack_rtt{0};
  bool tlp_in_flight = false;     // RFC 8985 7: TLPRxtOut, one probe per tail
  bool tlp_new_data_due = false;  // the probe sends one new segment, whatever cwnd says
  int recovery_dup_acks = 0;      // NewReno: dup ACKs since recovery began or the last partial ACK

  // RFC 3708 / RFC 2883 undo: the episode (fast recovery or RTO) that reduced the window,
  // from undo_marker (SND.UNA when it began), and its retransmissions not yet D-SACKed.
  std::optional<SeqNum> undo_marker;
  int undo_retrans = 0;
  // RFC 3522 (Eifel detection, Linux's retrans_stamp): our TSval on the episode's first
  // retransmission. An ACK that ends the recovery echoing an older TSval was caused by
  // an original, not by a retransmission: the recovery was spurious.
  std::optional<uint32_t> undo_tsval;
  // RFC 8985 6.2 step 4: reo_wnd = min(reo_wnd_mult * min_RTT / 4, SRTT), the multiplier
  // grown by D-SACKs (once per round trip) and kept for reo_wnd_persist recoveries.
  int reo_wnd_mult = 1;
  int reo_wnd_persist = 0;
  std::optional<SeqNum> dsack_round;  // no further increase until SND.UNA passes this

  static constexpr int kDupThresh = 3;        // RFC 6675 2 DupThresh
  static constexpr int kMaxReoWndMult = 8;    // reo_wnd is capped by SRTT anyway
  static constexpr int kReoWndPersist = 16;   // RFC 8985 6.2 step 4: 16 recoveries
  static constexpr int kFrtoNewSegments = 2;  // RFC 5682 3.1 step 2b: up to two

 private:
  struct LossDetection {
    uint32_t newly_sacked = 0;
    bool recovery_started = false;              // the controller's on_congestion_event is due
    std::optional<Instant> original_delivered;  // oldest once-sent record delivered
  };
  void frto_on_ack(const AckInput& in, const LossDetection& loss);
  void frto_spurious(Instant now);
  enum class Frto : uint8_t { kOff, kWatch, kSendNewData, kNewDataSent };
  Frto frto_ = Frto::kOff;
  Instant frto_rto_at_{};  // when the timer fired: what was sent before is "original"
  int frto_new_segments_ = 0;
  LossDetection detect_loss(Instant now, const Segment& seg, bool is_dup_ack);
  void update_rack(Instant now, const SentQueue::Delivered& d);
  size_t rack_detect_losses(Instant now);
  Duration rack_reo_wnd() const;
  // Enters fast recovery unless RFC 6582 3.2 step 1 forbids it; true if it did (the
  // caller then tells the controller).
  bool maybe_enter_recovery();
  void on_dsack(Instant now, const SackBlock& block);
  void undo_congestion_event(Instant now);

  Links l_;
  bool rack_;  // RFC 8985 6 time-based loss detection (with SACK)
};

}  // namespace tou
