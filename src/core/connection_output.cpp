// Connection output: one datagram per poll_transmit() call, in priority order:
// reset, SYN / SYN-ACK, retransmission, new data (and FIN), probes, pure ACK.
#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/connection.hpp"

namespace tou {

namespace {

constexpr size_t kTimestampOptionSize = 12;  // NOP, NOP, TS (RFC 7323 appendix A layout)

size_t sack_option_size(size_t blocks) {
  return blocks == 0 ? 0 : 4 + 8 * blocks;
}

}  // namespace

size_t Connection::poll_transmit(Instant now, std::span<uint8_t> out) {
  return transmit(now, out, nullptr);
}

TransmitViews Connection::poll_transmit_views(Instant now, std::span<uint8_t> out) {
  TransmitViews v;
  const size_t n = transmit(now, out, &v);
  v.header_len = n - v.payload_size();
  return v;
}

size_t Connection::transmit(Instant now, std::span<uint8_t> out, TransmitViews* views) {
  if (pending_reset_) {
    SegmentHeader rst = *pending_reset_;
    pending_reset_.reset();
    rst.src_port = local_port_;
    rst.dst_port = remote_port_;
    ++stats_.resets_sent;
    ++stats_.segments_sent;
    return emit_segment(rst, {}, out);
  }
  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
      return 0;
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      if (snd_.nxt == snd_.iss) {
        // RFC 9293 3.10.7.2 / 3.10.1: <SEQ=ISS><CTL=SYN> or <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
        uint8_t f = flags::kSyn | (state_ == TcpState::kSynReceived ? flags::kAck : 0);
        size_t n = emit(now, out, snd_.iss, f, 0, 0, true);
        rec_.sent.on_sent(snd_.iss, 1, now, true, false);
        snd_.nxt = snd_.iss + 1;
        snd_.stall_start = now;
        arm_rto(now);
        return n;
      }
      break;
    default:
      break;
  }
  check_pmtu_probe(now);  // a timeout or tail loss probe may have marked it lost
  if (rec_.frto_new_data_due()) {
    // RFC 5682 3.1 step 2b: new data before the retransmissions; if none can leave, the
    // usual RTO recovery goes on.
    if (size_t n = try_send_data(now, out, views)) return n;
    rec_.end_frto();
  }
  if (size_t n = send_retransmission(now, out, views)) return n;
  if (size_t n = try_send_data(now, out, views)) return n;
  if (timers_.persist_probe_due || timers_.keepalive_probe_due) {
    // RFC 9293 3.8.6.1 / 3.8.4: an old sequence number makes the peer answer
    // with an ACK carrying its current window.
    timers_.persist_probe_due = timers_.keepalive_probe_due = false;
    return emit(now, out, snd_.nxt - 1, flags::kAck, 0, 0, false);
  }
  if (rcv_.ack_now && state_ != TcpState::kSynSent) return emit_ack(now, out);
  return 0;
}

size_t Connection::emit_ack(Instant now, std::span<uint8_t> out) {
  return emit(now, out, snd_.nxt, flags::kAck, 0, 0, false);
}

