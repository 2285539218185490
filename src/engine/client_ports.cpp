// Client ports: a connection whose socket was not bound explicitly takes a
// UDP port that other client connections of this engine already use, as
// Linux's TCP lets one ephemeral port serve connections to different
// destinations (the 4-tuples differ). Two connections to one peer address and
// port need two local ports, so a port is shared only by connections to
// different peers (or a peer's TIME-WAIT). The endpoint is an unconnected UDP
// socket bound to the route's source address, demultiplexed by the peer's
// address like a listener's; it closes with its last connection. Per
// connection that leaves two descriptors in the process: the program's end of
// the socket pair and the engine's.
#include <cerrno>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

// The newest ports of a pool tried for a new connection before a new port is
// opened: connections to one peer (each needs its own port) cost a bounded
// look-up, not one per port.
constexpr size_t kShareScan = 8;
// Route look-ups kept (one per peer address); cleared when full.
constexpr size_t kMaxRoutes = 4096;

// IPV6_V6ONLY as a byte of a key: -1, 0, 1 -> 0, 1, 2. AddrKey's byte 3 is
// free (family, port, pad, address).
uint8_t v6only_byte(int v6only) {
  return static_cast<uint8_t>(v6only + 1);
}

}  // namespace

int Engine::route_source(const Stream& s, const SockAddr& remote, SockAddr& source) {
  AddrKey key = AddrKey::of(remote);
  key.bytes[1] = key.bytes[2] = 0;  // per address, not per port
  key.bytes[3] = v6only_byte(s.opts.v6only);
  if (auto it = route_cache_.find(key); it != route_cache_.end()) {
    source = it->second;
    return 0;
  }
  // A connected UDP socket learns the source address the route gives (and
  // fails as connect() fails on no route: ENETUNREACH, EADDRNOTAVAIL).
  UdpSocket probe;
  if (int err = probe.open(s.domain, s.opts.v6only); err != 0) return err;
  if (int err = probe.connect(remote); err != 0) return err;
  if (int err = probe.local_address(source); err != 0) return err;
  source.set_port(0);
  if (route_cache_.size() >= kMaxRoutes) route_cache_.clear();
  route_cache_[key] = source;
  return 0;
}

int Engine::shared_endpoint(const Stream& s, const SockAddr& remote, Endpoint*& out) {
  SockAddr source;
  if (int err = route_source(s, remote, source); err != 0) return err;
  AddrKey pool_key = AddrKey::of(source);
  pool_key.bytes[3] = v6only_byte(s.opts.v6only);
  AddrKey peer = AddrKey::of(remote);
  std::list<Endpoint*>& pool = shared_[pool_key];
  size_t tried = 0;
  for (auto it = pool.rbegin(); it != pool.rend() && tried < kShareScan; ++it, ++tried) {
    Endpoint* ep = *it;
    if (!ep->flows.contains(peer) && !ep->time_wait.contains(peer)) {
      out = ep;
      return 0;
    }
  }
  Endpoint* ep = nullptr;
  if (int err = open_endpoint(s.domain, s.opts, &source, ep); err != 0) {
    if (pool.empty()) shared_.erase(pool_key);
    return err;
  }
  ep->shared = true;
  ep->pool_key = pool_key;
  ep->pool_pos = pool.insert(pool.end(), ep);
  out = ep;
  return 0;
}

void Engine::leave_pool(Endpoint& ep) {
  if (!ep.shared) return;
  auto it = shared_.find(ep.pool_key);
  if (it == shared_.end()) return;
  it->second.erase(ep.pool_pos);
  if (it->second.empty()) shared_.erase(it);
  ep.shared = false;
}

// On a shared port, an ICMP port unreachable refuses the handshake with the
// peer it names only (the error queue's offender address).
void Engine::refuse_handshake(Endpoint& ep, const SockAddr& peer) {
  auto it = ep.flows.find(AddrKey::of(peer));
  if (it == ep.flows.end()) return;
  Stream& s = *it->second;
  if (s.core && s.core->state() == TcpState::kSynSent) {
    s.error = ECONNREFUSED;
    s.core->abort(now_);
    mark_dirty(s);
  }
}

}  // namespace tou::engine
