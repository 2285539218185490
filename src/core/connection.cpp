// Connection: construction, the user API (RFC 9293 3.10.1-3.10.6), events and
// shared helpers. Segment input lives in connection_input.cpp, output in
// connection_output.cpp, timers in connection_timers.cpp.
#include "core/connection.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace tou {

uint8_t receive_window_shift(const ConnectionConfig& config) {
  if (!config.window_scaling) return 0;
  // RFC 7323 2.3: the smallest shift that lets the window field cover the buffer.
  size_t buffer = std::max(config.receive_buffer, config.window_scale_space);
  uint8_t shift = 0;
  while (shift < 14 && (buffer >> shift) > 0xffff) ++shift;
  return shift;
}

uint32_t ts_clock(Instant now, uint32_t ts_offset) {
  return static_cast<uint32_t>(to_us(now)) + ts_offset;
}

const char* to_string(ConnectionEvent event) {
  switch (event) {
    case ConnectionEvent::kEstablished:
      return "established";
    case ConnectionEvent::kReadable:
      return "readable";
    case ConnectionEvent::kWritable:
      return "writable";
    case ConnectionEvent::kPeerClosed:
      return "peer-closed";
    case ConnectionEvent::kError:
      return "error";
    case ConnectionEvent::kClosed:
      return "closed";
  }
  return "?";
}

Connection::Connection(const ConnectionConfig& config)
    : config_(config),
      rtt_(config.rtt),
      snd_(config.send_buffer),
      rcv_(config.receive_autotune
               ? std::min(config.receive_buffer, config.receive_autotune_initial)
               : config.receive_buffer),
      rec_({.snd = snd_,
            .rtt = rtt_,
            .timers = timers_,
            .stats = stats_,
            .host = recovery_host_,
            .sack_ok = sack_ok_},
           make_congestion_controller(
               config.congestion_control,
               {.mss = config.mss, .initial_window_segments = config.initial_window_segments}),
           config.rack),
      plpmtud_(config.plpmtud) {
  if (!rec_.cc) {
    // Unknown names are rejected by the API layer (ENOENT, as Linux's
    // TCP_CONGESTION); the core falls back rather than fail.
    rec_.cc = make_congestion_controller(
        "newreno", {.mss = config.mss, .initial_window_segments = config.initial_window_segments});
  }
  assert(rec_.cc);
  rcv_.mss = config.mss;
  rcv_.wscale = receive_window_shift(config);
}

Connection::~Connection() = default;

void Connection::open(const OpenParams& params, bool passive) {
  assert(state_ == TcpState::kClosed);
  local_port_ = params.local_port;
  remote_port_ = params.remote_port;
  ts_offset_ = params.ts_offset;
  snd_.iss = snd_.una = snd_.nxt = rec_.recover = params.iss;
  snd_.buffer_seq = params.iss + 1;  // the SYN takes the ISS itself
  passive_ = passive;
}

void Connection::connect(Instant now, const OpenParams& params) {
  open(params, false);
  snd_.last_send = now;
  // The SYN offers every option we have; the SYN-ACK decides (RFC 7323 2.2, RFC 2018 2).
  sack_ok_ = config_.sack;
  ts_ok_ = config_.timestamps;
  snd_.wscale_ok = config_.window_scaling;
  set_state(TcpState::kSynSent);
}

void Connection::listen(const OpenParams& params) {
  open(params, true);
  set_state(TcpState::kListen);
}

bool Connection::accept_cookie(Instant now, const OpenParams& params, const SynCookieOptions& syn,
                               const Segment& ack) {
  listen(params);
  // The client's SYN, as far as the cookie remembers it (RFC 4987 3.6).
  SegmentHeader h;
  h.src_port = ack.header.src_port;
  h.dst_port = ack.header.dst_port;
  h.seq = ack.header.seq - 1;
  h.flags = flags::kSyn;
  h.window = ack.header.window;
  h.options.mss = syn.mss;
  h.options.window_scale = syn.window_scale;
  h.options.sack_permitted = syn.sack_permitted;
  if (syn.timestamps && ack.header.options.timestamps) {
    h.options.timestamps = Timestamps{ack.header.options.timestamps->value, 0};
  }
  on_segment(now, Segment{h, {}});
  if (state_ != TcpState::kSynReceived) {
    become_closed();
    return false;
  }
  // Our SYN-ACK left without state: it took the ISS and advertised the window
  // window_field() gives. No RTT sample from it but the timestamp echo (as
  // Linux, whose cookie request has no SYN-ACK send time).
  snd_.nxt = snd_.iss + 1;
  window_field(true);
  on_segment(now, ack);
  if (is_established()) return true;
  if (state_ != TcpState::kClosed) become_closed();
  return false;
}

bool Connection::is_established() const {
  return is_synchronized(state_) && state_ != TcpState::kTimeWait;
}