// Builds and writes one segment. Payload comes from the send buffer at
// payload_offset (copied after the header, or with `views` left in place and
// pointed to); SACK blocks are added as far as the option space allows.
size_t Connection::emit(Instant now, std::span<uint8_t> out, SeqNum seq, uint8_t f,
                        size_t payload_offset, size_t payload_len, bool syn_options,
                        TransmitViews* views) {
  SegmentHeader h;
  h.src_port = local_port_;
  h.dst_port = remote_port_;
  h.seq = seq;
  h.flags = f;
  bool ack = (f & flags::kAck) != 0;
  if (ack) h.ack = rcv_.nxt;
  TcpOptions& o = h.options;
  if (syn_options) {
    o.mss = rcv_.mss;
    if (snd_.wscale_ok) o.window_scale = rcv_.wscale;
    o.sack_permitted = sack_ok_;
  }
  if (ts_ok_) o.timestamps = Timestamps{ts_now(now), ack ? rcv_.ts_recent : 0};
  if (ack && sack_ok_ && !syn_options) {
    size_t room = 40 - o.wire_size();
    size_t mss_room =
        snd_.mss > payload_len + o.wire_size() ? snd_.mss - payload_len - o.wire_size() : 0;
    room = std::min(room, mss_room);
    size_t max_blocks = room >= 12 ? std::min<size_t>((room - 4) / 8, kMaxSackBlocks) : 0;
    if (max_blocks > 0) fill_sack_blocks(o, max_blocks);
  }
  h.window = window_field((f & flags::kSyn) != 0);

  size_t header_size = h.wire_size();
  size_t n;
  if (views != nullptr && payload_len > 0) {
    views->payload = snd_.buffer.views(payload_offset, payload_len);
    n = emit_segment_header(h, views->payload, out) + payload_len;
  } else {
    assert(out.size() >= header_size + payload_len);
    // Copy the payload straight into place, then write the header in front of it.
    if (payload_len > 0)
      snd_.buffer.copy_out(payload_offset, out.subspan(header_size, payload_len));
    n = emit_segment(h, out.subspan(header_size, payload_len), out);
  }
  if (ack) {
    rcv_.last_ack_sent = rcv_.nxt;
    rcv_.ack_now = false;
    rcv_.unacked_segments = 0;
    timers_.delayed_ack.reset();
  }
  ++stats_.segments_sent;
  snd_.last_send = now;
  return n;
}

// Receiver-side window (RFC 9293 3.8.6.2.2 SWS avoidance, RFC 7323 2.3 scaling):
// the right edge moves forward only in steps of min(buffer/2, MSS), never back.
uint16_t Connection::window_field(bool syn) {
  uint8_t shift = syn ? 0 : rcv_.wscale;
  size_t free = std::min<size_t>(rcv_.buffer.window(), size_t{0xffff} << shift);
  SeqNum edge = rcv_.nxt + static_cast<uint32_t>(free);
  uint32_t step = static_cast<uint32_t>(std::min<size_t>(rcv_.buffer.capacity() / 2, rcv_.mss));
  if (edge > rcv_.adv_edge && static_cast<uint32_t>(edge - rcv_.adv_edge) < step)
    edge = rcv_.adv_edge;
  edge = seq_max(edge, rcv_.adv_edge);
  // A FIN accepted at the right edge of a full window takes RCV.NXT one past
  // the advertised edge: the window is zero then, not negative.
  uint32_t wnd = edge > rcv_.nxt ? static_cast<uint32_t>(edge - rcv_.nxt) : 0;
  // A held edge that the shift cannot express exactly is rounded up, not down (as
  // Linux's tcp_select_window aligns a window it may not shrink): rounding down would
  // move the right edge back by up to 2^shift - 1 bytes (RFC 7323 2.4).
  const uint32_t round_up = edge == rcv_.adv_edge ? (1u << shift) - 1 : 0;
  uint32_t field = std::min<uint32_t>((wnd + round_up) >> shift, 0xffff);
  rcv_.adv_edge = seq_max(rcv_.adv_edge, rcv_.nxt + (field << shift));
  // The buffer keeps room for all it offered (those few bytes included).
  const size_t promised = promised_receive_space();
  if (promised > rcv_.buffer.capacity()) rcv_.buffer.set_capacity(promised);
  return static_cast<uint16_t>(field);
}

