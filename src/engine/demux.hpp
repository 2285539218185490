// The demultiplexer: one UDP socket (an Endpoint) carries many connections.
// A listener's endpoint is bound to its address and port; every datagram that
// arrives there goes to the connection of its key (ConnectionKey: the source's UDP
// address and the TCP ports in the segment), so that one peer's UDP port may
// carry several connections apart by their TCP ports (RFC 6951's way). A SYN
// with a new key opens a half-open connection (bounded by the listen
// backlog); a duplicate SYN reaches the connection that exists; a segment for
// no connection is answered with RST (RFC 9293 3.10.7.1), at most kResetRate
// a second; a datagram that does not parse is dropped and counted. Client
// connections share endpoints the same way (client_ports.cpp): one UDP port
// serves connections to different peers, and several to one peer with TCP
// ports of their own; an explicitly bound client's endpoint is a connected
// UDP socket with its one connection. Accepted connections keep using the
// listener's port.
//
// SYN floods (RFC 4987): once the half-open connections fill the backlog, a
// SYN is answered with a SYN cookie (core/syn_cookie.hpp) and no state; an
// ACK for no connection that carries a valid cookie makes the connection.
// While the table is more than half full, a half-open connection is dropped
// (silently) instead of retransmitting its SYN-ACK a third time, as Linux
// prunes its request queue. Replies a blind sender can trigger are limited:
// RSTs (kResetRate), TIME-WAIT's ACKs to anything but the peer's FIN
// retransmitted (core/time_wait.hpp: one per invalid_ack_interval), the core's own ACKs
// (ConnectionConfig::invalid_ack_interval, challenge_ack_limit).
//
// The engine's methods that implement this live in demux.cpp.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>

#include "core/time_wait.hpp"
#include "core/token_bucket.hpp"
#include "engine/address.hpp"
#include "engine/event_loop.hpp"
#include "engine/timer_heap.hpp"
#include "engine/udp_socket.hpp"
#include "wire/segment.hpp"

namespace tou::engine {

class Engine;
struct Endpoint;
struct PortGroup;
struct Listener;
struct Socket;

// RSTs for segments to no connection: a token bucket per endpoint (tou's
// version of the ICMP rate limit, net.ipv4.icmp_msgs_per_sec and its burst).
constexpr uint32_t kResetRate = 1000;
constexpr uint32_t kResetBurst = 100;
// Under pressure (half-open connections above half the backlog), a half-open
// connection is dropped after this many SYN-ACK retransmissions (Linux lowers
// its tcp_synack_retries down to 2 for a crowded queue).
constexpr int kPressureSynackRetries = 2;

struct EndpointStats {
  uint64_t datagrams_received = 0;
  uint64_t malformed = 0;  // no connection's, and did not parse
  std::array<uint64_t, static_cast<size_t>(ParseError::kCount)> malformed_by_reason{};
  uint64_t syn_received = 0;
  uint64_t syn_dropped = 0;  // backlog full (or the accept queue, or cookies off)
  uint64_t syn_cookies_sent = 0;
  uint64_t syn_cookies_validated = 0;  // connections made from a cookie
  uint64_t syn_cookies_rejected = 0;   // ACKs whose cookie was forged, expired or another's
  uint64_t half_open_evicted = 0;      // dropped under pressure (kPressureSynackRetries)
  uint64_t accept_overflows = 0;       // valid cookies dropped: the accept queue was full
  uint64_t resets_sent = 0;
  uint64_t resets_suppressed = 0;  // over kResetRate
  uint64_t time_wait_acks = 0;
  uint64_t time_wait_acks_suppressed = 0;  // TimeWait's rate limit
  uint64_t dropped_other = 0;              // wrong port, RST for no connection, ...
  // The error queue (src/engine/path_mtu.cpp).
  uint64_t ptb_received = 0;   // ICMP / ICMPv6 "too big" for this socket
  uint64_t ptb_unmatched = 0;  // ... naming a peer with no connection here
  uint64_t local_too_big = 0;  // EMSGSIZE from our own stack
  uint64_t icmp_other = 0;     // other ICMP errors (unreachable, ...)
};

// What is left of a connection in TIME-WAIT once its program closed it (RFC
// 9293 3.4.2): the core is freed, and the core's TimeWait (its last ACK and
// the rules) answers the peer, keyed by it in its endpoint.
struct TimeWaitEntry final : Timer {
  Engine* engine = nullptr;
  Endpoint* ep = nullptr;
  SockAddr remote;
  SockAddr local;
  ConnectionKey key;
  TimeWait state;
  bool dead = false;
  void on_timer(Instant now) override;
};

using TimeWaitMap =
    std::unordered_map<ConnectionKey, std::unique_ptr<TimeWaitEntry>, ConnectionKeyHash>;

// What the engine watches on an endpoint's UDP socket (edge-triggered: each
// edge drains it, Engine::receive).
constexpr uint32_t kEndpointEvents = EPOLLIN | EPOLLET;

struct Endpoint final : EventLoop::Handler {
  explicit Endpoint(Engine* e) : engine(e) {}
  void on_events(uint32_t events) override;

  Engine* engine;
  UdpSocket sock;
  SockAddr local;
  bool wildcard = false;   // bound to 0.0.0.0 / ::: replies name their source (pktinfo)
  bool connected = false;  // an explicitly bound client's socket, connected to its one peer
  bool bound_explicitly = false;
  // A client port shared by connections (client_ports.cpp): in Engine::shared_
  // under pool_key, at pool_pos.
  bool shared = false;
  AddrKey pool_key;
  std::list<Endpoint*>::iterator pool_pos;
  Listener* listener = nullptr;
  std::unordered_map<ConnectionKey, Socket*, ConnectionKeyHash> connections;
  // The connection the last datagram went to (nullptr: none), so that a run of
  // datagrams from one peer costs a key compare, not a keyed hash each.
  // Cleared as that connection leaves `connections` (Engine::leave_demux).
  Socket* last_connection = nullptr;
  TimeWaitMap time_wait;
  int refs = 0;  // the bound socket or listener, each connection, each TIME-WAIT entry
  bool dead = false;
  bool lent = false;  // a program's thread watches the socket (inline_receive.cpp)
  // A member of a listener's SO_REUSEPORT group (listen.cpp): with no
  // references left it stays bound, idle, while another member is in use.
  std::shared_ptr<PortGroup> group;
  bool idle = false;
  // In the group, its listener not attached yet (listen() is running): the
  // kernel may already pick this socket for a SYN, which is dropped (the peer
  // retransmits it) rather than refused.
  bool joining = false;
  TokenBucket resets{kResetRate, kResetBurst};
  EndpointStats stats;
};

}  // namespace tou::engine
