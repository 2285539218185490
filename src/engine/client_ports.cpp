// Client ports: a connection whose socket was not bound explicitly takes a
// UDP port that other client connections of this engine already use, as
// Linux's TCP lets one ephemeral port serve connections to different
// destinations. Connections to one peer share it too, told apart by the TCP
// ports inside the segments (ConnectionKey, as SCTP over UDP carries its own ports
// inside one UDP port, RFC 6951): a connection's TCP port is the UDP port
// when no other connection (or TIME-WAIT) with that peer uses it, so that
// nothing changes on the wire, else a free port of the ephemeral range for
// that peer on this UDP port (RFC 6056 3.3.1: a random start, then the next
// free one). The endpoint is an unconnected UDP socket bound to the route's
// source address, demultiplexed by ConnectionKey like a listener's; it closes with
// its last connection. Per connection that leaves two descriptors in the
// process: the program's end of the socket pair and the engine's.
//
// The first kSpreadPorts connections to one peer still get UDP ports of their
// own: a tou listener spreads its peers over its workers by their UDP
// addresses (SO_REUSEPORT's hash, listen.cpp), so a few connections from one
// client process (tou-perf -P 4) reach several of the server's workers as
// before; beyond that, connections share. A hash of the TCP ports in the
// payload (a reuseport BPF program) would spread every connection, but the
// kernel delivers a listener's ICMP errors by the UDP hash, so "too big"
// reports would reach another worker than the connection's.
#include <sodium.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

// The newest ports of a pool tried for a connection whose TCP port can be the
// UDP port, then for a TCP port of its own: a bounded look-up, not one per port.
constexpr size_t kShareScan = 8;
// Ports a pool opens before connections to one peer share them (see above).
constexpr size_t kSpreadPorts = 4;
// Route look-ups kept (one per peer address); cleared when full.
constexpr size_t kMaxRoutes = 4096;
// Linux's default net.ipv4.ip_local_port_range, when /proc does not say.
constexpr uint16_t kEphemeralLow = 32768;
constexpr uint16_t kEphemeralHigh = 60999;

// IPV6_V6ONLY as a byte of a key: -1, 0, 1 -> 0, 1, 2. AddrKey's byte 3 is
// free (family, port, pad, address).
uint8_t v6only_byte(int v6only) {
  return static_cast<uint8_t>(v6only + 1);
}

struct PortRange {
  uint16_t low = kEphemeralLow;
  uint16_t high = kEphemeralHigh;
};

// The ephemeral range the kernel uses for its own ports, read once.
PortRange ephemeral_range() {
  static const PortRange range = [] {
    PortRange r;
    if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
      unsigned low = 0, high = 0;
      if (std::fscanf(f, "%u %u", &low, &high) == 2 && low > 0 && low <= high && high <= 65535) {
        r.low = static_cast<uint16_t>(low);
        r.high = static_cast<uint16_t>(high);
      }
      std::fclose(f);
    }
    return r;
  }();
  return range;
}

bool port_free(const Endpoint& ep, const SockAddr& remote, uint16_t port) {
  ConnectionKey key = ConnectionKey::of(remote, remote.port(), port);
  return !ep.connections.contains(key) && !ep.time_wait.contains(key);
}

// Free on every port of the pool: a program sees a connection's TCP ports as
// its addresses (getsockname, getpeername), and two connections to one peer
// from one address must not look the same because their UDP ports differ.
bool port_free_in(const std::list<Endpoint*>& pool, const SockAddr& remote, uint16_t port) {
  for (const Endpoint* ep : pool) {
    if (!port_free(*ep, remote, port)) return false;
  }
  return true;
}

}  // namespace

int Engine::route_source(const Socket& s, const SockAddr& remote, SockAddr& source) {
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

uint16_t Engine::free_tcp_port(const std::list<Endpoint*>& pool, const SockAddr& remote) {
  const PortRange range = ephemeral_range();
  const uint32_t count = uint32_t{range.high} - range.low + 1;
  // RFC 6056 3.3.1 (Algorithm 1): a random offset, then the next free port.
  const uint32_t start = randombytes_uniform(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto port = static_cast<uint16_t>(range.low + (start + i) % count);
    if (port_free_in(pool, remote, port)) return port;
  }
  return 0;
}

int Engine::shared_endpoint(const Socket& s, const SockAddr& remote, Endpoint*& out,
                            uint16_t& local_port) {
  SockAddr source;
  if (int err = route_source(s, remote, source); err != 0) return err;
  AddrKey pool_key = AddrKey::of(source);
  pool_key.bytes[3] = v6only_byte(s.opts.v6only);
  std::list<Endpoint*>& pool = shared_[pool_key];
  // A port whose UDP port is free as this peer's TCP port: nothing new on the wire.
  size_t tried = 0;
  for (auto it = pool.rbegin(); it != pool.rend() && tried < kShareScan; ++it, ++tried) {
    Endpoint* ep = *it;
    if (port_free_in(pool, remote, ep->local.port())) {
      out = ep;
      local_port = ep->local.port();
      return 0;
    }
  }
  // Else one of the newest ports, picked at random (so that the peer's
  // connections spread over them), with a TCP port of the connection's own.
  if (pool.size() >= kSpreadPorts) {
    std::array<Endpoint*, kShareScan> newest{};
    size_t n = 0;
    for (auto it = pool.rbegin(); it != pool.rend() && n < kShareScan; ++it) newest[n++] = *it;
    const size_t pick = randombytes_uniform(static_cast<uint32_t>(n));
    if (uint16_t port = free_tcp_port(pool, remote); port != 0) {
      out = newest[pick];
      local_port = port;
      return 0;
    }
  }
  // Fewer ports than kSpreadPorts, or no TCP port left for this peer: a new one.
  Endpoint* ep = nullptr;
  if (int err = open_endpoint(s.domain, s.opts, &source, ep); err != 0) {
    if (pool.empty()) shared_.erase(pool_key);
    return err;
  }
  // The kernel's new port may be a TCP port another port's connection to
  // this peer took: the connection then takes one of its own too.
  local_port = ep->local.port();
  if (!port_free_in(pool, remote, local_port)) {
    if (uint16_t own = free_tcp_port(pool, remote); own != 0) local_port = own;
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

// An ICMP port unreachable refuses every handshake with the peer it names
// (the error queue's offender address: a UDP address and port), and only
// those: the peer's other connections on a shared port, established, take it
// as a soft error (as Linux's TCP).
void Engine::refuse_handshake(Endpoint& ep, const SockAddr& peer) {
  for (auto& [key, s] : ep.connections) {
    if (!(s->remote == peer) || !s->core || s->core->state() != TcpState::kSynSent) continue;
    s->error = ECONNREFUSED;
    s->core->abort(now_);
    mark_dirty(*s);
  }
}

}  // namespace tou::engine
