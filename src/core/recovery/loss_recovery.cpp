// Loss recovery (see loss_recovery.hpp): RFC 6675 and RFC 6582 fast recovery, RACK
// (RFC 8985 6), D-SACK (RFC 2883) and the undo of spurious recoveries (RFC 3708).
#include "core/recovery/loss_recovery.hpp"

#include <algorithm>

namespace tou {

bool LossRecovery::on_snd_una_advanced(SeqNum ack) {
  dup_acks = 0;
  if (rto_recovery && ack >= recover) rto_recovery = false;
  if (!in_recovery) return false;
  if (ack >= recover) {
    // RFC 6582 3.2 step 3 / RFC 6675 5: a full ACK ends recovery.
    in_recovery = false;
    fast_retransmit_due = false;
    return true;
  }
  if (!l_.sack_ok) {
    // RFC 6582 3.2 step 4: a partial ACK retransmits the next hole.
    recovery_dup_acks = 0;
    if (!sent.empty() && sent.front().transmissions == 1) {
      sent.mark_lost(0);
      fast_retransmit_due = true;
    }
  }
  return false;
}

void LossRecovery::on_ack(const AckInput& in) {
  if (in.dup) {
    ++dup_acks;
    ++l_.stats.dup_acks_received;
    if (in_recovery) ++recovery_dup_acks;
  }
  const uint64_t lost_before = sent.rate().lost();
  LossDetection loss = detect_loss(in.now, in.seg, in.dup);
  if (frto_ != Frto::kOff) frto_on_ack(in, loss);

  // One notification per ACK, recovery included: the rate sample and what this ACK
  // delivered, SACKed and marked lost. Then the recovery that started or ended with it.
  AckEvent ev{.now = in.now,
              .bytes_acked = in.bytes_acked,
              .bytes_in_flight = in.flight_before,
              .rtt = in.rtt,
              .min_rtt = l_.rtt.min_rtt(),
              .srtt = l_.rtt.srtt(),
              .app_limited = in.app_limited,
              .bytes_sacked = loss.newly_sacked,
              .bytes_lost = static_cast<uint32_t>(sent.rate().lost() - lost_before),
              .pipe = bytes_in_pipe(),
              .in_recovery = in.was_in_recovery,
              .rate = sent.rate().generate(in.now, l_.rtt.min_rtt())};
  cc->on_ack(ev);
  if (loss.recovery_started) {
    cc->on_congestion_event(in.now, static_cast<uint32_t>(l_.snd.nxt - l_.snd.una));
  }
  if (!in.recovery_ended) return;
  cc->on_recovery_end(in.now);
  // RFC 3522 3.2 (as Linux's tcp_try_undo_recovery with tcp_packet_delayed): the ACK that
  // ends the recovery echoes a TSval older than the first retransmission, so an original
  // filled the last hole: the reduction was reordering taken for loss. (D-SACKs of the
  // retransmissions would tell the same later, or never, if one of them is reordered in
  // turn and the next recovery starts first.)
  if (undo_marker && undo_tsval && in.ts_ecr &&
      static_cast<int32_t>(*in.ts_ecr - *undo_tsval) < 0) {
    ++l_.stats.spurious_undos_by_timestamp;
    undo_congestion_event(in.now);
  }
}

void LossRecovery::start_frto(Instant now) {
  frto_ = Frto::kWatch;
  frto_rto_at_ = now;
  frto_new_segments_ = 0;
  sent.forget_earliest_delivered();  // e.g. the SYN's, never taken by an ACK's detection
}

void LossRecovery::on_frto_new_data_sent() {
  if (frto_ != Frto::kSendNewData) return;
  if (++frto_new_segments_ >= kFrtoNewSegments) frto_ = Frto::kNewDataSent;
}

void LossRecovery::frto_on_ack(const AckInput& in, const LossDetection& loss) {
  // Step 3b, and as Linux also in step 2: the ACK delivers a segment sent once, before the
  // timer fired. Not every original was lost: the timeout was spurious (Karn: a segment
  // retransmitted since may have been delivered by its retransmission; SACKed ones were
  // counted before the timeout).
  if (loss.original_delivered && *loss.original_delivered < frto_rto_at_) {
    frto_spurious(in.now);
    return;
  }
  switch (frto_) {
    case Frto::kWatch:
      if (in.bytes_acked > 0 && in.new_data_sendable) {
        // Step 2b: SND.UNA advanced (the first retransmission arrived): new data probes
        // the path instead of the retransmissions that may be needless.
        frto_ = Frto::kSendNewData;
      } else if (in.bytes_acked > 0 || in.dup) {
        frto_ = Frto::kOff;  // step 2a (or nothing new to send): the usual RTO recovery
      }
      return;
    case Frto::kSendNewData:
    case Frto::kNewDataSent:
      // Step 3a: a duplicate ACK, or SACKs of the new data only: the timeout was real.
      if (in.dup || loss.newly_sacked > 0 || in.bytes_acked > 0) frto_ = Frto::kOff;
      return;
    case Frto::kOff:
      return;
  }
}

// RFC 5682 3.1 step 3b with the response of RFC 4015 (Eifel) as Linux's
// tcp_try_undo_loss: the window and state from before the timeout come back.
void LossRecovery::frto_spurious(Instant now) {
  frto_ = Frto::kOff;
  ++l_.stats.frto_spurious_rtos;
  sent.clear_lost();
  fast_retransmit_due = false;
  if (undo_marker) undo_congestion_event(now);
}

uint32_t LossRecovery::bytes_in_pipe() const {
  uint32_t pipe = sent.pipe();
  if (!l_.sack_ok && in_recovery) {
    // RFC 6582 3.2 step 4: each duplicate ACK means a segment left the network.
    uint64_t left = static_cast<uint64_t>(recovery_dup_acks) * l_.snd.mss;
    pipe = left >= pipe ? 0 : pipe - static_cast<uint32_t>(left);
  }
  return pipe;
}

void LossRecovery::on_reorder_timer(Instant now, uint32_t flight_size) {
  if (l_.host.discount_probe_loss(now, rack_detect_losses(now)) > 0 && maybe_enter_recovery()) {
    cc->on_congestion_event(now, flight_size);
  }
}

// Loss detection: RFC 6675 with SACK, RFC 5681 3.2 / RFC 6582 without.
LossRecovery::LossDetection LossRecovery::detect_loss(Instant now, const Segment& seg,
                                                      bool is_dup_ack) {
  LossDetection result;
  auto sacks = seg.header.options.sacks();
  // RFC 2883 4: the first block is a D-SACK when it lies below the cumulative ACK or
  // inside the second block.
  if (l_.sack_ok && !sacks.empty() &&
      (sacks[0].left < seg.header.ack ||
       (sacks.size() > 1 && sacks[1].left <= sacks[0].left && sacks[0].right <= sacks[1].right))) {
    on_dsack(now, sacks[0]);
  }
  if (l_.sack_ok && !sacks.empty() && !sent.empty()) {
    l_.stats.sack_blocks_received += sacks.size();
    result.newly_sacked = sent.on_sack(sacks, now);
  }
  const SentQueue::Delivered delivered = sent.take_delivered();
  result.original_delivered = delivered.sent_once_earliest;
  update_rack(now, delivered);
  if (sent.empty()) return result;
  size_t newly_lost = 0;
  // RFC 8985 6.2 (as Linux raises tp->reordering on a D-SACK): once D-SACKs have shown
  // that the path reorders, the DupThresh rules of RFC 6675, which reordering trips,
  // give way to RACK's time-based detection until reo_wnd_persist runs out.
  const bool reordering_seen = l_.sack_ok && rack_ && reo_wnd_persist > 0;
  if (l_.sack_ok) {
    if (!reordering_seen) newly_lost = sent.mark_losses(kDupThresh, l_.snd.mss);
    newly_lost += rack_detect_losses(now);
  }
  // Without SACK, duplicate ACKs at a path MTU probe say the probe is lost.
  if (!l_.sack_ok && is_dup_ack && dup_acks >= 3 && l_.host.pmtu_probe_seq() == l_.snd.una) {
    sent.mark_lost(0);
  }
  // RFC 8899 4.4: a lost path MTU probe is not congestion, nor are the
  // duplicate ACKs its hole causes.
  newly_lost = l_.host.discount_probe_loss(now, newly_lost);
  if (l_.host.in_probe_hole()) is_dup_ack = false;
  // RFC 6675 5: enter recovery on DupThresh duplicate ACKs or when IsLost()
  // holds for the first unacknowledged segment.
  if ((is_dup_ack && dup_acks >= 3 && !reordering_seen) || newly_lost > 0) {
    result.recovery_started = maybe_enter_recovery();
  }
  return result;
}

// A D-SACK: the peer received one of our segments twice.
void LossRecovery::on_dsack(Instant now, const SackBlock& block) {
  ++l_.stats.dsacks_received;
  // RFC 8985 6.2 step 4: reordering was mistaken for loss; widen reo_wnd by min_RTT / 4,
  // at most once per round trip, and keep it for 16 recoveries.
  if (!dsack_round || l_.snd.una >= *dsack_round) {
    reo_wnd_mult = std::min(reo_wnd_mult + 1, kMaxReoWndMult);
    dsack_round = l_.snd.nxt;
  }
  reo_wnd_persist = kReoWndPersist;
  // RFC 3708 with D-SACK (as Linux's undo_retrans): each D-SACK of data from the episode
  // accounts for one of its retransmissions; once all are accounted for, every one was
  // spurious and the window reduction is undone.
  if (!undo_marker || undo_retrans <= 0 || block.right <= *undo_marker) return;
  if (--undo_retrans > 0) return;
  undo_congestion_event(now);
}

void LossRecovery::undo_congestion_event(Instant now) {
  ++l_.stats.spurious_undos;
  undo_marker.reset();
  rto_recovery = false;
  if (in_recovery) {
    in_recovery = false;
    fast_retransmit_due = false;
  }
  // Nothing left to call lost: the originals arrived (RFC 3708 3 "restore").
  cc->on_congestion_undo(now);
}

void LossRecovery::start_undo_episode() {
  undo_marker = l_.snd.una;
  undo_retrans = 0;
  undo_tsval.reset();
}

void LossRecovery::on_retransmission_sent(std::optional<uint32_t> tsval) {
  if (!undo_marker) return;
  ++undo_retrans;
  if (!undo_tsval) undo_tsval = tsval;
}

bool LossRecovery::maybe_enter_recovery() {
  // RFC 6582 3.2 step 1: not for ACKs that only cover data sent before the last
  // recovery or timeout.
  if (in_recovery || sent.empty() || l_.snd.una < recover) return false;
  in_recovery = true;
  l_.timers.tail_loss_probe.reset();
  recover = l_.snd.nxt;
  recovery_dup_acks = 0;
  ++l_.stats.fast_recoveries;
  start_undo_episode();
  // RFC 8985 6.2 step 4: reo_wnd_mult lasts for reo_wnd_persist recoveries.
  if (reo_wnd_persist > 0 && --reo_wnd_persist == 0) reo_wnd_mult = 1;
  // RFC 5681 3.2 step 2 / RFC 6675 5 step 4.2: retransmit the first segment
  // now, whatever cwnd and pipe say.
  if (!sent.front().sacked && sent.front().transmissions == 1) sent.mark_lost(0);
  fast_retransmit_due = true;
  return true;
}

// RFC 8985 6.2 step 5: time-based detection, which also finds lost
// retransmissions; records not yet overdue arm the reordering timer (6.3).
size_t LossRecovery::rack_detect_losses(Instant now) {
  l_.timers.rack_reorder.reset();
  if (!rack_ || !rack_sent || sent.empty()) return 0;
  std::optional<Instant> next;
  size_t lost = sent.mark_rack_losses(now, *rack_sent, rack_end, rack_rtt + rack_reo_wnd(), &next);
  l_.timers.rack_reorder = next;
  l_.stats.rack_losses += lost;
  return lost;
}

// RFC 8985 6.2 step 4 (RACK_update_reo_wnd, as Linux's tcp_rack_reo_wnd).
Duration LossRecovery::rack_reo_wnd() const {
  // Until the path has shown reordering (a segment sent once delivered out of order, or
  // a D-SACK), no settling time in recovery or once DupThresh segments are SACKed: a
  // lost retransmission is found one RACK.rtt after it left, not a quarter RTT later,
  // which on a lossy path is what SND.UNA, and so the window, waits for.
  const bool reordering_seen = sent.reordering_seen() || reo_wnd_persist > 0;
  if (!reordering_seen &&
      (in_recovery || rto_recovery || sent.sacked_bytes() >= uint64_t{kDupThresh} * l_.snd.mss)) {
    return Duration{0};
  }
  // reo_wnd = min(reo_wnd_mult * min_RTT / 4, SRTT).
  Duration reo_wnd = l_.rtt.min_rtt() / 4 * reo_wnd_mult;
  if (reo_wnd_mult > 1) reo_wnd = std::min(reo_wnd, l_.rtt.srtt());
  return reo_wnd;
}

// RFC 8985 6.2 steps 1-3: remember the most recently sent transmission that
// the peer has now received.
void LossRecovery::update_rack(Instant now, const SentQueue::Delivered& d) {
  auto fold = [&](std::optional<Instant> sent_at, SeqNum end) {
    if (!sent_at) return;
    if (rack_sent && (*sent_at < *rack_sent || (*sent_at == *rack_sent && end <= rack_end))) {
      return;
    }
    rack_sent = sent_at;
    rack_end = end;
    rack_rtt = now - *sent_at;
  };
  fold(d.sent_once, d.sent_once_end);
  // Step 2: a retransmission acknowledged within min_RTT was the original's ACK.
  if (d.retransmitted && now - *d.retransmitted >= l_.rtt.min_rtt()) {
    fold(d.retransmitted, d.retransmitted_end);
  }
}

}  // namespace tou
