// Connection input: RFC 9293 3.10.7 "SEGMENT ARRIVES", split by state, with
// the RFC 5961 and RFC 7323 checks in the order the RFCs give.
#include <algorithm>
#include <cerrno>

#include "core/connection.hpp"

namespace tou {

std::optional<SegmentHeader> reset_reply(const Segment& incoming) {
  const SegmentHeader& h = incoming.header;
  if (h.has(flags::kRst)) return std::nullopt;
  SegmentHeader rst;
  rst.src_port = h.dst_port;
  rst.dst_port = h.src_port;
  if (h.has(flags::kAck)) {
    rst.seq = h.ack;  // <SEQ=SEG.ACK><CTL=RST>
    rst.flags = flags::kRst;
  } else {
    rst.ack = h.seq + incoming.seq_len();  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    rst.flags = flags::kRst | flags::kAck;
  }
  return rst;
}

size_t make_reset_reply(const Segment& incoming, std::span<uint8_t> out) {
  std::optional<SegmentHeader> rst = reset_reply(incoming);
  if (!rst || out.size() < rst->wire_size()) return 0;
  return emit_segment(*rst, {}, out);
}

void Connection::on_datagram(Instant now, std::span<const uint8_t> datagram) {
  rcv_.last_full_sized = false;
  ParseResult parsed = parse_segment(datagram);
  if (!parsed.ok()) {
    ++stats_.dropped_malformed[static_cast<size_t>(parsed.error)];
    return;
  }
  on_segment(now, parsed.segment);
}

void Connection::on_segment(Instant now, const Segment& seg) {
  const SegmentHeader& h = seg.header;
  if (h.dst_port != local_port_ || (remote_port_ != 0 && h.src_port != remote_port_)) {
    ++stats_.dropped_other;
    return;
  }
  ++stats_.segments_received;
  switch (state_) {
    case TcpState::kClosed:
      ++stats_.dropped_other;
      if (auto rst = reset_reply(seg)) pending_reset_ = rst;
      return;
    case TcpState::kListen:
      input_listen(now, seg);
      return;
    case TcpState::kSynSent:
      input_syn_sent(now, seg);
      return;
    default:
      input_synchronized(now, seg);
      return;
  }
}

void Connection::apply_peer_syn_options(const SegmentHeader& syn) {
  const TcpOptions& o = syn.options;
  // RFC 9293 3.7.1: without the option the peer takes 536 bytes.
  snd_.peer_mss = o.mss.value_or(536);
  snd_.mss = effective_send_mss();
  // RFC 7323 2.2: scaling only when both sides sent the option; shifts above 14 are 14.
  snd_.wscale_ok = config_.window_scaling && o.window_scale.has_value();
  if (snd_.wscale_ok) {
    snd_.wscale = std::min<uint8_t>(*o.window_scale, 14);
  } else {
    snd_.wscale = 0;
    rcv_.wscale = 0;
  }
  sack_ok_ = config_.sack && o.sack_permitted;              // RFC 2018 2
  ts_ok_ = config_.timestamps && o.timestamps.has_value();  // RFC 7323 3.2
  if (ts_ok_) rcv_.ts_recent = o.timestamps->value;
  // The window in a SYN is never scaled (RFC 7323 2.2).
  snd_.wnd = syn.window;
  snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
  snd_.wl1 = syn.seq;
  snd_.wl2 = syn.ack;
  uint32_t smss = snd_.mss - (ts_ok_ ? 12u : 0u);
  rec_.cc->set_mss(smss);
}

// RFC 9293 3.10.7.2.
void Connection::input_listen(Instant now, const Segment& seg) {
  const SegmentHeader& h = seg.header;
  if (h.has(flags::kRst)) return;  // first: an incoming RST is ignored
  if (h.has(flags::kAck)) {        // second: any ACK is bad here
    SegmentHeader rst;
    rst.seq = h.ack;
    rst.flags = flags::kRst;
    pending_reset_ = rst;
    ++stats_.dropped_other;
    return;
  }
  if (!h.has(flags::kSyn)) {
    ++stats_.dropped_other;
    return;
  }
  // third: a SYN. Data carried on it is not taken (the peer resends it).
  remote_port_ = h.src_port;
  rcv_.irs = h.seq;
  rcv_.nxt = h.seq + 1;
  rcv_.adv_edge = rcv_.nxt;
  rcv_.last_ack_sent = rcv_.nxt;
  apply_peer_syn_options(h);
  snd_.last_send = now;
  set_state(TcpState::kSynReceived);
}

// RFC 9293 3.10.7.3.
void Connection::input_syn_sent(Instant now, const Segment& seg) {
  const SegmentHeader& h = seg.header;
  bool ack_ok = false;
  if (h.has(flags::kAck)) {
    // first: an ACK must acknowledge our SYN and nothing beyond it.
    if (h.ack <= snd_.iss || h.ack > snd_.nxt) {
      if (!h.has(flags::kRst)) {
        SegmentHeader rst;
        rst.seq = h.ack;
        rst.flags = flags::kRst;
        pending_reset_ = rst;
      }
      ++stats_.dropped_bad_ack;
      return;
    }
    ack_ok = snd_.una < h.ack && h.ack <= snd_.nxt;
  }
  if (h.has(flags::kRst)) {
    // second: a reset that acknowledges our SYN means the port is closed.
    ++stats_.resets_received;
    if (ack_ok) {
      fail(ECONNREFUSED);
    } else {
      ++stats_.dropped_other;
    }
    return;
  }
  if (!h.has(flags::kSyn)) {
    ++stats_.dropped_other;
    return;
  }
  // fourth: the SYN.
  rcv_.irs = h.seq;
  rcv_.nxt = h.seq + 1;
  rcv_.adv_edge = rcv_.nxt;
  rcv_.last_ack_sent = rcv_.nxt;
  apply_peer_syn_options(h);
  if (ack_ok) {
    CumulativeAckResult acked = rec_.sent.on_cumulative_ack(h.ack, now);
    take_rtt_sample(now, seg, acked);
    snd_.una = h.ack;
    on_handshake_done(now);
    rcv_.ack_now = true;
  } else {
    // Simultaneous open (RFC 9293 Figure 8): answer with SYN-ACK, which is our
    // SYN retransmitted now that an ACK can be carried.
    set_state(TcpState::kSynReceived);
    if (!rec_.sent.empty()) rec_.sent.mark_lost(0);
  }
}

void Connection::on_handshake_done(Instant now) {
  set_state(TcpState::kEstablished);
  // RFC 6298 (5.7): a SYN or SYN-ACK timed out and no RTT was measured.
  if (snd_.rto_backoffs > 0) rtt_.restart_from(std::chrono::seconds(3));
  snd_.rto_backoffs = 0;
  snd_.stall_start = now;
  timers_.retransmit.reset();
  if (!rec_.sent.empty()) arm_rto(now);
  rcv_.last_input = now;
  if (plpmtud_.enabled()) {
    // RFC 8899 5.1.2: no probe larger than the peer's MSS option (or
    // TCP_MAXSEG) lets through.
    uint16_t cap = std::min(snd_.peer_mss, config_.mss);
    if (mss_limit_ != 0) cap = std::min(cap, mss_limit_);
    plpmtud_.lower_max(
        now, static_cast<uint16_t>(std::min<uint32_t>(cap + plpmtud_.overhead() + 20u, 0xffff)));
    refresh_send_mss();
  }
  if (config_.keepalive) timers_.keepalive = now + config_.keepalive_idle;
  start_receive_autotune(now);
  push_event(ConnectionEvent::kEstablished);
  if (snd_.buffer.free_space() > 0) push_event(ConnectionEvent::kWritable);
}

// RFC 9293 3.10.7.4 "Otherwise": SYN-RECEIVED and every synchronized state.
void Connection::input_synchronized(Instant now, const Segment& seg) {
  const SegmentHeader& h = seg.header;

  // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it again.
  if (state_ == TcpState::kSynReceived && h.has(flags::kSyn) && !h.has(flags::kAck) &&
      h.seq == rcv_.irs) {
    if (!rec_.sent.empty() && !rec_.sent.front().lost) rec_.sent.mark_lost(0);
    return;
  }

  // Simultaneous open (RFC 9293 Figure 8, line 5): the peer's SYN-ACK repeats
  // its SYN and acknowledges ours; take the ACK and answer it.
  if (state_ == TcpState::kSynReceived && !passive_ && h.has(flags::kSyn) && h.has(flags::kAck) &&
      h.seq == rcv_.irs) {
    if (process_ack(now, seg)) rcv_.ack_now = true;
    return;
  }

  // RFC 7323 5.3 R1: PAWS, before the sequence check.
  if (ts_ok_ && h.options.timestamps && !h.has(flags::kRst) &&
      static_cast<int32_t>(h.options.timestamps->value - rcv_.ts_recent) < 0 &&
      !(h.has(flags::kSyn) && state_ == TcpState::kSynReceived)) {
    ++stats_.dropped_paws;
    ack_unacceptable(now, seg);
    // A retransmission that a reordering path delivered after newer segments fails PAWS;
    // its data below RCV.NXT is still a duplicate to report (RFC 2883 4.1.1, as Linux's
    // tcp_send_dupack), or the sender never learns its retransmission was spurious.
    note_dsack_below_rcv_nxt(seg);
    return;
  }

  // first: sequence acceptability.
  if (!segment_acceptable(seg)) {
    ++stats_.dropped_unacceptable;
    if (!h.has(flags::kRst)) ack_unacceptable(now, seg);
    if (!h.has(flags::kRst)) note_dsack_below_rcv_nxt(seg);
    if (state_ == TcpState::kTimeWait && h.has(flags::kFin)) {
      timers_.time_wait = now + 2 * config_.msl;  // RFC 9293 3.10.7.4: restart 2 MSL
    }
    return;
  }

  // second: RST, with the RFC 5961 3.2 exact-match rule.
  if (h.has(flags::kRst)) {
    process_rst(now, seg);
    return;
  }

  // RFC 7323 4.3: remember the peer's timestamp for echoing.
  update_timestamps_on_input(seg);

  // fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 4.2).
  if (h.has(flags::kSyn)) {
    send_challenge_ack(now);
    return;
  }

  // fifth: ACK processing.
  if (!h.has(flags::kAck)) {
    ++stats_.dropped_other;
    return;
  }
  if (!process_ack(now, seg)) return;
  if (state_ == TcpState::kClosed) return;

  rcv_.last_input = now;
  // RFC 9293 3.8.4: keep-alives probe an open connection, never one in TIME-WAIT.
  if (config_.keepalive && is_synchronized(state_) && state_ != TcpState::kTimeWait) {
    timers_.keepalive = now + config_.keepalive_idle;
    timers_.keepalive_probes_sent = 0;
  }

  // seventh: segment text.
  process_text(now, seg);
  if (state_ == TcpState::kClosed) return;
  // eighth: FIN.
  process_fin(now, seg);
}

// RFC 2883 4.1.1: data below RCV.NXT is a duplicate; report it as a D-SACK.
void Connection::note_dsack_below_rcv_nxt(const Segment& seg) {
  const SeqNum seq = seg.header.seq;
  if (!sack_ok_ || seg.payload.empty() || !(seq < rcv_.nxt)) return;
  const SeqNum end = seq + static_cast<uint32_t>(seg.payload.size());
  rcv_.dsack = SackBlock{seq, seq_min(end, rcv_.nxt)};
}

// RFC 9293 3.10.7.4 first check, the four cases of the acceptability test,
// with RCV.WND the window we advertised.
bool Connection::segment_acceptable(const Segment& seg) const {
  uint32_t len = seg.seq_len();
  uint32_t wnd = static_cast<uint32_t>(std::max<int32_t>(rcv_.adv_edge - rcv_.nxt, 0));
  SeqNum seq = seg.header.seq;
  if (len == 0) {
    if (wnd == 0) return seq == rcv_.nxt;
    return seq_in_window(seq, rcv_.nxt, wnd);
  }
  if (wnd == 0) return false;
  return seq_in_window(seq, rcv_.nxt, wnd) || seq_in_window(seq + (len - 1), rcv_.nxt, wnd);
}

bool Connection::process_rst(Instant now, const Segment& seg) {
  ++stats_.resets_received;
  if (seg.header.seq != rcv_.nxt) {
    // RFC 5961 3.2: in window but not exact, answer with a challenge ACK.
    send_challenge_ack(now);
    return false;
  }
  switch (state_) {
    case TcpState::kSynReceived:
      // A passive open goes away quietly; an active one (simultaneous open) is refused.
      fail(passive_ ? ECONNRESET : ECONNREFUSED);
      break;
    case TcpState::kClosing:
    case TcpState::kLastAck:
    case TcpState::kTimeWait:
      become_closed();
      break;
    default:
      fail(ECONNRESET);
      break;
  }
  return true;
}

void Connection::send_challenge_ack(Instant now) {
  // RFC 5961 7: limit challenge ACKs, counted per one-second window.
  uint64_t t = static_cast<uint64_t>(to_us(now));
  if (t - snd_.challenge_window_start_us >= 1'000'000) {
    snd_.challenge_window_start_us = t;
    snd_.challenge_acks_in_window = 0;
  }
  if (snd_.challenge_acks_in_window >= config_.challenge_ack_limit) {
    ++stats_.challenge_acks_suppressed;
    return;
  }
  ++snd_.challenge_acks_in_window;
  ++stats_.challenge_acks;
  rcv_.ack_now = true;
}

// The ACK owed to a segment that failed the sequence, PAWS or ACK checks
// (RFC 9293 3.10.7.4, RFC 7323 5.3, RFC 5961 5.2). As Linux's
// tcp_oow_rate_limited: one per invalid_ack_interval for segments without
// data (a data segment's ACK is what its sender needs, and it cannot loop);
// a SYN's reply is a challenge ACK, limited by RFC 5961 7 instead.
void Connection::ack_unacceptable(Instant now, const Segment& seg) {
  if (seg.header.has(flags::kSyn)) {
    send_challenge_ack(now);  // RFC 5961 4.2: anywhere in the sequence space
    return;
  }
  if (!seg.payload.empty()) {
    rcv_.ack_now = true;
    return;
  }
  if (rcv_.last_invalid_ack && now - *rcv_.last_invalid_ack < config_.invalid_ack_interval) {
    ++stats_.invalid_acks_suppressed;
    return;
  }
  rcv_.last_invalid_ack = now;
  rcv_.ack_now = true;
}

void Connection::update_timestamps_on_input(const Segment& seg) {
  const auto& ts = seg.header.options.timestamps;
  if (!ts_ok_ || !ts) return;
  // RFC 7323 4.3 (2): only a segment covering Last.ACK.sent updates TS.Recent.
  if (static_cast<int32_t>(ts->value - rcv_.ts_recent) >= 0 &&
      seg.header.seq <= rcv_.last_ack_sent) {
    rcv_.ts_recent = ts->value;
  }
}

std::optional<Duration> Connection::take_rtt_sample(Instant now, const Segment& seg,
                                                    const CumulativeAckResult& acked) {
  const auto& ts = seg.header.options.timestamps;
  // An echo from before the last RTO belongs to a copy the timeout already
  // gave up on: the sample would include the whole backoff wait.
  bool stale = ts && snd_.rto_tsval && static_cast<int32_t>(ts->echo_reply - *snd_.rto_tsval) < 0;
  if (ts_ok_ && ts && ts->echo_reply != 0 && !stale) {
    // RFC 7323 4.2: the echoed timestamp gives an RTT even for retransmitted data.
    uint32_t elapsed = ts_now(now) - ts->echo_reply;
    if (elapsed < (1u << 31)) {
      rtt_.on_sample(Duration{elapsed});
      return Duration{elapsed};
    }
  }
  if (acked.rtt_sample_sent) {
    rtt_.on_sample(now - *acked.rtt_sample_sent);  // Karn's algorithm (RFC 6298 3)
    return now - *acked.rtt_sample_sent;
  }
  return std::nullopt;
}

// Returns false when the segment must be dropped.
bool Connection::process_ack(Instant now, const Segment& seg) {
  const SegmentHeader& h = seg.header;
  if (state_ == TcpState::kSynReceived) {
    // RFC 9293 3.10.7.4 fifth, SYN-RECEIVED: our SYN-ACK must be acknowledged.
    if (!(snd_.una < h.ack && h.ack <= snd_.nxt)) {
      SegmentHeader rst;
      rst.seq = h.ack;
      rst.flags = flags::kRst;
      pending_reset_ = rst;
      ++stats_.dropped_bad_ack;
      return false;
    }
    CumulativeAckResult acked = rec_.sent.on_cumulative_ack(h.ack, now);
    take_rtt_sample(now, seg, acked);
    snd_.una = h.ack;
    snd_.wnd = static_cast<uint32_t>(h.window) << snd_.wscale;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = h.seq;
    snd_.wl2 = h.ack;
    on_handshake_done(now);
    return true;
  }

  // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (h.ack > snd_.nxt || h.ack < snd_.una - snd_.max_wnd) {
    ++stats_.dropped_bad_ack;
    ack_unacceptable(now, seg);
    return false;
  }

