// Client ports shared as Linux's TCP shares an ephemeral port: connections
// of sockets not bound explicitly, to different peers, share one UDP socket
// (two descriptors per connection are left: the program's and the engine's
// end of the socket pair); connections to one peer get UDP ports of their own
// up to kSpreadPorts, then share them, apart by TCP ports of their own (the
// names at both ends agree); an ICMP refusal reaches the connections it names
// only; the port closes with its last connection. A port is shared by the
// connections of one engine worker (client sockets go to the workers in
// turn): these tests run with one.
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// One worker, set before the process's first socket (ctest runs each test in
// a process of its own); false when the engine runs already with more.
bool one_worker() {
  return tou_set_workers(1) == 0 || tou_workers() == 1;
}
constexpr const char* kNotOneWorker = "the engine already runs with more than one worker";

uint16_t local_port(int fd) {
  Addr a;
  a.len = sizeof a.storage;
  EXPECT_EQ(tou_getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len), 0);
  return a.port();
}

Fd accept_one(int listener) {
  Fd s(tou_accept(listener, nullptr, nullptr));
  if (s) set_timeouts(s.get());
  return s;
}

// Nothing (no engine's port either) holds the loopback UDP port.
bool udp_port_free(int family, uint16_t port) {
  Fd u(::socket(family, SOCK_DGRAM, 0));
  Addr a = loopback(family, port);
  return ::bind(u.get(), a.get(), a.len) == 0;
}

// One byte each way between a client and its accepted end.
bool exchange(int client, int server) {
  uint8_t b = 'x';
  return write_all(client, &b, 1) && read_exact(server, &b, 1) && write_all(server, &b, 1) &&
         read_exact(client, &b, 1);
}

TEST(SharedPorts, ConnectionsToDifferentPeersShareOnePortAndTwoDescriptorsEach) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  constexpr int kPeers = 8;
  std::vector<Fd> listeners;
  std::vector<uint16_t> ports;
  for (int i = 0; i < kPeers; ++i) {
    uint16_t port = 0;
    listeners.push_back(listen_on(AF_INET, 16, &port));
    ASSERT_TRUE(listeners.back());
    ports.push_back(port);
  }
  const int fds_before = count_open_fds();
  const int udp_before = count_udp_sockets();
  std::vector<Fd> clients, servers;
  for (int i = 0; i < kPeers; ++i) {
    clients.push_back(connect_to(AF_INET, ports[i]));
    ASSERT_TRUE(clients.back()) << strerror(errno);
    servers.push_back(accept_one(listeners[i].get()));
    ASSERT_TRUE(servers.back());
  }
  for (int i = 0; i < kPeers; ++i) {
    EXPECT_EQ(local_port(clients[i].get()), local_port(clients[0].get())) << i;
    EXPECT_TRUE(exchange(clients[i].get(), servers[i].get())) << i;
  }
  // Two per client connection and two per accepted one, and the one shared
  // port (none when a port an earlier test opened is still there to share;
  // fewer when that test's descriptors close meanwhile).
  EXPECT_LE(count_udp_sockets() - udp_before, 1);
  EXPECT_LE(count_open_fds() - fds_before, 2 * kPeers + 2 * kPeers + 1);
}

// engine/client_ports.cpp: the UDP ports a worker opens before connections to
// one peer share them.
constexpr int kSpreadPorts = 4;

Addr name_of(int fd, bool peer) {
  Addr a;
  a.len = sizeof a.storage;
  int r = peer ? tou_getpeername(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len)
               : tou_getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len);
  EXPECT_EQ(r, 0) << strerror(errno);
  return a;
}

bool same_name(const Addr& a, const Addr& b) {
  return a.len == b.len && std::memcmp(&a.storage, &b.storage, a.len) == 0;
}