// RFC 2018 4: the first block holds the most recently received segment; the
// others follow, highest first. RFC 2883 4: a pending D-SACK goes before them all.
void Connection::fill_sack_blocks(TcpOptions& o, size_t max_blocks) {
  const auto& ranges = rcv_.buffer.out_of_order();
  o.sack_count = 0;
  if (rcv_.dsack) {
    o.sack_blocks[o.sack_count++] = *rcv_.dsack;
    rcv_.dsack.reset();
    ++stats_.dsacks_sent;
  }
  if (ranges.empty()) return;
  auto to_block = [&](const ByteRange& r) {
    return SackBlock{rcv_.nxt + static_cast<uint32_t>(r.begin),
                     rcv_.nxt + static_cast<uint32_t>(r.end)};
  };
  size_t first = ranges.size();
  if (rcv_.last_ooo_block) {
    for (size_t i = 0; i < ranges.size(); ++i) {
      SackBlock b = to_block(ranges[i]);
      if (b.left <= rcv_.last_ooo_block->left && rcv_.last_ooo_block->left < b.right) first = i;
    }
  }
  if (first < ranges.size() && o.sack_count < max_blocks) {
    o.sack_blocks[o.sack_count++] = to_block(ranges[first]);
  }
  for (size_t i = ranges.size(); i-- > 0 && o.sack_count < max_blocks;) {
    if (i != first) o.sack_blocks[o.sack_count++] = to_block(ranges[i]);
  }
}

uint32_t Connection::max_payload(bool with_sacks) const {
  size_t opts = ts_ok_ ? kTimestampOptionSize : 0;
  if (with_sacks) {
    size_t blocks = std::min<size_t>(rcv_.buffer.out_of_order().size(), ts_ok_ ? 3 : 4);
    opts += sack_option_size(blocks);
  }
  return snd_.mss > opts ? static_cast<uint32_t>(snd_.mss - opts) : 1;
}

// RFC 6675 5 (C): retransmit the first lost segment while cwnd - pipe >= 1 SMSS.
size_t Connection::send_retransmission(Instant now, std::span<uint8_t> out, TransmitViews* views) {
  if (rec_.frto_holds_retransmissions()) return 0;  // RFC 5682 3.1 steps 2b-3
  std::optional<size_t> i = rec_.sent.first_lost();
  if (!i) return 0;
  // A segment sent before the path MTU went down (or a lost path MTU probe)
  // goes out again in pieces that fit (RFC 8899 4.4).
  uint32_t fits = max_payload(false);
  if (const SentSegment& big = rec_.sent[*i]; !big.syn && big.len - (big.fin ? 1 : 0) > fits) {
    rec_.sent.split(*i, fits);
  }
  const SentSegment& r = rec_.sent[*i];
  uint32_t pipe = bytes_in_pipe();
  uint32_t cwnd = rec_.cc->cwnd();
  bool window_allows =
      pipe == 0 || (pipe < cwnd && cwnd - pipe >= std::min<uint32_t>(r.len, max_payload(false)));
  if (!window_allows && !rec_.fast_retransmit_due) return 0;
  rec_.fast_retransmit_due = false;
  uint8_t f = flags::kAck;
  if (r.syn) {
    f = flags::kSyn | (state_ == TcpState::kSynSent ? 0 : flags::kAck);
    ++stats_.syn_retransmits;
  }
  if (r.fin) f |= flags::kFin;
  if (r.psh) f |= flags::kPsh;  // as first sent: the receiver hands the bytes over at once
  size_t payload_len = r.len - (r.syn ? 1 : 0) - (r.fin ? 1 : 0);
  size_t payload_offset = payload_len > 0 ? static_cast<uint32_t>(r.seq - snd_.buffer_seq) : 0;
  size_t n = emit(now, out, r.seq, f, payload_offset, payload_len, r.syn, views);
  ++stats_.retransmitted_segments;
  stats_.bytes_retransmitted += payload_len;
  rec_.sent.on_retransmitted(*i, now);
  rec_.on_retransmission_sent(ts_ok_ ? std::optional<uint32_t>(ts_now(now)) : std::nullopt);
  rec_.cc->on_sent(now, static_cast<uint32_t>(payload_len), bytes_in_pipe());
  // RFC 6298 (5.1) counts from the oldest outstanding transmission; as Linux's
  // tcp_xmit_retransmit_queue does, a new transmission of SND.UNA's segment restarts
  // the timer, so the RTO cannot fire before that retransmission's ACK could return
  // (a lost retransmission RACK found late in a long flight would otherwise time out).
  if (!timers_.retransmit || *i == 0) {
    if (timers_.retransmit && *i == 0) ++stats_.rto_restarts_on_head_retransmit;
    arm_rto(now);
  }
  return n;
}