  uint32_t old_wnd = snd_.wnd;
  bool advanced = h.ack > snd_.una;
  // Recovery as it stood when this ACK arrived (the controller's view of it).
  const bool was_in_recovery = rec_.in_recovery;
  bool recovery_ended = false;
  uint32_t flight_before = flight_size();
  // RFC 7661 spirit: the window was not the limit when everything queued was sent.
  bool app_limited = snd_.nxt == snd_.buffer_seq + static_cast<uint32_t>(snd_.buffer.size()) &&
                     flight_before < rec_.cc->cwnd();
  uint32_t bytes_acked = 0;
  std::optional<Duration> rtt_sample;
  if (advanced) {
    CumulativeAckResult acked = rec_.sent.on_cumulative_ack(h.ack, now);
    bytes_acked = acked.bytes_acked;
    rtt_sample = take_rtt_sample(now, seg, acked);
    // Free the acknowledged bytes of the send buffer.
    if (h.ack > snd_.buffer_seq) {
      size_t n =
          std::min<size_t>(static_cast<uint32_t>(h.ack - snd_.buffer_seq), snd_.buffer.size());
      snd_.buffer.consume(n);
      snd_.buffer_seq += static_cast<uint32_t>(n);
      stats_.bytes_acked += n;
      if (n > 0) push_event(ConnectionEvent::kWritable);
    }
    snd_.una = h.ack;
    snd_.rto_backoffs = 0;
    snd_.stall_start = now;
    recovery_ended = rec_.on_snd_una_advanced(h.ack);
    // RFC 6298 (5.2), (5.3): stop the timer when all is acknowledged, else restart it.
    timers_.retransmit.reset();
    rec_.tlp_in_flight = false;
    if (rec_.sent.empty()) snd_.rto_tsval.reset();
    if (!rec_.sent.empty()) arm_rto(now);
    arm_tail_loss_probe(now);
  }

