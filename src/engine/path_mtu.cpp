// Path MTU in the engine: every UDP socket sends with DF and queues ICMP
// errors (udp_socket.cpp); here the queue is read and each "too big" goes to
// the connection whose peer it names.
#include "engine/path_mtu.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

constexpr uint16_t kIpv4Base = 1200;  // RFC 8899 5.1.2's suggestion for IPv4
constexpr uint16_t kIpv6Base = 1280;  // RFC 8200 5: every IPv6 link carries it
constexpr uint16_t kIpv4Min = 576;    // RFC 791: every IPv4 host accepts it
constexpr uint16_t kIpv4Overhead = 20 + 8;
constexpr uint16_t kIpv6Overhead = 40 + 8;
// Error-queue messages read per wake-up; more wait for the next one.
constexpr int kMaxErrorsPerTurn = 256;

bool pmtud_wanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("TOU_PMTUD");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return wanted;
}

bool is_ipv4(const SockAddr& a) {
  if (a.family() == AF_INET) return true;
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.get());
  return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
}

}  // namespace

PlpmtudConfig plpmtud_config(const SockAddr& remote, int route_mtu) {
  PlpmtudConfig c;
  c.enabled = pmtud_wanted() && !remote.is_loopback();
  bool v4 = is_ipv4(remote);
  c.overhead = v4 ? kIpv4Overhead : kIpv6Overhead;
  c.base_mtu = v4 ? kIpv4Base : kIpv6Base;
  c.min_mtu = v4 ? kIpv4Min : kIpv6Base;
  c.max_mtu = static_cast<uint16_t>(
      std::clamp(route_mtu > 0 ? route_mtu : c.base_mtu, static_cast<int>(c.min_mtu), 65535));
  return c;
}

int Engine::local_mtu_by_address(Endpoint& ep, const ErrorReport& r) {
  int matched = 0;
  const uint16_t port = r.dest.port();  // 0: any
  for (auto& [key, s] : ep.connections) {
    if (!s->core || !std::ranges::equal(s->remote.ip(), r.dest.ip())) continue;
    if (port != 0 && s->remote.port() != port) continue;
    s->core->on_local_mtu(now_, r.mtu);
    mark_dirty(*s);
    ++matched;
  }
  return matched;
}

void Engine::drain_errors(Endpoint& ep) {
  for (int i = 0; i < kMaxErrorsPerTurn && !ep.dead; ++i) {
    ErrorReport r;
    if (ep.sock.read_error(r) != 0) return;
    if (r.kind == ErrorReport::Kind::kOther) {
      ++ep.stats.icmp_other;
      // Reading the queue cleared the socket error that receive() would
      // have seen: the refusal is acted on here.
      if (r.error == ECONNREFUSED) refuse_handshake(ep, r.dest);
      continue;
    }
    bool ptb = r.kind == ErrorReport::Kind::kPacketTooBig;
    ++(ptb ? ep.stats.ptb_received : ep.stats.local_too_big);
    if (!ptb) {
      // Our own stack's EMSGSIZE (trusted) quotes nothing: the route's MTU is
      // every connection's to the peer it names (several share a UDP port
      // with it, apart by their TCP ports). IPv4's names the socket's
      // connected port, none on an unconnected one (a listener's, a shared
      // client port): then every connection to that address.
      if (local_mtu_by_address(ep, r) == 0) ++ep.stats.ptb_unmatched;
      continue;
    }
    // The quote is our segment: its ports (ours, then the peer's) name the
    // connection on a UDP port that carries several to that peer.
    std::span<const uint8_t> q = r.quote();
    auto it = ep.connections.end();
    if (q.size() >= 4) {
      it = ep.connections.find(ConnectionKey::of(r.dest, static_cast<uint16_t>(q[2] << 8 | q[3]),
                                                 static_cast<uint16_t>(q[0] << 8 | q[1])));
    }
    if (it == ep.connections.end() || !it->second->core) {
      ++ep.stats.ptb_unmatched;
      continue;
    }
    Socket& s = *it->second;
    // RFC 8899 4.6.1: the core checks the quoted segment against its own.
    s.core->on_packet_too_big(now_, r.mtu, q);
    mark_dirty(s);
  }
}

}  // namespace tou::engine
