// The listener's defences against SYN floods (RFC 4987; see demux.hpp): SYN
// cookies when the backlog of half-open connections is full, and the pruning
// of half-open connections while it is crowded.
//
// A flood costs the listener's engine thread per SYN: its share of a
// recvmmsg(), a lookup in the connections, the cookie (two SipHashes, a third for
// the timestamp offset) and its share of a sendmmsg(). Nothing else: no
// system call (the accept queue is read once per turn, accept_backlog) and no
// route lookup per source (cookie_mtu).
#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

// Local addresses whose device MTU cookie_mtu() keeps (a wildcard listener
// sees its host's addresses; more is a misconfiguration, and the map starts
// again).
constexpr size_t kMaxDeviceMtus = 256;

}  // namespace

int Engine::accept_backlog(Listener& l) {
  // SIOCOUTQ is a system call: once per turn (now_ moves each turn), and again
  // after a record was handed over (flush_handoffs). accept()s within the turn
  // only make the figure high, so a SYN may be dropped that had room: the
  // peer retransmits it.
  if (l.queued_records < 0 || l.queued_at != now_) {
    l.queued_records = accept_queue(l);
    l.queued_at = now_;
  }
  return l.queued_records + static_cast<int>(l.ready.size());
}

// Linux advertises the MSS of the route's MTU (advmss). A spoofed flood names
// a new source with each SYN, and a route lookup of ours is a socket, a
// connect() and a getsockopt(): the peer's path MTU is taken only when it is
// known already, else the MTU of the device that holds our address.
int Engine::cookie_mtu(const SockAddr& local, const SockAddr& remote) {
  if (auto it = mtu_cache_.find(mtu_key(remote)); it != mtu_cache_.end()) return it->second;
  AddrKey key = mtu_key(local);
  if (auto it = device_mtu_.find(key); it != device_mtu_.end()) return it->second;
  int mtu = device_mtu_of(local);
  if (mtu <= 0) mtu = path_mtu(local);
  if (device_mtu_.size() >= kMaxDeviceMtus) device_mtu_.clear();
  device_mtu_[key] = mtu;
  return mtu;
}

// RFC 4987 3.6: a SYN-ACK whose ISN is the cookie, and nothing kept.
void Engine::send_cookie(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                         const ConnectionKey& key, const Segment& syn) {
  Listener& l = *ep.listener;
  SockAddr local = local_of(ep, to);
  ConnectionConfig cfg = core_config(l.opts, from, cookie_mtu(local, from));
  Tuple tuple = tuple_of(local, from, key);
  std::optional<uint32_t> ts;
  if (cfg.timestamps) ts = ts_clock(now_, ts_offset_of(tuple));
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
                           const ConnectionKey& key, const Segment& ack) {
  Listener& l = *ep.listener;
  const SegmentHeader& h = ack.header;
  if (!h.has(flags::kAck) || h.has(flags::kSyn) || h.has(flags::kRst)) return false;
  if (!l.last_cookie_sent || now_ - *l.last_cookie_sent > SynCookies::kLifetime) return false;
  SockAddr local = local_of(ep, to);
  Tuple tuple = tuple_of(local, from, key);
  std::optional<uint32_t> ts;
  if (core_config(l.opts, from, cookie_mtu(local, from)).timestamps) {
    ts = ts_clock(now_, ts_offset_of(tuple));
  }
  std::optional<SynCookieOptions> syn = cookies_->check(now_, tuple, h, ts);
  if (!syn) {
    ++ep.stats.syn_cookies_rejected;
    return false;
  }
  if (accept_backlog(l) >= l.backlog) {
    ++ep.stats.accept_overflows;  // as Linux: dropped; the client's next segment retries
    return true;
  }
  ++ep.stats.syn_cookies_validated;
  Socket& s = add_passive_socket(ep, from, to, key);
  OpenParams params = open_params(local, from, key);
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
bool Engine::prune_half_open(Socket& s) {
  if (!s.half_open || s.listener == nullptr || s.core->state() != TcpState::kSynReceived) {
    return false;
  }
  if (s.core->stats().syn_retransmits < kPressureSynackRetries) return false;
  Listener& l = *s.listener;
  // Pressure: more than max(8, backlog) / 2 half-open (Linux). The group's
  // workers share the count: leaving it is the check (two workers whose
  // timers fire together must not both prune the last one above the mark).
  constexpr int kMinPressure = 8;
  if (!l.half_open.try_release_above(std::max(kMinPressure, l.backlog) / 2)) return false;
  s.half_open = false;  // counted out above
  ++s.ep->stats.half_open_evicted;
  destroy_socket(s, 0);
  return true;
}

}  // namespace tou::engine