  // RFC 9293 3.10.7.4: update the send window from newer segments only.
  if (snd_.wl1 < h.seq || (snd_.wl1 == h.seq && snd_.wl2 <= h.ack)) {
    snd_.wnd = static_cast<uint32_t>(h.window) << snd_.wscale;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = h.seq;
    snd_.wl2 = h.ack;
    if (snd_.wnd > 0) {
      timers_.persist.reset();
      timers_.persist_backoff = 0;
    }
  }

  // RFC 5681 2: a duplicate ACK carries no data, no SYN/FIN, the same ACK and
  // window, while data is outstanding.
  bool dup = !advanced && h.ack == snd_.una && seg.payload.empty() && !h.has(flags::kFin) &&
             snd_.wnd == old_wnd && !rec_.sent.empty();
  // Nothing of ours in flight, nothing acknowledged, no SACK (D-SACK included): no
  // loss to detect and no sample for the controller, as Linux's tcp_ack() skips
  // both for such an ACK (no_queue). The common case of a one-way stream's
  // receiver: every data segment carries this ACK.
  if (advanced || !rec_.sent.empty() || h.options.sack_count != 0) {
    const uint64_t spurious_rtos_before = stats_.frto_spurious_rtos;
    rec_.on_ack({.now = now,
                 .seg = seg,
                 .dup = dup,
                 .bytes_acked = bytes_acked,
                 .flight_before = flight_before,
                 .app_limited = app_limited,
                 .was_in_recovery = was_in_recovery,
                 .recovery_ended = recovery_ended,
                 .rtt = rtt_sample,
                 .ts_ecr = ts_ok_ && h.options.timestamps && h.options.timestamps->echo_reply != 0
                               ? std::optional<uint32_t>(h.options.timestamps->echo_reply)
                               : std::nullopt,
                 .new_data_sendable = new_data_sendable()});
    if (stats_.frto_spurious_rtos != spurious_rtos_before) {
      // RFC 4015 3.2 (the Eifel response adapts the RTO): a spurious timeout's backoff goes
      // with it, as Linux's RTT sample from the originals this ACK SACKed clears it. Kept,
      // the segments still missing would wait out the doubled RTOs (seconds after a
      // partition) whenever the new data's ACK is lost too.
      rtt_.clear_backoff();
      snd_.rto_backoffs = 0;
      if (timers_.retransmit) arm_rto(now);
    }
  }

