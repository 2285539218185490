// Socket options on an open connection: each setter changes the configuration
// and re-arms whatever depends on it now, as Linux does for setsockopt() on a
// connected TCP socket.
#include <algorithm>

#include "core/connection.hpp"

namespace tou {

namespace {

constexpr uint16_t kMinMss = 64;
constexpr uint32_t kTimestampOptionSize = 12;  // RFC 7323: what every segment loses to TS

}  // namespace

uint16_t Connection::effective_send_mss() const {
  // RFC 9293 3.7.1: never more than the peer's MSS option or ours.
  uint16_t mss = std::min(snd_.peer_mss, config_.mss);
  if (mss_limit_ != 0) mss = std::min(mss, mss_limit_);
  // RFC 8899: never more than the path MTU found so far allows.
  if (plpmtud_.enabled()) {
    mss = static_cast<uint16_t>(std::min<uint32_t>(mss, mss_for_plpmtu(plpmtud_.plpmtu())));
  }
  return std::max(mss, kMinMss);
}

void Connection::refresh_send_mss() {
  uint16_t mss = effective_send_mss();
  if (mss == snd_.mss) return;
  snd_.mss = mss;
  rec_.cc->set_mss(snd_.mss - (ts_ok_ ? kTimestampOptionSize : 0));
}

void Connection::set_keepalive(Instant now, bool on, Duration idle, Duration interval, int count) {
  const bool was_on = config_.keepalive;
  const Duration old_idle = config_.keepalive_idle;
  config_.keepalive = on;
  config_.keepalive_idle = idle;
  config_.keepalive_interval = interval;
  config_.keepalive_count = count;
  if (!on) {
    timers_.keepalive.reset();
    timers_.keepalive_probes_sent = 0;
    timers_.keepalive_probe_due = false;
    return;
  }
  // RFC 9293 3.8.4: keep-alives belong to a synchronized connection (TIME-WAIT
  // excluded); before that, on_handshake_done() arms the timer.
  if (!is_synchronized(state_) || state_ == TcpState::kTimeWait) return;
  if (!was_on || !timers_.keepalive) {
    // Linux's tcp_set_keepalive: the first probe comes `idle` from now.
    timers_.keepalive = now + idle;
    timers_.keepalive_probes_sent = 0;
  } else if (idle != old_idle && timers_.keepalive_probes_sent == 0) {
    // Linux's TCP_KEEPIDLE: the idle time already passed counts.
    timers_.keepalive = std::max(now, rcv_.last_input + idle);
  }
}

void Connection::set_user_timeout(Instant now, Duration timeout) {
  const Duration old = config_.user_timeout;
  config_.user_timeout = timeout;
  if (!timers_.retransmit || !is_synchronized(state_) || rec_.sent.empty()) return;
  // arm_rto() pulled the timer in to the old user timeout: re-arm from now.
  bool clamped_by_old = old.count() > 0 && *timers_.retransmit == snd_.stall_start + old;
  if (clamped_by_old) {
    arm_rto(now);
  } else if (timeout.count() > 0) {
    // RFC 9293 3.8.3: the timeout counts from when the outstanding data stalled.
    timers_.retransmit = std::max(now, std::min(*timers_.retransmit, snd_.stall_start + timeout));
  }
}

bool Connection::set_congestion_control(std::string_view name) {
  if (name == rec_.cc->name()) return true;  // Linux leaves the running one alone
  auto next = make_congestion_controller(
      name, {.mss = config_.mss, .initial_window_segments = config_.initial_window_segments});
  if (!next) return false;
  config_.congestion_control = std::string(name);
  if (is_synchronized(state_) || state_ == TcpState::kSynReceived) {
    // The handshake has set the MSS: the new controller starts from the old window.
    next->set_mss(snd_.mss - (ts_ok_ ? kTimestampOptionSize : 0));
    next->adopt_window(rec_.cc->cwnd(), rec_.cc->ssthresh());
  }
  rec_.cc = std::move(next);
  return true;
}

void Connection::set_send_buffer_limit(size_t bytes) {
  const size_t before = send_space();
  config_.send_buffer = bytes;
  snd_.buffer.set_capacity(bytes);
  if (send_space() > before) push_event(ConnectionEvent::kWritable);
}

void Connection::set_mss_limit(uint16_t limit) {
  mss_limit_ = limit;
  // Before the handshake apply_peer_syn_options() applies it.
  if (!is_synchronized(state_) && state_ != TcpState::kSynReceived) return;
  if (limit != 0 && plpmtud_.enabled()) {
    plpmtud_.lower_max(snd_.last_send, static_cast<uint16_t>(limit + plpmtud_.overhead() + 20));
  }
  refresh_send_mss();
}

}  // namespace tou
