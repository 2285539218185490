// The listener's defences against SYN floods (RFC 4987; see demux.hpp): SYN
// cookies when the backlog of half-open connections is full, and the pruning
// of half-open connections while it is crowded.
#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

// RFC 4987 3.6: a SYN-ACK whose ISN is the cookie, and nothing kept.
void Engine::send_cookie(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                         const Segment& syn) {
  Listener& l = *ep.listener;
  SockAddr local = local_of(ep, to);
  ConnectionConfig cfg = core_config(l.opts, from, path_mtu(from));
  OpenParams params = open_params(local, from);
  std::optional<uint32_t> ts;
  if (cfg.timestamps) ts = ts_clock(now_, params.ts_offset);
  std::array<uint8_t, 40> tuple = tuple_of(local, from);
  SynCookie cookie = cookies_->make(now_, tuple, syn.header, ts);
  SegmentHeader synack = cookie_syn_ack(cfg, syn.header, cookie);
  if (send_.full()) flush_sends();
  size_t n = emit_segment(synack, {}, send_.next());
  send_.commit(ep.sock.fd(), n, &from, ep.wildcard ? to : nullptr);
  ++ep.stats.syn_cookies_sent;
  l.last_cookie_sent = now_;
}

// An ACK to no connection of a listener that sent cookies lately: a valid
// cookie makes the connection, ESTABLISHED at once. Returns false when the
// segment is left to the caller (no cookie to check, or a bad one: it is
// answered with RST like any segment for no connection).
bool Engine::accept_cookie(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                           const AddrKey& key, const Segment& ack) {
  Listener& l = *ep.listener;
  const SegmentHeader& h = ack.header;
  if (!h.has(flags::kAck) || h.has(flags::kSyn) || h.has(flags::kRst)) return false;
  if (!l.last_cookie_sent || now_ - *l.last_cookie_sent > SynCookies::kLifetime) return false;
  SockAddr local = local_of(ep, to);
  OpenParams params = open_params(local, from);
  std::optional<uint32_t> ts;
  if (core_config(l.opts, from, path_mtu(from)).timestamps) ts = ts_clock(now_, params.ts_offset);
  std::optional<SynCookieOptions> syn = cookies_->check(now_, tuple_of(local, from), h, ts);
  if (!syn) {
    ++ep.stats.syn_cookies_rejected;
    return false;
  }
  if (accept_queue(l) + static_cast<int>(l.ready.size()) >= l.backlog) {
    ++ep.stats.accept_overflows;  // as Linux: dropped; the client's next segment retries
    return true;
  }
  ++ep.stats.syn_cookies_validated;
  Stream& s = add_passive_stream(ep, from, to, key);
  params.iss = h.ack - 1;
  params.local_port = h.dst_port;
  params.remote_port = 0;
  s.core->accept_cookie(now_, params, *syn, ack);  // CLOSED on failure: service() buries it
  mark_dirty(s);
  return true;
}

// Linux's request-queue pruning (reqsk_timer_handler): while more than half
// of the backlog is half-open, a half-open connection whose SYN-ACK went
// unanswered kPressureSynackRetries times goes, silently, instead of
// retransmitting again. Returns true when `s` went.
bool Engine::prune_half_open(Stream& s) {
  if (!s.half_open || s.listener == nullptr || s.core->state() != TcpState::kSynReceived) {
    return false;
  }
  const Listener& l = *s.listener;
  constexpr int kMinPressure = 8;  // Linux: max(8, backlog) / 2
  bool pressure = 2 * l.half_open > std::max(kMinPressure, l.backlog);
  if (!pressure || s.core->stats().syn_retransmits < kPressureSynackRetries) return false;
  ++s.ep->stats.half_open_evicted;
  destroy_stream(s, 0);
  return true;
}

}  // namespace tou::engine
