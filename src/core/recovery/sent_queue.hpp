// The retransmission queue and SACK scoreboard: one record per segment sent
// and not yet cumulatively acknowledged, in sequence order. It answers the
// questions of RFC 6675 (IsLost, SetPipe, NextSeg) and of Karn's algorithm.
// Records are small PODs in a deque-like ring; the bytes live in SendBuffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "core/recovery/rate_sampler.hpp"
#include "wire/segment.hpp"
#include "wire/seq_num.hpp"

namespace tou {

struct SentSegment {
  SeqNum seq;                  // first sequence number
  uint32_t len = 0;            // sequence space: payload + SYN + FIN
  Instant last_sent{};         // time of the latest (re)transmission
  uint16_t transmissions = 0;  // 1 after the first send
  bool syn = false;
  bool fin = false;
  bool psh = false;     // sent with PSH (the end of the queue then): retransmitted with it
  bool sacked = false;  // covered by a SACK block (RFC 6675 "SACKed")
  bool lost = false;    // judged lost (IsLost, RTO) and not retransmitted since
  DeliveryStamp stamp;  // delivery-rate state at the latest (re)transmission
  SeqNum end() const { return seq + len; }
};

struct CumulativeAckResult {
  uint32_t bytes_acked = 0;  // sequence space newly acknowledged (including SYN/FIN)
  // Send time of the newest wholly acknowledged segment that was transmitted exactly
  // once and not SACKed before (Karn's algorithm, RFC 6298 3), for an RTT sample.
  // Absent when the ACK also covers any retransmitted segment (it may have been
  // triggered by the retransmission), or covers only SACKed or partial segments.
  std::optional<Instant> rtt_sample_sent;
};

class SentQueue {
 public:
  // Records a first transmission of [seq, seq+len). seq must equal end of the last record
  // (or the queue is empty).
  void on_sent(SeqNum seq, uint32_t len, Instant now, bool syn, bool fin);
  // The record just sent carried PSH.
  void mark_pushed() { records_.back().psh = true; }
  // Records a retransmission of the record at index i (clears `lost`, bumps transmissions).
  void on_retransmitted(size_t i, Instant now);

  // Removes everything below ack; a record partly acknowledged is trimmed at its front.
  // `now` is the delivery time for the rate sampler.
  CumulativeAckResult on_cumulative_ack(SeqNum ack, Instant now = {});

  // Marks records wholly inside any block as sacked (RFC 2018, RFC 6675 "update").
  // Blocks outside (snd_una, snd_nxt] are ignored. Returns newly SACKed bytes.
  // Precisely: a block is ignored when empty (left >= right), when right <= SND.UNA
  // (a D-SACK, RFC 2883) or when right > SND.NXT; one straddling SND.UNA counts for
  // the records above it. A record only partly covered stays un-SACKed. SACKing a
  // lost record clears `lost` (the original arrived after all).
  uint32_t on_sack(std::span<const SackBlock> blocks, Instant now = {});

  // RFC 6675 4 IsLost(seq): marks as lost every un-SACKed record for which
  // DupThresh discontiguous SACKed records lie above it, or more than
  // (DupThresh - 1) * mss SACKed bytes. Records already retransmitted are not
  // marked again (like NextSeg's HighRxt rule; a lost retransmission is left to
  // the RTO). Returns how many records became lost.
  size_t mark_losses(int dup_thresh, uint32_t mss);
  // RFC 8985 6.2 step 2: the newest transmission delivered (cumulatively ACKed or
  // SACKed) since the last call, ordered by (send time, end sequence), split by
  // whether the record had been retransmitted (its delivery may be the original's).
  struct Delivered {
    std::optional<Instant> sent_once;
    SeqNum sent_once_end;
    std::optional<Instant> sent_once_earliest;  // the oldest such send time (F-RTO)
    std::optional<Instant> retransmitted;
    SeqNum retransmitted_end;
  };
  Delivered take_delivered();
  // Forgets the oldest delivery noted so far (F-RTO counts only those after a timeout).
  void forget_earliest_delivered() { delivered_.sent_once_earliest.reset(); }
  // RFC 8985 6.2 step 5 (RACK): marks lost every un-SACKed record transmitted
  // before (rack_sent, rack_end) and longer than `threshold` (RACK.rtt +
  // reo_wnd) ago, retransmissions included. Returns how many became lost.
  // `next_due` receives the earliest time a record sent before RACK's but not yet
  // overdue would become lost (the reordering timer, RFC 8985 6.3).
  size_t mark_rack_losses(Instant now, Instant rack_sent, SeqNum rack_end, Duration threshold,
                          std::optional<Instant>* next_due);
  // Marks the record at index i lost (fast retransmit without SACK, RFC 6582).
  void mark_lost(size_t i);
  // RFC 6298 (5) / RFC 6675 5.1: after an RTO every un-SACKed record counts as lost.
  void mark_all_lost();
  // The timeout was spurious (RFC 5682 3.1 step 3b): nothing is lost after all.
  void clear_lost();
  // The path MTU went down (RFC 8899 4.6.2): every un-SACKed record whose
  // payload exceeds max_payload was dropped on the way; marks them lost.
  // Returns how many became lost.
  size_t mark_lost_longer_than(uint32_t max_payload);
  // Splits the record at index i after first_len bytes of its sequence space
  // (0 < first_len < len): a segment too large for a smaller path MTU is
  // retransmitted in pieces. Both halves keep its state; a FIN stays at the end.
  void split(size_t i, uint32_t first_len);
  // Index of the record that starts at seq, if any.
  std::optional<size_t> find(SeqNum seq) const;

