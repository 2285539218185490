// The demultiplexer (see demux.hpp): datagrams in, connections found or made.
#include "engine/demux.hpp"

#include <cassert>
#include <cerrno>

#include "engine/engine.hpp"
#include "engine/gso.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

void Endpoint::on_events(uint32_t events) {
  engine->on_endpoint_events(*this, events);
}

void TimeWaitEntry::on_timer(Instant) {
  engine->on_time_wait_timer(*this);
}

void Engine::on_endpoint_events(Endpoint& ep, uint32_t events) {
  if (ep.dead) return;
  if (events & EPOLLERR) drain_errors(ep);
  if (events & (EPOLLIN | EPOLLERR)) receive(ep);
}

// Drains the socket (edge-triggered), a bounded number of batches at a time so
// that one busy port cannot starve the others; the rest waits for the next turn.
// A turn that filled recvmmsg()'s batch has no reason to wait for more.
static_assert(ReceiveCoalescing::kEnoughDatagrams == RecvBatch::kSlots);

void Engine::receive(Endpoint& ep) {
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    if (ep.dead) return;
    int n = recv_.receive(ep.sock.fd());
    if (n < 0) {
      if (-n == ECONNREFUSED) refuse_handshakes(ep);
      continue;
    }
    for (size_t i = 0; i < static_cast<size_t>(n) && !ep.dead; ++i) {
      // A GRO batch is the peer's datagrams back to back: each on its own.
      for_each_gro_segment(recv_.data(i), recv_.segment_size(i), [&](auto segment) {
        if (!ep.dead) {
          coalesce_.on_datagram(on_datagram(ep, recv_.source(i), recv_.destination(i), segment));
        }
      });
    }
    if (n < static_cast<int>(RecvBatch::kSlots)) return;  // drained
  }
  pending_read_.push_back(&ep);
}

Duration Engine::on_datagram(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                             std::span<const uint8_t> bytes) {
  ++ep.stats.datagrams_received;
  std::optional<ConnectionKey> found = ConnectionKey::of_datagram(from, bytes);
  if (!found) {  // shorter than the ports: no connection's
    ++ep.stats.malformed;
    ++ep.stats.malformed_by_reason[static_cast<size_t>(ParseError::kTooShort)];
    return Duration{0};
  }
  const ConnectionKey& key = *found;
  Socket* target = ep.last_connection;
  if (target == nullptr || !(target->key == key)) {
    auto it = ep.connections.find(key);
    target = it != ep.connections.end() ? it->second : nullptr;
    if (target != nullptr) ep.last_connection = target;
  }
  // A connection that an earlier datagram of this batch closed (an RST, the
  // last ACK) leaves the demultiplexer at once, before the service turn that would
  // have removed it: a SYN right behind it starts a new connection (as Linux,
  // which unhashes at CLOSE), where the CLOSED core would refuse it with an RST.
  if (target != nullptr && target->core->state() == TcpState::kClosed) {
    leave_demux(*target);
    target = nullptr;
  }
  if (target != nullptr) {
    Socket& s = *target;
    settle_views(s);  // an ACK frees send buffer room that a write may fill
    s.core->on_datagram(now_, bytes);
    if (coalesce_.polling()) {
      ++s.coalesced_datagrams;
      if (s.core->ack_due()) transmit(s);
    }
    mark_dirty(s);
    return s.core->coalesce_window();
  }
  ParseResult parsed = parse_segment(bytes);
  if (!parsed.ok()) {
    ++ep.stats.malformed;
    ++ep.stats.malformed_by_reason[static_cast<size_t>(parsed.error)];
    return Duration{0};
  }
  const Segment& seg = parsed.segment;
  const SegmentHeader& h = seg.header;
  bool syn_only = h.has(flags::kSyn) && !h.has(flags::kAck) && !h.has(flags::kRst);
  if (auto it = ep.time_wait.find(key); it != ep.time_wait.end()) {
    TimeWaitEntry& tw = *it->second;
    const uint64_t suppressed = tw.state.acks_suppressed();
    switch (tw.state.on_segment(now_, seg, ep.listener != nullptr)) {
      case TimeWait::Verdict::kIgnore:
        ep.stats.time_wait_acks_suppressed += tw.state.acks_suppressed() - suppressed;
        return Duration{0};
      case TimeWait::Verdict::kRepeatAck:
        reply_time_wait(ep, tw);
        return Duration{0};
      case TimeWait::Verdict::kEnd:
        end_time_wait(tw);
        return Duration{0};
      case TimeWait::Verdict::kNewIncarnation:
        end_time_wait(tw);  // and the SYN goes on to the listener
        break;
    }
  }
  // A SYN may name another port than ours: a NAT or proxy in front of this
  // listener rewrites the UDP port, never the one inside the segment.
  if (syn_only && ep.listener != nullptr) {
    open_passive(ep, from, to, key, seg);
    return Duration{0};
  }
  // The ACK that completes a handshake answered with a SYN cookie (RFC 4987 3.6).
  if (ep.listener != nullptr && accept_cookie(ep, from, to, key, seg)) return Duration{0};
  if (syn_only && ep.joining) {
    ++ep.stats.syn_dropped;
    return Duration{0};
  }
  // A shared client port's connections have TCP ports of their own: a segment
  // to any port is answered. Elsewhere the port must be ours.
  if (!ep.shared && h.dst_port != ep.local.port()) {
    ++ep.stats.dropped_other;
    return Duration{0};
  }
  reply_reset(ep, from, to, seg);
  return Duration{0};
}