  // Our FIN acknowledged: state changes (RFC 9293 3.10.7.4 fifth, per state).
  bool fin_acked = snd_.fin_sent && snd_.una == snd_.fin_seq + 1;
  if (fin_acked) {
    switch (state_) {
      case TcpState::kFinWait1:
        set_state(TcpState::kFinWait2);
        break;
      case TcpState::kClosing:
        enter_time_wait(now);
        return false;
      case TcpState::kLastAck:
        become_closed();
        return false;
      default:
        break;
    }
  }
  if (state_ == TcpState::kTimeWait && h.has(flags::kFin)) {
    rcv_.ack_now = true;
    timers_.time_wait = now + 2 * config_.msl;
  }
  return true;
}

void Connection::process_text(Instant now, const Segment& seg) {
  if (seg.payload.empty()) return;
  if (state_ != TcpState::kEstablished && state_ != TcpState::kFinWait1 &&
      state_ != TcpState::kFinWait2) {
    return;  // RFC 9293 3.10.7.4 seventh: ignored after the peer's FIN
  }
  rcv_.last_full_sized = seg.payload.size() >= snd_.mss;
  if (rcv_.read_closed) {
    // Nobody will read this: abort as Linux does (RFC 2525 2.17).
    abort(now);
    return;
  }
  SeqNum seq = seg.header.seq;
  std::span<const uint8_t> data = seg.payload;
  if (seq < rcv_.nxt) {
    uint32_t old = static_cast<uint32_t>(rcv_.nxt - seq);
    // RFC 2883 4.1.1: report the duplicate part below RCV.NXT as a D-SACK block.
    if (sack_ok_) {
      rcv_.dsack =
          SackBlock{seq, seq + std::min<uint32_t>(old, static_cast<uint32_t>(data.size()))};
    }
    if (old >= data.size()) {
      ++stats_.duplicate_segments;
      rcv_.ack_now = true;
      return;
    }
    data = data.subspan(old);
    seq = rcv_.nxt;
  }
  size_t offset = static_cast<uint32_t>(seq - rcv_.nxt);
  bool had_gap = !rcv_.buffer.out_of_order().empty();
  if (sack_ok_ && offset > 0) {
    // RFC 2883 4.1.2: a duplicate of data held above RCV.NXT is reported too.
    for (const ByteRange& r : rcv_.buffer.out_of_order()) {
      if (r.begin <= offset && offset + data.size() <= r.end) {
        rcv_.dsack = SackBlock{seq, seq + static_cast<uint32_t>(data.size())};
        ++stats_.duplicate_segments;
      }
    }
  }
  size_t advanced = rcv_.buffer.insert(offset, data);
  rcv_.nxt += static_cast<uint32_t>(advanced);
  autotune_on_segment(now, seg, advanced);
  if (seg.header.has(flags::kPsh)) {
    const SeqNum end = seq + static_cast<uint32_t>(data.size());
    if (!rcv_.push_end || *rcv_.push_end < end) rcv_.push_end = end;
  }
  if (advanced > 0) {
    stats_.bytes_received += advanced;
    if (config_.delivery_coalesce > Duration{0} && !timers_.delivery && !rcv_.delivery_overdue) {
      timers_.delivery = now + config_.delivery_coalesce;
    }
    push_event(ConnectionEvent::kReadable);
  }
  if (offset > 0) {
    // RFC 5681 4.2: out-of-order data is acknowledged at once (a duplicate ACK
    // with SACK blocks, RFC 2018 4); remember it for the first block.
    ++stats_.out_of_order_segments;
    rcv_.last_ooo_block = SackBlock{seq, seq + static_cast<uint32_t>(data.size())};
    rcv_.ack_now = true;
  } else if (had_gap) {
    rcv_.ack_now = true;  // RFC 5681 4.2: a segment that fills a gap, ACK at once
  } else {
    note_ack_needed(now, false);
  }
}