bool Connection::nagle_allows(size_t len, size_t max_len) const {
  // RFC 9293 3.7.4: a segment shorter than the MSS waits while data is unacknowledged.
  if (len >= max_len || config_.nodelay || rec_.sent.empty()) return true;
  return snd_.fin_queued;  // closing: push everything out
}

// Draft-cheng-iccrg-delivery-rate-estimation 3.4 (Linux tcp_rate_check_app_limited): the
// application has nothing to send, the window is not full and no loss waits for its
// retransmission, so rate samples until this flight is delivered are application-limited.
void Connection::mark_app_limited() {
  const uint32_t pipe = bytes_in_pipe();
  if (pipe >= rec_.cc->cwnd() || rec_.sent.first_lost()) return;
  rec_.sent.rate().mark_app_limited(pipe);
}

bool Connection::pacing_allows(Instant now) const {
  return !config_.pacing || now >= snd_.next_paced;
}

// Pacing releases a quantum at a time, then waits for the quantum to drain at
// the pacing rate, like Linux's TSO autosizing (tcp_tso_autosize): about 1 ms
// of the rate, at least 2 segments, at most 64 KiB. A quantum leaves in one
// wake-up, so the engine sends it as one GSO train instead of waking per segment.
void Connection::on_paced_send(Instant now, size_t bytes) {
  if (!config_.pacing || !rtt_.has_sample()) return;
  std::optional<uint64_t> rate = rec_.cc->pacing_rate(rtt_.srtt());
  if (!rate || *rate == 0) return;
  constexpr uint64_t kQuantumUs = 1000;
  constexpr uint64_t kMaxQuantum = 64 * 1024;
  const uint64_t min_quantum = 2 * uint64_t{snd_.mss};
  const uint64_t quantum =
      std::clamp(*rate * kQuantumUs / 1'000'000, min_quantum, std::max(min_quantum, kMaxQuantum));
  snd_.paced_burst += bytes;
  if (snd_.paced_burst < quantum) return;
  Instant base = std::max(snd_.next_paced, now);
  // A quantum that leaves late may make up for up to one controller send quantum of the
  // lost time (BBR's; 0 for the others, which keep strict pacing): otherwise every late
  // wake-up lowers the rate actually sent, and a rate-based controller measures and
  // keeps the lower rate.
  if (const uint32_t cc_quantum = rec_.cc->send_quantum();
      cc_quantum > 0 && snd_.next_paced < now) {
    const Duration credit{static_cast<int64_t>(uint64_t{cc_quantum} * 1'000'000 / *rate)};
    base = std::max(snd_.next_paced, now - credit);
  }
  // The wait is clamped, as Linux's fq clamps one packet's delay to a second: it is set at
  // today's rate, which may rise long before a wait at a crawl ends (a BBR that left
  // Startup on a bandwidth sample of a few bytes paced its next 2 segments 296 s away, and
  // kept them there after its estimate grew to 5 Mbit/s 30 ms later).
  const Duration wait{static_cast<int64_t>(snd_.paced_burst * 1'000'000 / *rate)};
  snd_.next_paced = base + std::min(wait, kMaxPacingWait);
  snd_.paced_burst = 0;
}

