// Connection timers: retransmission (RFC 6298), delayed ACK (RFC 9293
// 3.8.6.3), persist (3.8.6.1), keepalive (3.8.4), TIME-WAIT (3.4.2), and the
// user timeout (3.8.3).
#include <algorithm>
#include <cerrno>

#include "core/connection.hpp"

namespace tou {

namespace {

void take_min(std::optional<Instant>& acc, const std::optional<Instant>& t) {
  if (t && (!acc || *t < *acc)) acc = t;
}

}  // namespace

std::optional<Instant> Connection::next_deadline() const {
  std::optional<Instant> d;
  take_min(d, timers_.retransmit);
  take_min(d, timers_.tail_loss_probe);
  take_min(d, timers_.rack_reorder);
  take_min(d, timers_.delayed_ack);
  take_min(d, timers_.delivery);
  take_min(d, timers_.persist);
  take_min(d, timers_.keepalive);
  take_min(d, timers_.time_wait);
  if (snd_.pacing_wait) take_min(d, snd_.next_paced);
  return d;
}

void Connection::on_timer(Instant now) {
  if (timers_.time_wait && now >= *timers_.time_wait) {
    become_closed();  // RFC 9293 3.10.8: TIME-WAIT expired
    return;
  }
  if (timers_.retransmit && now >= *timers_.retransmit) {
    timers_.retransmit.reset();
    on_rto(now);
    if (state_ == TcpState::kClosed) return;
  }
  if (timers_.rack_reorder && now >= *timers_.rack_reorder) {
    timers_.rack_reorder.reset();
    rec_.on_reorder_timer(now, flight_size());
  }
  if (timers_.tail_loss_probe && now >= *timers_.tail_loss_probe) {
    timers_.tail_loss_probe.reset();
    on_tail_loss_probe(now);
  }
  if (timers_.delayed_ack && now >= *timers_.delayed_ack) {
    timers_.delayed_ack.reset();
    if (rcv_.unacked_segments > 0) {
      rcv_.ack_now = true;
      ++stats_.delayed_acks;
    }
  }
  if (timers_.delivery && now >= *timers_.delivery) {
    timers_.delivery.reset();
    rcv_.delivery_overdue = true;
  }
  if (timers_.persist && now >= *timers_.persist) on_persist(now);
  if (timers_.keepalive && now >= *timers_.keepalive) on_keepalive(now);
  if (snd_.pacing_wait && now >= snd_.next_paced) snd_.pacing_wait = false;
}

void Connection::arm_rto(Instant now) {
  Instant deadline = now + rtt_.rto();
  // RFC 9293 3.8.3: the user timeout fires on time, not at the next backoff.
  if (config_.user_timeout.count() > 0 && is_synchronized(state_)) {
    deadline = std::min(deadline, snd_.stall_start + config_.user_timeout);
    deadline = std::max(deadline, now);
  }
  timers_.retransmit = deadline;
}

// RFC 8985 7.2: a probe timeout of 2 SRTT (plus the peer's delayed-ACK time
// when one segment is in flight) turns a tail loss into a SACK-visible one
// instead of waiting for the RTO. Needs SACK to tell what the probe repaired.
void Connection::arm_tail_loss_probe(Instant now) {
  timers_.tail_loss_probe.reset();
  if (!config_.tail_loss_probe || !sack_ok_ || rec_.in_recovery || rec_.tlp_in_flight ||
      !rtt_.has_sample() || rec_.sent.empty() || !is_synchronized(state_)) {
    return;
  }
  Duration pto = 2 * rtt_.srtt();
  if (flight_size() <= snd_.mss) pto += config_.delayed_ack;  // RFC 8985 7.2 WCDelAckT
  Instant deadline = now + std::max(pto, config_.rtt.granularity);
  if (timers_.retransmit && deadline >= *timers_.retransmit) return;  // the RTO comes first
  timers_.tail_loss_probe = deadline;
}

// RFC 8985 7.3: send one new segment if the window allows, else retransmit
// the last one; then the RTO takes over.
void Connection::on_tail_loss_probe(Instant now) {
  if (rec_.sent.empty() || rec_.in_recovery) return;
  ++stats_.tail_loss_probes;
  rec_.tlp_in_flight = true;
  if (new_data_sendable()) {
    rec_.tlp_new_data_due = true;
  } else {
    size_t last = rec_.sent.size() - 1;
    rec_.sent.mark_lost(last);
    if (rec_.sent.first_lost() == last) rec_.fast_retransmit_due = true;
  }
  arm_rto(now);
}

void Connection::on_rto(Instant now) {
  if (rec_.sent.empty()) return;
  timers_.tail_loss_probe.reset();
  timers_.rack_reorder.reset();
  rec_.tlp_in_flight = false;
  ++snd_.rto_backoffs;
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
    // RFC 9293 3.8.1 / Linux tcp_syn_retries: give up on the handshake.
    int limit = state_ == TcpState::kSynSent ? config_.syn_retries : config_.synack_retries;
    if (snd_.rto_backoffs > limit) {
      fail(ETIMEDOUT);
      return;
    }
  } else {
    bool user_timeout =
        config_.user_timeout.count() > 0 && now - snd_.stall_start >= config_.user_timeout;
    if (user_timeout || snd_.rto_backoffs > config_.max_retransmissions) {
      // Tell the peer, in case the path has come back (Linux stays silent).
      SegmentHeader rst;
      rst.seq = snd_.nxt;
      rst.flags = flags::kRst;
      pending_reset_ = rst;
      fail(ETIMEDOUT);
      return;
    }
    ++stats_.rto_timeouts;
    // RFC 5681 3.1 eq. 4 and the loss window; RFC 6582 4: no fast retransmit
    // for the duplicate ACKs of data sent before the timeout.
    rec_.cc->on_rto(now, flight_size());
    // A first timeout starts an undo episode; back-to-back ones extend it.
    if (snd_.rto_backoffs == 1) rec_.start_undo_episode();
    rec_.in_recovery = false;
    rec_.rto_recovery = true;
    rec_.fast_retransmit_due = false;
    rec_.recover = snd_.nxt;
    rec_.dup_acks = 0;
  }
  snd_.rto_tsval = ts_now(now);
  // RFC 6298 (5.4)-(5.6): retransmit the earliest segment, back off, restart.
  rec_.sent.mark_all_lost();
  // RFC 5682 3.1 step 1 (not while a path MTU probe is out: its loss is not the path's).
  if (config_.frto && sack_ok_ && is_synchronized(state_) && !pmtu_probe_seq_) {
    rec_.start_frto(now);
  }
  rtt_.backoff();
  arm_rto(now);
  if (is_synchronized(state_)) check_black_hole(now);  // RFC 8899 4.3
}