// TimeWait's ACK again (it decided: a retransmitted FIN, or anything else at
// most once per interval); a FIN may have moved its end.
void Engine::reply_time_wait(Endpoint& ep, TimeWaitEntry& tw) {
  std::span<const uint8_t> ack = tw.state.ack();
  if (send_.full()) flush_sends();
  std::span<uint8_t> out = send_.next();
  std::copy(ack.begin(), ack.end(), out.begin());
  send_.commit(ep.sock.fd(), ack.size(), ep.connected ? nullptr : &tw.remote,
               ep.wildcard ? &tw.local : nullptr);
  ++ep.stats.time_wait_acks;
  loop_.timers().schedule(tw, tw.state.expires());
}

void Engine::end_time_wait(TimeWaitEntry& tw) {
  Endpoint& ep = *tw.ep;
  auto it = ep.time_wait.find(tw.key);
  assert(it != ep.time_wait.end());
  loop_.timers().cancel(tw);
  tw.dead = true;
  dead_time_waits_.push_back(std::move(it->second));
  ep.time_wait.erase(it);
  release_endpoint(ep);
}

void Engine::reply_reset(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                         const Segment& seg) {
  if (seg.header.has(flags::kRst)) {
    ++ep.stats.dropped_other;  // an RST is never answered
    return;
  }
  if (!ep.resets.take(now_)) {
    ++ep.stats.resets_suppressed;
    return;
  }
  if (send_.full()) flush_sends();
  size_t n = make_reset_reply(seg, send_.next());
  if (n == 0) {
    ++ep.stats.dropped_other;  // an RST is never answered
    return;
  }
  send_.commit(ep.sock.fd(), n, ep.connected ? nullptr : &from, ep.wildcard ? to : nullptr);
  ++ep.stats.resets_sent;
}

void Engine::open_passive(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                          const ConnectionKey& key, const Segment& syn) {
  Listener& l = *ep.listener;
  ++ep.stats.syn_received;
  // A full accept queue drops the SYN, cookie or not (as Linux): the peer
  // retransmits it.
  if (accept_backlog(l) >= l.backlog) {
    ++ep.stats.syn_dropped;
    return;
  }
  if (l.opts.syncookies == 2) {
    send_cookie(ep, from, to, key, syn);
    return;
  }
  if (!l.half_open.try_acquire(l.backlog)) {  // the half-open table is full
    if (l.opts.syncookies == 1) {
      send_cookie(ep, from, to, key, syn);
    } else {
      ++ep.stats.syn_dropped;  // cookies off: the peer retransmits its SYN
    }
    return;
  }
  Socket& s = add_passive_socket(ep, from, to, key);
  s.half_open = true;  // (counted by try_acquire)
  // The connection is known by its UDP addresses; the segment's ports are the
  // ones the peer wrote, which differ from the UDP ports behind a NAT or a
  // proxy. Answer with the peer's own view: our port as its SYN named it, and
  // its port learned from the SYN (RFC 9293 3.10.7.2).
  OpenParams params = open_params(s.local, s.remote, key);
  params.local_port = syn.header.dst_port;
  params.remote_port = 0;
  s.core->listen(params);
  s.core->on_segment(now_, syn);
  mark_dirty(s);
}

SockAddr Engine::local_of(const Endpoint& ep, const SockAddr* to) const {
  SockAddr local = ep.local;
  if (to != nullptr && ep.wildcard) {
    local = *to;
    local.set_port(ep.local.port());
  }
  return local;
}

// A connection of the listener's, in its endpoint's connections, with its core made (not opened).
Socket& Engine::add_passive_socket(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                                   const ConnectionKey& key) {
  Listener& l = *ep.listener;
  auto owned = std::make_unique<Socket>(this);
  Socket& s = *owned;
  all_sockets_.insert(owned.release());
  s.domain = l.domain;
  s.opts = l.opts;
  s.phase = Socket::Phase::kConnecting;
  s.listener = &l;
  s.ep = &ep;
  ++ep.refs;
  s.remote = from;
  s.local = local_of(ep, to);
  s.key = key;
  ep.connections.emplace(key, &s);
  s.in_demux = true;
  s.core = make_core(s.opts, from, path_mtu(from));
  return s;
}

}  // namespace tou::engine