  // RFC 6675 4 SetPipe(): bytes considered in the network: the sequence space of
  // every record that is neither SACKed nor lost (a lost record counts again once
  // it has been retransmitted, since `lost` is cleared then).
  uint32_t pipe() const;
  // Index of the first record with lost == true (RFC 6675 NextSeg rule 1), if any.
  std::optional<size_t> first_lost() const;
  // Highest sequence number SACKed + 1 (HighACK-side of RFC 6675), or nullopt when nothing is
  // SACKed.
  std::optional<SeqNum> highest_sacked() const;

  bool empty() const { return records_.empty(); }
  size_t size() const { return records_.size(); }
  const SentSegment& operator[](size_t i) const { return records_[i]; }
  const SentSegment& front() const { return records_.front(); }
  const SentSegment& back() const { return records_.back(); }
  uint32_t sacked_bytes() const { return sacked_bytes_; }
  // RFC 8985 6.2 step 3 (RACK.reordering_seen): a segment sent once was delivered below
  // RACK.fack, the highest sequence delivered before it: the path reorders. Kept for the
  // connection's life, as Linux's reord_seen.
  bool reordering_seen() const { return reordering_seen_; }
  // The delivery-rate sampler fed by every transmission, delivery and loss here.
  DeliveryRateSampler& rate() { return rate_; }
  const DeliveryRateSampler& rate() const { return rate_; }
  void clear();

 private:
  std::deque<SentSegment> records_;
  uint32_t sacked_bytes_ = 0;
  uint32_t lost_bytes_ = 0;   // sequence space of records with lost == true
  uint32_t total_bytes_ = 0;  // sequence space of all records
  std::optional<SeqNum> highest_sacked_;
  std::optional<SeqNum> fack_;  // RFC 8985 RACK.fack: the highest end delivered
  bool reordering_seen_ = false;
  Delivered delivered_;
  DeliveryRateSampler rate_;
  void note_delivered(const SentSegment& s, Instant now);
  void note_lost(SentSegment& s, size_t i);
  // No record below this index is lost (first_lost() starts its scan there).
  mutable size_t first_lost_hint_ = 0;
  // Incremental SACK processing (as Linux caches the last SACK blocks): the blocks of the
  // previous on_sack, every record wholly inside them already SACKed, so a block that
  // repeats or extends one is walked only past what it adds.
  std::array<SackBlock, kMaxSackBlocks> sack_cache_{};
  size_t sack_cache_size_ = 0;
  // RFC 6675 IsLost() is monotone (SACKed data above a record only grows): every record
  // ending at or below this point has been judged, so mark_losses() looks only above it.
  std::optional<SeqNum> loss_frontier_;
  // One entry per transmission, in the order they left (send times never go back): the
  // record's end and its transmission count then. mark_rack_losses() walks it from the
  // front and drops what is settled, so RACK costs what each ACK settles.
  struct SendTimeEntry {
    SeqNum end;
    uint16_t transmissions = 0;
  };
  std::deque<SendTimeEntry> by_send_time_;
  Instant sent_at(const SendTimeEntry& e) const;  // its record's last_sent (it must exist)
};

}  // namespace tou