size_t Connection::send(Instant now, std::span<const uint8_t> data) {
  (void)now;
  bool can_send = state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived ||
                  state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait;
  if (!can_send || snd_.fin_queued) return 0;
  return snd_.buffer.write(data);
}

std::array<std::span<uint8_t>, 2> Connection::send_spans(size_t max) {
  bool can_send = state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived ||
                  state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait;
  if (!can_send || snd_.fin_queued) return {};
  return snd_.buffer.writable_spans(max);
}

void Connection::send_commit(Instant now, size_t n) {
  (void)now;
  snd_.buffer.commit(n);
}

size_t Connection::recv_consume(Instant now, size_t n) {
  size_t before_window = rcv_.buffer.window();
  n = rcv_.buffer.discard(n);
  if (n == 0) return 0;
  note_read();
  resize_receive_buffer(now, n);
  maybe_update_window(before_window);
  return n;
}

size_t Connection::send_space() const {
  if (snd_.fin_queued || error_ != 0) return 0;
  return snd_.buffer.free_space();
}

size_t Connection::recv(Instant now, std::span<uint8_t> out) {
  size_t before_window = rcv_.buffer.window();
  size_t n = rcv_.buffer.read(out);
  if (n == 0) return 0;
  note_read();
  resize_receive_buffer(now, n);
  maybe_update_window(before_window);
  return n;
}

bool Connection::delivery_due() const {
  const size_t readable = rcv_.buffer.readable();
  if (readable == 0) return false;
  if (config_.delivery_coalesce <= Duration{0} || rcv_.delivery_overdue || rcv_.fin_received ||
      readable >= delivery_batch()) {
    return true;
  }
  // A PSH on a byte that has arrived in order (note_read() forgets it once read).
  return rcv_.push_end && *rcv_.push_end <= rcv_.nxt;
}

size_t Connection::delivery_batch() const {
  return std::clamp<size_t>(rcv_.space / 4, 1, kDeliveryBatch);
}

void Connection::note_read() {
  const size_t readable = rcv_.buffer.readable();
  if (rcv_.push_end && !rcv_.fin_received &&
      rcv_.nxt - static_cast<uint32_t>(readable) >= *rcv_.push_end) {
    rcv_.push_end.reset();  // read up to it: what follows waits for a PSH of its own
  }
  if (readable == 0) {
    timers_.delivery.reset();
    rcv_.delivery_overdue = false;
  }
}

// Window update (RFC 9293 3.8.6.2.2, as Linux's tcp_cleanup_rbuf): once the
// advertised window has fallen to half the buffer or less, announce a window
// at least twice as large without waiting for the next data segment.
void Connection::maybe_update_window(size_t window_before) {
  // RFC 9293 3.10.7.4: after the peer's FIN (CLOSE-WAIT, CLOSING, LAST-ACK,
  // TIME-WAIT) no more text is accepted, so a larger window tells it nothing.
  if (!is_synchronized(state_) || rcv_.fin_received) return;
  size_t advertised = static_cast<uint32_t>(rcv_.adv_edge - rcv_.nxt);
  // RFC 7323 2.3: no window beyond what the agreed shift can express.
  size_t max_window = size_t{0xffff} << rcv_.wscale;
  size_t now_window = std::min(rcv_.buffer.window(), max_window);
  // RFC 9293 3.8.6.2.2: the window may move by min(RCV.BUFF / 2, MSS) (as
  // window_field steps it); a buffer below two segments must still reopen.
  size_t step = std::min<size_t>(rcv_.buffer.capacity() / 2, rcv_.mss);
  if (now_window > std::min(window_before, max_window) &&
      2 * advertised <= rcv_.buffer.capacity() && now_window >= 2 * advertised &&
      now_window - advertised >= step) {
    rcv_.ack_now = true;
    ++stats_.window_updates;
  }
}

void Connection::shutdown(Instant now) {
  (void)now;
  switch (state_) {
    case TcpState::kListen:
    case TcpState::kSynSent:
      become_closed();
      return;
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      // RFC 9293 3.10.4: queue the FIN after the data, enter FIN-WAIT-1.
      snd_.fin_queued = true;
      set_state(TcpState::kFinWait1);
      return;
    case TcpState::kCloseWait:
      snd_.fin_queued = true;
      set_state(TcpState::kLastAck);
      return;
    default:
      return;  // already closing: "error: connection closing" is not an error here
  }
}

void Connection::close(Instant now) {
  rcv_.read_closed = true;
  // RFC 2525 2.17: closing with unread data aborts, so the peer learns that
  // the data was lost.
  if (rcv_.buffer.readable() > 0 && is_synchronized(state_)) {
    abort(now);
    return;
  }
  shutdown(now);
}