void Connection::on_persist(Instant now) {
  ++stats_.window_probes;
  timers_.persist_probe_due = true;
  ++timers_.persist_backoff;
  // Probe intervals back off like the RTO (RFC 9293 3.8.6.1), capped at max_rto.
  Duration interval = rtt_.rto();
  for (int i = 0; i < timers_.persist_backoff && interval < config_.rtt.max_rto; ++i) interval *= 2;
  interval = std::min(interval, config_.rtt.max_rto);
  timers_.persist = now + interval;
  if (config_.user_timeout.count() > 0 && timers_.persist_backoff > 1 &&
      now - snd_.stall_start >= config_.user_timeout) {
    fail(ETIMEDOUT);
  }
}

void Connection::on_keepalive(Instant now) {
  if (!rec_.sent.empty()) {
    timers_.keepalive = now + config_.keepalive_interval;  // the RTO watches the path
    return;
  }
  // With a user timeout, Linux gives up once the peer has been silent that
  // long (after at least one probe) instead of counting probes.
  bool give_up =
      config_.user_timeout.count() > 0
          ? timers_.keepalive_probes_sent > 0 && now - rcv_.last_input >= config_.user_timeout
          : timers_.keepalive_probes_sent >= config_.keepalive_count;
  if (give_up) {
    fail(ETIMEDOUT);
    return;
  }
  ++timers_.keepalive_probes_sent;
  ++stats_.keepalive_probes;
  timers_.keepalive_probe_due = true;
  timers_.keepalive = now + config_.keepalive_interval;
}

void Connection::enter_time_wait(Instant now) {
  set_state(TcpState::kTimeWait);
  timers_.retransmit.reset();
  timers_.tail_loss_probe.reset();
  timers_.rack_reorder.reset();
  timers_.persist.reset();
  timers_.keepalive.reset();
  timers_.time_wait = now + 2 * config_.msl;
}

}  // namespace tou