size_t Connection::try_send_data(Instant now, std::span<uint8_t> out, TransmitViews* views) {
  snd_.pacing_wait = false;
  if (rec_.frto_awaits_ack()) return 0;  // RFC 5682 3.1: two new segments, then step 3
  // FIN-WAIT-1, CLOSING and LAST-ACK may still hold data queued before the FIN.
  bool data_state = state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait ||
                    state_ == TcpState::kFinWait1 || state_ == TcpState::kClosing ||
                    state_ == TcpState::kLastAck;
  if (!data_state || snd_.fin_sent) return 0;
  SeqNum data_end = snd_.buffer_seq + static_cast<uint32_t>(snd_.buffer.size());
  uint32_t unsent = static_cast<uint32_t>(data_end - snd_.nxt);
  bool fin_pending = snd_.fin_queued;
  if (unsent == 0 && !fin_pending) {
    mark_app_limited();
    return 0;
  }

  SeqNum wnd_edge = snd_.una + snd_.wnd;
  uint32_t wnd_room = wnd_edge > snd_.nxt ? static_cast<uint32_t>(wnd_edge - snd_.nxt) : 0;
  if (wnd_room == 0) {
    // RFC 9293 3.8.6.1: a zero window with nothing in flight starts the persist timer.
    if (rec_.sent.empty() && !timers_.persist) {
      timers_.persist = now + rtt_.rto();
    }
    return 0;
  }
  uint32_t pipe = bytes_in_pipe();
  uint32_t cwnd = rec_.cc->cwnd();
  uint32_t cwnd_room = cwnd > pipe ? cwnd - pipe : 0;
  bool probe = rec_.tlp_new_data_due;
  bool with_sacks = sack_ok_ && !rcv_.buffer.out_of_order().empty();
  uint32_t max_len = max_payload(with_sacks);
  if (probe) cwnd_room = std::max(cwnd_room, max_len);
  // RFC 8899 4.1: a path MTU probe is a data segment of the probed size, sent
  // only when the data and both windows fill it.
  std::optional<uint32_t> pmtu_probe = probe ? std::nullopt : pmtu_probe_len(now, out.size());
  if (pmtu_probe && (unsent < *pmtu_probe || wnd_room < *pmtu_probe || cwnd_room < *pmtu_probe)) {
    pmtu_probe.reset();
  }
  if (pmtu_probe) max_len = *pmtu_probe;
  uint32_t len = std::min({unsent, max_len, wnd_room, cwnd_room});
  if (unsent > 0) {
    if (len == 0) return 0;
    // Sender SWS avoidance (RFC 9293 3.8.6.2.1): no small segment cut short by
    // the windows while data is in flight.
    if (len < unsent && len < max_len && !rec_.sent.empty()) return 0;
    if (len == unsent && !nagle_allows(len, max_len)) return 0;
  } else if (cwnd_room == 0 && !rec_.sent.empty()) {
    return 0;
  }
  if (!probe && !pacing_allows(now)) {
    snd_.pacing_wait = true;
    return 0;
  }
  // RFC 5681 4.1: restart from the initial window after an idle period.
  if (rec_.sent.empty() && rtt_.has_sample() && now - snd_.last_send > rtt_.rto()) {
    rec_.cc->on_idle_restart(now);
  }
  bool fin = fin_pending && len == unsent;
  uint8_t f = flags::kAck;
  if (len > 0 && len == unsent) f |= flags::kPsh;
  if (fin) f |= flags::kFin;
  size_t offset = static_cast<uint32_t>(snd_.nxt - snd_.buffer_seq);
  if (rec_.sent.empty()) snd_.stall_start = now;
  size_t n = emit(now, out, snd_.nxt, f, offset, len, false, views);
  rec_.sent.on_sent(snd_.nxt, len + (fin ? 1 : 0), now, false, fin);
  if (f & flags::kPsh) rec_.sent.mark_pushed();
  if (pmtu_probe) on_pmtu_probe_sent(now, snd_.nxt, len);
  snd_.nxt += len;
  if (fin) {
    snd_.fin_sent = true;
    snd_.fin_seq = snd_.nxt;
    snd_.nxt += 1;
  }
  stats_.bytes_sent += len;
  rec_.cc->on_sent(now, len, bytes_in_pipe());
  on_paced_send(now, n);
  rec_.on_frto_new_data_sent();
  rec_.tlp_new_data_due = false;
  if (!timers_.retransmit) arm_rto(now);
  if (!probe) arm_tail_loss_probe(now);
  return n;
}

}  // namespace tou
