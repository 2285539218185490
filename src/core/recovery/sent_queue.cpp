#include "core/recovery/sent_queue.hpp"

#include <algorithm>
#include <cassert>
#include <limits>

namespace tou {

void SentQueue::on_sent(SeqNum seq, uint32_t len, Instant now, bool syn, bool fin) {
  assert(len > 0);
  assert(records_.empty() || seq == records_.back().end());
  SentSegment s;
  s.seq = seq;
  s.len = len;
  s.last_sent = now;
  s.transmissions = 1;
  s.syn = syn;
  s.fin = fin;
  s.stamp = rate_.on_sent(now, records_.empty(), pipe() + len);
  records_.push_back(s);
  total_bytes_ += len;
  by_send_time_.push_back({s.end(), s.transmissions});
}

void SentQueue::on_retransmitted(size_t i, Instant now) {
  assert(i < records_.size());
  SentSegment& s = records_[i];
  if (s.lost) {
    s.lost = false;
    lost_bytes_ -= s.len;
  }
  if (s.transmissions < std::numeric_limits<uint16_t>::max()) ++s.transmissions;
  s.last_sent = now;
  s.stamp = rate_.on_sent(now, false, pipe());
  by_send_time_.push_back({s.end(), s.transmissions});
}

CumulativeAckResult SentQueue::on_cumulative_ack(SeqNum ack, Instant now) {
  CumulativeAckResult result;
  bool retransmitted_acked = false;
  size_t popped = 0;
  while (!records_.empty() && records_.front().end() <= ack) {
    const SentSegment& s = records_.front();
    result.bytes_acked += s.len;
    if (s.transmissions > 1) retransmitted_acked = true;
    // Karn (RFC 6298 3): only a segment sent once gives an unambiguous sample. One
    // SACKed earlier did not trigger this ACK (its arrival was reported already).
    if (s.transmissions == 1 && !s.sacked) result.rtt_sample_sent = s.last_sent;
    if (!s.sacked) note_delivered(s, now);
    if (s.sacked) sacked_bytes_ -= s.len;
    if (s.lost) lost_bytes_ -= s.len;
    total_bytes_ -= s.len;
    records_.pop_front();
    ++popped;
  }
  if (!records_.empty() && records_.front().seq < ack) {
    // Partial acknowledgment: trim the front record.
    SentSegment& s = records_.front();
    const uint32_t n = static_cast<uint32_t>(ack - s.seq);
    result.bytes_acked += n;
    if (s.transmissions > 1) retransmitted_acked = true;
    if (s.sacked) sacked_bytes_ -= n;
    if (!s.sacked) rate_.on_delivered_bytes(n, now);
    if (s.lost) lost_bytes_ -= n;
    total_bytes_ -= n;
    s.seq = ack;
    s.len -= n;
    s.syn = false;         // the SYN occupies the first sequence number
    sack_cache_size_ = 0;  // a trimmed record may now lie wholly inside a cached block
  }
  // Karn: an ACK that covers a retransmission may have been triggered by it, so no
  // sample from anything it covers.
  if (retransmitted_acked) result.rtt_sample_sent.reset();
  if (highest_sacked_ && *highest_sacked_ <= ack) highest_sacked_.reset();
  first_lost_hint_ = first_lost_hint_ > popped ? first_lost_hint_ - popped : 0;
  return result;
}

uint32_t SentQueue::on_sack(std::span<const SackBlock> blocks, Instant now) {
  if (records_.empty()) return 0;
  const SeqNum snd_una = records_.front().seq;
  const SeqNum snd_nxt = records_.back().end();
  uint32_t newly = 0;
  std::array<SackBlock, kMaxSackBlocks> processed{};
  size_t processed_size = 0;
  for (const SackBlock& b : blocks) {
    // RFC 2018 / RFC 6675 "update": only blocks inside (SND.UNA, SND.NXT] count;
    // D-SACK blocks (RFC 2883, below SND.UNA) and blocks past SND.NXT are ignored.
    if (!(b.left < b.right) || b.right <= snd_una || b.right > snd_nxt) continue;
    const SeqNum left = seq_max(b.left, snd_una);
    if (processed_size < processed.size()) processed[processed_size++] = SackBlock{left, b.right};
    // Skip what one earlier ACK's block already covered: records wholly inside it are
    // SACKed. One block only: a record spanning two overlapping old blocks is inside
    // neither and may still be new.
    SeqNum start = left;
    for (size_t c = 0; c < sack_cache_size_; ++c) {
      const SackBlock& old = sack_cache_[c];
      if (old.left <= left && left < old.right && start < old.right) start = old.right;
    }
    if (start >= b.right) continue;
    auto it = std::partition_point(records_.begin(), records_.end(),
                                   [&](const SentSegment& s) { return s.end() <= start; });
    for (; it != records_.end() && it->end() <= b.right; ++it) {
      if (it->sacked || it->seq < left) continue;  // SACKed already, or only partly inside
      note_delivered(*it, now);
      it->sacked = true;
      sacked_bytes_ += it->len;
      newly += it->len;
      if (it->lost) {  // it arrived after all; nothing to retransmit
        it->lost = false;
        lost_bytes_ -= it->len;
      }
      if (!highest_sacked_ || *highest_sacked_ < it->end()) highest_sacked_ = it->end();
    }
  }
  sack_cache_ = processed;
  sack_cache_size_ = processed_size;
  return newly;
}

size_t SentQueue::mark_losses(int dup_thresh, uint32_t mss) {
  if (sacked_bytes_ == 0 || !highest_sacked_) return 0;
  // RFC 6675 4 IsLost(): DupThresh SACKed records, or more than (DupThresh - 1) * SMSS
  // SACKed bytes, above a record. Walking down from the highest SACKed record, the point
  // where the count first reaches the threshold splits the queue: every record below it
  // qualifies. Records below the previous call's split were judged then and cannot
  // qualify anew (they only become SACKed or retransmitted), so only the records between
  // the two splits are examined: amortised O(1) per ACK, not O(flight).
  const uint64_t byte_thresh = static_cast<uint64_t>(std::max(dup_thresh - 1, 0)) * mss;
  size_t i = static_cast<size_t>(
      std::partition_point(records_.begin(), records_.end(),
                           [&](const SentSegment& s) { return s.end() <= *highest_sacked_; }) -
      records_.begin());
  uint64_t sacked_count = 0;
  uint64_t sacked_above = 0;
  size_t split = 0;  // records with index < split qualify
  bool found = false;
  while (i-- > 0) {
    const SentSegment& s = records_[i];
    if (loss_frontier_ && s.end() <= *loss_frontier_) break;  // judged before
    if (!s.sacked) continue;
    ++sacked_count;
    sacked_above += s.len;
    if (sacked_count >= static_cast<uint64_t>(dup_thresh) || sacked_above > byte_thresh) {
      split = i;
      found = true;
      break;
    }
  }
  if (!found) return 0;
  size_t first = 0;
  if (loss_frontier_) {
    first = static_cast<size_t>(
        std::partition_point(records_.begin(), records_.end(),
                             [&](const SentSegment& s) { return s.end() <= *loss_frontier_; }) -
        records_.begin());
  }
  size_t marked = 0;
  for (size_t k = first; k < split; ++k) {
    SentSegment& s = records_[k];
    if (s.sacked || s.lost || s.transmissions > 1) continue;
    note_lost(s, k);
    ++marked;
  }
  if (split > 0) loss_frontier_ = records_[split - 1].end();
  return marked;
}

void SentQueue::note_lost(SentSegment& s, size_t i) {
  s.lost = true;
  lost_bytes_ += s.len;
  first_lost_hint_ = std::min(first_lost_hint_, i);
  rate_.on_lost(s.len);
}

void SentQueue::note_delivered(const SentSegment& s, Instant now) {
  rate_.on_delivered(s.stamp, s.last_sent, s.end(), s.len, now);
  // RFC 8985 6.2 step 3 (RACK_detect_reordering).
  if (!fack_ || *fack_ < s.end()) {
    fack_ = s.end();
  } else if (s.end() < *fack_ && s.transmissions == 1) {
    reordering_seen_ = true;
  }
  auto later = [&](const std::optional<Instant>& t, SeqNum end) {
    return !t || s.last_sent > *t || (s.last_sent == *t && s.end() > end);
  };
  if (s.transmissions == 1) {
    if (!delivered_.sent_once_earliest || s.last_sent < *delivered_.sent_once_earliest) {
      delivered_.sent_once_earliest = s.last_sent;
    }
    if (later(delivered_.sent_once, delivered_.sent_once_end)) {
      delivered_.sent_once = s.last_sent;
      delivered_.sent_once_end = s.end();
    }
  } else if (later(delivered_.retransmitted, delivered_.retransmitted_end)) {
    delivered_.retransmitted = s.last_sent;
    delivered_.retransmitted_end = s.end();
  }
}

SentQueue::Delivered SentQueue::take_delivered() {
  Delivered d = delivered_;
  delivered_ = Delivered{};
  return d;
}

size_t SentQueue::mark_rack_losses(Instant now, Instant rack_sent, SeqNum rack_end,
                                   Duration threshold, std::optional<Instant>* next_due) {
  size_t marked = 0;
  next_due->reset();
  // The transmissions in the order they left (Linux's tsorted_sent_queue): a record can
  // only be judged lost once the transmissions sent before it were, so the walk starts at
  // the oldest transmission still in question and stops at the first one sent after
  // RACK's or not yet overdue: O(what this ACK settles), not O(flight).
  size_t k = 0;  // entries before k at the same time as RACK's, sent after it: kept
  while (k < by_send_time_.size()) {
    const SendTimeEntry e = by_send_time_[k];
    auto it = std::partition_point(records_.begin(), records_.end(),
                                   [&](const SentSegment& s) { return s.end() < e.end; });
    // Stale: acknowledged, split, or transmitted again since (a later entry stands for it);
    // settled: SACKed, or lost (its retransmission will have an entry of its own).
    const bool current =
        it != records_.end() && it->end() == e.end && it->transmissions == e.transmissions;
    if (!current || it->sacked || it->lost) {
      if (k == 0) {
        by_send_time_.pop_front();
      } else {
        ++k;
      }
      continue;
    }
    SentSegment& s = *it;
    if (s.last_sent > rack_sent) break;  // this and every later one were sent after RACK's
    if (s.last_sent == rack_sent && s.end() > rack_end) {
      ++k;  // sent with RACK's but after it; others at the same time may still qualify
      continue;
    }
    if (now - s.last_sent < threshold) {
      *next_due = s.last_sent + threshold;  // the earliest: later ones are due later
      break;
    }
    note_lost(s, static_cast<size_t>(it - records_.begin()));
    ++marked;
    if (k == 0) {
      by_send_time_.pop_front();
    } else {
      ++k;
    }
  }
  return marked;
}

void SentQueue::mark_lost(size_t i) {
  assert(i < records_.size());
  SentSegment& s = records_[i];
  if (s.sacked || s.lost) return;
  note_lost(s, i);
}

void SentQueue::mark_all_lost() {
  for (size_t i = 0; i < records_.size(); ++i) {
    SentSegment& s = records_[i];
    if (s.sacked || s.lost) continue;
    note_lost(s, i);
  }
  first_lost_hint_ = 0;
}

void SentQueue::clear_lost() {
  // The records judged lost left RACK's send-time order (mark_rack_losses() drops settled
  // entries); back in flight, each needs its entry again, or RACK could never find it
  // lost once more and only the RTO, backed off, would (RFC 5682 3.1 step 3b leaves them
  // to the usual loss detection). Rebuilt in send-time order, as rare as spurious RTOs.
  by_send_time_.clear();
  for (SentSegment& s : records_) {
    s.lost = false;
    if (!s.sacked) by_send_time_.push_back({s.end(), s.transmissions});
  }
  std::stable_sort(
      by_send_time_.begin(), by_send_time_.end(),
      [this](const SendTimeEntry& a, const SendTimeEntry& b) { return sent_at(a) < sent_at(b); });
  lost_bytes_ = 0;
}

Instant SentQueue::sent_at(const SendTimeEntry& e) const {
  auto it = std::partition_point(records_.begin(), records_.end(),
                                 [&](const SentSegment& s) { return s.end() < e.end; });
  return it->last_sent;
}

size_t SentQueue::mark_lost_longer_than(uint32_t max_payload) {
  size_t n = 0;
  for (size_t i = 0; i < records_.size(); ++i) {
    SentSegment& s = records_[i];
    uint32_t payload = s.len - (s.syn ? 1 : 0) - (s.fin ? 1 : 0);
    if (s.sacked || s.lost || payload <= max_payload) continue;
    s.lost = true;
    lost_bytes_ += s.len;
    first_lost_hint_ = std::min(first_lost_hint_, i);
    ++n;
  }
  return n;
}

void SentQueue::split(size_t i, uint32_t first_len) {
  assert(i < records_.size());
  assert(first_len > 0 && first_len < records_[i].len);
  SentSegment tail = records_[i];
  tail.seq = records_[i].seq + first_len;
  tail.len = records_[i].len - first_len;
  tail.syn = false;
  records_[i].len = first_len;
  records_[i].fin = false;
  records_[i].psh = false;  // the PSH stays with the segment's end
  records_.insert(records_.begin() + static_cast<std::ptrdiff_t>(i) + 1, tail);
}

std::optional<size_t> SentQueue::find(SeqNum seq) const {
  auto it = std::partition_point(records_.begin(), records_.end(),
                                 [&](const SentSegment& s) { return s.seq < seq; });
  if (it == records_.end() || it->seq != seq) return std::nullopt;
  return static_cast<size_t>(it - records_.begin());
}

uint32_t SentQueue::pipe() const {
  // RFC 6675 4 SetPipe(), kept incrementally: sacked and lost records are disjoint.
  return total_bytes_ - sacked_bytes_ - lost_bytes_;
}

std::optional<size_t> SentQueue::first_lost() const {
  if (lost_bytes_ == 0) return std::nullopt;
  for (size_t i = first_lost_hint_; i < records_.size(); ++i) {
    if (records_[i].lost) {
      first_lost_hint_ = i;
      return i;
    }
  }
  assert(false && "lost_bytes_ out of step with the records");
  return std::nullopt;
}

std::optional<SeqNum> SentQueue::highest_sacked() const {
  return highest_sacked_;
}

void SentQueue::clear() {
  records_.clear();
  sacked_bytes_ = 0;
  lost_bytes_ = 0;
  total_bytes_ = 0;
  highest_sacked_.reset();
  fack_.reset();
  first_lost_hint_ = 0;
  delivered_ = Delivered{};
  rate_.clear();
  sack_cache_size_ = 0;
  loss_frontier_.reset();
  by_send_time_.clear();
}

}  // namespace tou