void Connection::process_fin(Instant now, const Segment& seg) {
  if (seg.header.has(flags::kFin)) {
    if (state_ == TcpState::kCloseWait || state_ == TcpState::kClosing ||
        state_ == TcpState::kLastAck) {
      rcv_.ack_now = true;  // a retransmitted FIN: ACK it again
      return;
    }
    if (state_ == TcpState::kTimeWait) return;  // handled with the ACK
    if (!rcv_.fin_seq) rcv_.fin_seq = seg.header.seq + static_cast<uint32_t>(seg.payload.size());
    rcv_.ack_now = true;
  }
  // The FIN is consumed once every byte before it has arrived; a FIN ahead of
  // a gap waits for the data that fills it.
  if (!rcv_.fin_seq || rcv_.fin_received || *rcv_.fin_seq != rcv_.nxt) return;
  rcv_.nxt += 1;
  rcv_.fin_received = true;
  rcv_.ack_now = true;
  push_event(ConnectionEvent::kPeerClosed);
  push_event(ConnectionEvent::kReadable);
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      set_state(TcpState::kCloseWait);
      break;
    case TcpState::kFinWait1:
      // Our FIN not yet acknowledged: simultaneous close.
      set_state(TcpState::kClosing);
      break;
    case TcpState::kFinWait2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
}

}  // namespace tou