void Connection::abort(Instant now) {
  (void)now;
  // RFC 9293 3.10.5: SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT
  // send a reset; CLOSING, LAST-ACK and TIME-WAIT just delete the TCB.
  bool reset = state_ == TcpState::kSynReceived || state_ == TcpState::kEstablished ||
               state_ == TcpState::kFinWait1 || state_ == TcpState::kFinWait2 ||
               state_ == TcpState::kCloseWait;
  if (reset) {
    SegmentHeader rst;
    rst.seq = snd_.nxt;
    rst.flags = flags::kRst;
    pending_reset_ = rst;
  }
  become_closed();
}

std::optional<ConnectionEvent> Connection::poll_event() {
  if (pending_events_ == 0) return std::nullopt;
  for (uint8_t i = 0; i < 8; ++i) {
    if (pending_events_ & (1u << i)) {
      pending_events_ &= static_cast<uint8_t>(~(1u << i));
      return static_cast<ConnectionEvent>(i);
    }
  }
  return std::nullopt;
}

void Connection::push_event(ConnectionEvent e) {
  pending_events_ |= static_cast<uint8_t>(1u << static_cast<uint8_t>(e));
}

void Connection::set_state(TcpState s) {
  state_ = s;
}

void Connection::fail(int err) {
  error_ = err;
  push_event(ConnectionEvent::kError);
  become_closed();
}

void Connection::become_closed() {
  state_ = TcpState::kClosed;
  timers_ = ConnectionTimers{};
  rec_.sent.clear();
  rec_.in_recovery = false;
  rec_.rto_recovery = false;
  snd_.pacing_wait = false;
  rcv_.ack_now = false;
  push_event(ConnectionEvent::kClosed);
}

// RFC 7323 4.1 allows any tick between 1 ms and 1 s; only we interpret our
// own TSval, so we use microseconds for exact RTT samples on fast paths. It
// wraps in 71 minutes, far above 2*MSL, so PAWS stays sound (RFC 7323 5.4).
uint32_t Connection::ts_now(Instant now) const {
  return ts_clock(now, ts_offset_);
}

uint32_t Connection::flight_size() const {
  return static_cast<uint32_t>(snd_.nxt - snd_.una);
}

Duration Connection::coalesce_window() const {
  if (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait &&
      state_ != TcpState::kFinWait1 && state_ != TcpState::kFinWait2) {
    return Duration{0};
  }
  const bool streaming =
      rcv_.last_full_sized || flight_size() >= kCoalesceFlightSegments * uint32_t{snd_.mss};
  if (!streaming) return Duration{0};
  const Duration window = std::min(rtt_.srtt() / (1 << kCoalesceRttShift), kMaxCoalesce);
  return window >= kMinCoalesce ? window : Duration{0};
}

size_t Connection::send_unsent() const {
  const SeqNum data_end = snd_.buffer_seq + static_cast<uint32_t>(snd_.buffer.size());
  return data_end > snd_.nxt ? static_cast<uint32_t>(data_end - snd_.nxt) : 0;
}

bool Connection::new_data_sendable() const {
  const SeqNum data_end = snd_.buffer_seq + static_cast<uint32_t>(snd_.buffer.size());
  return data_end > snd_.nxt && snd_.una + snd_.wnd > snd_.nxt && !snd_.fin_sent;
}

bool Connection::in_recovery() const {
  return rec_.in_recovery;
}

void Connection::note_ack_needed(Instant now, bool immediate) {
  if (immediate) {
    rcv_.ack_now = true;
    return;
  }
  // RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK at least every second full-sized
  // segment, otherwise within the delayed-ACK timeout.
  if (++rcv_.unacked_segments >= 2) {
    rcv_.ack_now = true;
  } else if (!timers_.delayed_ack) {
    timers_.delayed_ack = now + config_.delayed_ack;
  }
}

ConnectionInfo Connection::info() const {
  ConnectionInfo i;
  i.state = state_;
  i.srtt = rtt_.srtt();
  i.rttvar = rtt_.rttvar();
  i.min_rtt = rtt_.min_rtt();
  i.rto = rtt_.rto();
  i.cwnd = rec_.cc->cwnd();
  i.ssthresh = rec_.cc->ssthresh();
  i.flight_size = flight_size();
  i.snd_wnd = snd_.wnd;
  i.rcv_wnd = static_cast<uint32_t>(rcv_.adv_edge - rcv_.nxt);
  i.rcv_space = static_cast<uint32_t>(std::min<size_t>(rcv_.space, UINT32_MAX));
  i.rcv_rtt = autotune_.rtt().value_or(Duration{0});
  i.snd_mss = snd_.mss;
  i.rcv_mss = rcv_.mss;
  i.snd_wscale = snd_.wscale;
  i.rcv_wscale = rcv_.wscale;
  i.sack = sack_ok_;
  i.timestamps = ts_ok_;
  i.in_recovery = rec_.in_recovery;
  i.pmtu = plpmtud_.enabled() ? plpmtud_.plpmtu() : 0;
  i.pmtud_state = plpmtud_.state();
  i.pmtud = plpmtud_.stats();
  i.stats = stats_;
  return i;
}

}  // namespace tou