// Many connections to one peer from one process: beyond the first
// kSpreadPorts they share UDP ports, so each costs two descriptors (the
// program's and the engine's end of its pair), as the accepted ones do; each
// has a TCP port of its own, and getsockname at one end is getpeername at the
// other; every byte reaches its own connection; a reset of one leaves the
// others, on the same UDP port, carrying bytes.
TEST(SharedPorts, ConnectionsToOnePeerSharePortsWithTwoDescriptorsEach) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  for (int family : {AF_INET, AF_INET6}) {
    constexpr int kConnections = 24;
    uint16_t port = 0;
    Fd l = listen_on(family, kConnections, &port);
    ASSERT_TRUE(l);
    const int fds_before = count_open_fds();
    const int udp_before = count_udp_sockets();
    std::vector<Fd> clients, servers;
    for (int i = 0; i < kConnections; ++i) {
      clients.push_back(connect_to(family, port));
      ASSERT_TRUE(clients.back()) << strerror(errno);
      set_timeouts(clients.back().get());
      servers.push_back(accept_one(l.get()));
      ASSERT_TRUE(servers.back()) << strerror(errno);
    }
    EXPECT_LE(count_udp_sockets() - udp_before, kSpreadPorts);
    EXPECT_LE(count_open_fds() - fds_before, 2 * kConnections + 2 * kConnections + kSpreadPorts);
    std::set<uint16_t> tcp_ports;
    for (int i = 0; i < kConnections; ++i) {
      const int c = clients[i].get(), s = servers[i].get();
      EXPECT_TRUE(same_name(name_of(c, false), name_of(s, true))) << i;
      EXPECT_TRUE(same_name(name_of(c, true), name_of(s, false))) << i;
      tcp_ports.insert(name_of(c, false).port());
    }
    EXPECT_EQ(tcp_ports.size(), static_cast<size_t>(kConnections));
    // Each its own bytes, all at once.
    std::vector<std::vector<uint8_t>> sent;
    for (int i = 0; i < kConnections; ++i) {
      sent.push_back(random_bytes(scaled(64 * 1024), 100 + i));
      ASSERT_TRUE(write_all(clients[i].get(), sent[i].data(), sent[i].size())) << i;
    }
    for (int i = 0; i < kConnections; ++i) {
      std::vector<uint8_t> got(sent[i].size());
      ASSERT_TRUE(read_exact(servers[i].get(), got.data(), got.size())) << i;
      EXPECT_TRUE(got == sent[i]) << i;
    }
    // The last connection (on a shared UDP port) is reset by its client: its
    // server end reads ECONNRESET; every other one carries on.
    linger abort{1, 0};
    Fd& last = clients.back();
    ASSERT_EQ(tou_setsockopt(last.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    last.reset();
    char buf[8];
    EXPECT_EQ(::read(servers.back().get(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
    for (int i = 0; i + 1 < kConnections; ++i) {
      EXPECT_TRUE(exchange(clients[i].get(), servers[i].get())) << i;
      EXPECT_EQ(info_of(clients[i].get()).state, TOU_STATE_ESTABLISHED) << i;
    }
    // The ports close with their last connection (the clients close first:
    // after their TIME-WAIT).
    clients.clear();
    servers.clear();
    EXPECT_TRUE(
        wait_until([&] { return count_udp_sockets() <= udp_before; }, std::chrono::seconds(30)));
  }
}

TEST(SharedPorts, TwoConnectionsToOnePeerGetTwoPorts) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  for (int family : {AF_INET, AF_INET6}) {
    uint16_t port_a = 0, port_b = 0;
    Fd la = listen_on(family, 16, &port_a);
    Fd lb = listen_on(family, 16, &port_b);
    ASSERT_TRUE(la && lb);
    const int udp_before = count_udp_sockets();
    Fd c1 = connect_to(family, port_a);
    Fd c2 = connect_to(family, port_a);
    ASSERT_TRUE(c1 && c2);
    Fd s1 = accept_one(la.get()), s2 = accept_one(la.get());
    ASSERT_TRUE(s1 && s2);
    const uint16_t p1 = local_port(c1.get()), p2 = local_port(c2.get());
    EXPECT_NE(p1, p2);
    // A third connection, to another peer, takes one of the two ports.
    Fd c3 = connect_to(family, port_b);
    ASSERT_TRUE(c3);
    Fd s3 = accept_one(lb.get());
    ASSERT_TRUE(s3);
    const uint16_t p3 = local_port(c3.get());
    EXPECT_TRUE(p3 == p1 || p3 == p2) << p3;
    EXPECT_LE(count_udp_sockets() - udp_before, 2);
    // Each connection's bytes reach its own peer (the accepted ends' peer
    // ports name the client ports).
    Addr peer;
    peer.len = sizeof peer.storage;
    ASSERT_EQ(tou_getpeername(s3.get(), reinterpret_cast<sockaddr*>(&peer.storage), &peer.len), 0);
    EXPECT_EQ(peer.port(), p3);
    EXPECT_TRUE(exchange(c1.get(), s1.get()));
    EXPECT_TRUE(exchange(c2.get(), s2.get()));
    EXPECT_TRUE(exchange(c3.get(), s3.get()));
  }
}

// The refusal (ICMP port unreachable, read from the shared socket's error
// queue) ends the handshake it names; the established connection on the same
// port carries on.
TEST(SharedPorts, RefusalReachesOnlyTheConnectionItNames) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  for (int family : {AF_INET, AF_INET6}) {
    uint16_t port = 0;
    Fd l = listen_on(family, 16, &port);
    ASSERT_TRUE(l);
    Fd a = connect_to(family, port);
    ASSERT_TRUE(a);
    Fd sa = accept_one(l.get());
    ASSERT_TRUE(sa);
    Fd b(tou_socket(family, SOCK_STREAM, 0));
    ASSERT_TRUE(b);
    int retries = 1;  // a missed refusal ends in ETIMEDOUT instead
    ASSERT_EQ(tou_setsockopt(b.get(), IPPROTO_TCP, TCP_SYNCNT, &retries, sizeof retries), 0);
    Addr closed = loopback(family, closed_udp_port(family));
    EXPECT_EQ(tou_connect(b.get(), closed.get(), closed.len), -1);
    EXPECT_EQ(errno, ECONNREFUSED);
    EXPECT_EQ(local_port(b.get()), local_port(a.get()));  // it was on a's port
    EXPECT_EQ(info_of(a.get()).state, TOU_STATE_ESTABLISHED);
    EXPECT_TRUE(exchange(a.get(), sa.get()));
  }
}

// Handshakes with one closed port, more than a worker's spread ports, so that
// some share a UDP port with TCP ports of their own: the ICMP port
// unreachable each SYN draws refuses every handshake with that peer on its
// UDP socket, and none is left to time out.
TEST(SharedPorts, RefusalReachesEveryHandshakeWithThePeerOnASharedPort) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  for (int family : {AF_INET, AF_INET6}) {
    constexpr int kConnections = kSpreadPorts + 3;
    Addr closed = loopback(family, closed_udp_port(family));
    std::vector<Fd> socks;
    for (int i = 0; i < kConnections; ++i) {
      socks.emplace_back(tou_socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0));
      ASSERT_TRUE(socks.back());
      int retries = 1;  // a missed refusal ends in ETIMEDOUT instead
      ASSERT_EQ(
          tou_setsockopt(socks.back().get(), IPPROTO_TCP, TCP_SYNCNT, &retries, sizeof retries), 0);
      EXPECT_EQ(tou_connect(socks.back().get(), closed.get(), closed.len), -1);
      EXPECT_EQ(errno, EINPROGRESS) << i;
    }
    for (int i = 0; i < kConnections; ++i) {
      pollfd p{socks[i].get(), POLLOUT, 0};
      ASSERT_EQ(::poll(&p, 1, 30000), 1) << i;
      int err = 0;
      socklen_t len = sizeof err;
      ASSERT_EQ(tou_getsockopt(socks[i].get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
      EXPECT_EQ(err, ECONNREFUSED) << i << ": " << strerror(err);
    }
  }
}

// A connection reset by its client while the server holds bytes it has not
// read (a full receive buffer: the window is closed) no longer owns its
// address pair: a new connection from the same client port reaches the
// listener, as Linux's TCP unhashes a socket when it reaches CLOSED. (Where
// net.core.wmem_max lets the program's end of the pair grow to take every
// byte, the reset connection leaves at once anyway; where it does not, its
// CLOSED core stayed and answered the new SYN with a reset: ECONNREFUSED.)
// The server still reads every byte it took in, then the reset.
TEST(SharedPorts, AResetConnectionsUnreadBytesDoNotRefuseTheNextOneFromItsPort) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  uint16_t port = 0, keeper_port = 0;
  Fd l = listen_on(AF_INET, 16, &port);
  Fd keeper_listener = listen_on(AF_INET, 16, &keeper_port);
  ASSERT_TRUE(l && keeper_listener);
  // A connection to another peer keeps the shared port open throughout.
  Fd keeper = connect_to(AF_INET, keeper_port);
  ASSERT_TRUE(keeper);
  Fd a = connect_to(AF_INET, port);
  ASSERT_TRUE(a);
  Fd sa = accept_one(l.get());
  ASSERT_TRUE(sa);
  const uint16_t first_port = local_port(a.get());
  ASSERT_EQ(local_port(keeper.get()), first_port);
  // Written until the window closes: the server, which reads nothing, holds
  // all it took in (more than its end of the pair takes, the rest in its core).
  const std::vector<uint8_t> sent = random_bytes(32 << 20, 11);
  size_t written = 0;
  const bool window_closed = wait_until(
      [&] {
        while (written < sent.size()) {
          ssize_t n = ::send(a.get(), sent.data() + written,
                             std::min<size_t>(64 * 1024, sent.size() - written),
                             MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n <= 0) break;
          written += static_cast<size_t>(n);
        }
        tou_info i = info_of(a.get());
        return i.snd_wnd == 0 && i.flight_size == 0 && i.bytes_acked > 0;
      },
      std::chrono::seconds(20));
  const uint64_t taken = info_of(sa.get()).bytes_received;
  linger abort{1, 0};
  ASSERT_EQ(tou_setsockopt(a.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  a.reset();  // RST
  ASSERT_TRUE(window_closed);
  ASSERT_TRUE(wait_until([&] { return info_of(sa.get()).state == TOU_STATE_CLOSED; },
                         std::chrono::seconds(10)))
      << "state " << int(info_of(sa.get()).state);
  Fd b = connect_to(AF_INET, port);
  ASSERT_TRUE(b) << strerror(errno);
  EXPECT_EQ(local_port(b.get()), first_port) << "the freed pair is used again";
  Fd sb = accept_one(l.get());
  ASSERT_TRUE(sb);
  EXPECT_TRUE(exchange(b.get(), sb.get()));
  std::vector<uint8_t> got(taken);
  ASSERT_TRUE(read_exact(sa.get(), got.data(), got.size()));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), sent.begin()));
  char buf[8];
  EXPECT_EQ(::read(sa.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
}

// The port stays while a connection uses it (TIME-WAIT included) and closes
// after the last.
TEST(SharedPorts, TheLastConnectionClosesTheSharedPort) {
  if (!one_worker()) GTEST_SKIP() << kNotOneWorker;
  uint16_t port_a = 0, port_b = 0;
  Fd la = listen_on(AF_INET, 16, &port_a);
  Fd lb = listen_on(AF_INET, 16, &port_b);
  ASSERT_TRUE(la && lb);
  Fd a = connect_to(AF_INET, port_a);
  Fd b = connect_to(AF_INET, port_b);
  ASSERT_TRUE(a && b);
  Fd sa = accept_one(la.get()), sb = accept_one(lb.get());
  ASSERT_TRUE(sa && sb);
  const uint16_t shared = local_port(a.get());
  ASSERT_EQ(local_port(b.get()), shared);
  // a closes first (its side keeps TIME-WAIT on the port), b aborts.
  a.reset();
  std::vector<uint8_t> rest;
  EXPECT_TRUE(read_to_eof(sa.get(), rest));
  sa.reset();
  EXPECT_TRUE(exchange(b.get(), sb.get()));
  EXPECT_FALSE(udp_port_free(AF_INET, shared));
  linger abort{1, 0};
  ASSERT_EQ(tou_setsockopt(b.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  b.reset();
  // Freed once a's TIME-WAIT ends (and that of any connection of an earlier
  // test that shared the port).
  EXPECT_TRUE(wait_until([&] { return udp_port_free(AF_INET, shared); }, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace tou_test
