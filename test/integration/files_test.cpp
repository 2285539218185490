// Sockets are files: dup, readv/writev, select, fcntl(O_NONBLOCK), close by
// every holder; and the addresses a socket can listen on or connect from.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

TEST(Files, CloseWithQueuedDataDeliversItThenFin) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.server);
  std::vector<uint8_t> data = random_bytes(scaled(4 << 20), 11);
  std::thread writer([&] {
    EXPECT_TRUE(write_all(p.client.get(), data.data(), data.size()));
    p.client.reset();  // close at once: the rest is still queued
  });
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(p.server.get(), got, data.size()));
  writer.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST(Files, DupKeepsTheConnectionUntilEveryHolderCloses) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.server);
  Fd copy(::dup(p.client.get()));
  p.client.reset();  // one holder left: nothing happens
  ASSERT_TRUE(write_all(copy.get(), reinterpret_cast<const uint8_t*>("still here"), 10));
  char buf[10];
  ASSERT_TRUE(read_exact(p.server.get(), reinterpret_cast<uint8_t*>(buf), 10));
  EXPECT_EQ(std::memcmp(buf, "still here", 10), 0);
  copy.reset();  // the last holder: FIN
  std::vector<uint8_t> rest;
  EXPECT_TRUE(read_to_eof(p.server.get(), rest));
  EXPECT_TRUE(rest.empty());
}

TEST(Files, ReadvWritevSelectAndNonBlock) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.server);
  char a[] = "scatter", b[] = "gather";
  iovec out[2] = {{a, 7}, {b, 6}};
  ASSERT_EQ(::writev(p.client.get(), out, 2), 13);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(p.server.get(), &rd);
  timeval tv{5, 0};
  ASSERT_EQ(::select(p.server.get() + 1, &rd, nullptr, nullptr, &tv), 1);
  char x[7] = {}, y[6] = {};
  iovec in[2] = {{x, 7}, {y, 6}};
  ssize_t n = 0;
  while (n < 13) {
    ssize_t r = ::readv(p.server.get(), in, 2);
    ASSERT_GT(r, 0);
    n += r;
    // Short reads are possible in principle; this message arrives whole.
    if (n < 13) break;
  }
  EXPECT_EQ(n, 13);
  EXPECT_EQ(std::memcmp(x, "scatter", 7), 0);
  EXPECT_EQ(std::memcmp(y, "gather", 6), 0);
  ASSERT_EQ(::fcntl(p.server.get(), F_SETFL, O_NONBLOCK), 0);
  char z;
  EXPECT_EQ(::read(p.server.get(), &z, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(Addresses, DualStackListenerAcceptsIPv4) {
  Fd ls(tou_socket(AF_INET6, SOCK_STREAM, 0));
  int off = 0;
  ASSERT_EQ(tou_setsockopt(ls.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  ASSERT_EQ(tou_bind(ls.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(tou_listen(ls.get(), 4), 0);
  set_timeouts(ls.get());
  Addr bound;
  bound.len = sizeof bound.storage;
  ASSERT_EQ(tou_getsockname(ls.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.len), 0);
  for (int family : {AF_INET, AF_INET6}) {
    SCOPED_TRACE(family);
    Fd c = connect_to(family, bound.port());
    ASSERT_TRUE(c) << strerror(errno);
    Addr peer;
    peer.len = sizeof peer.storage;
    Fd s(tou_accept(ls.get(), reinterpret_cast<sockaddr*>(&peer.storage), &peer.len));
    ASSERT_TRUE(s);
    EXPECT_EQ(peer.storage.ss_family, AF_INET6);  // IPv4 peers appear v4-mapped
    // The accepted socket knows which address it was reached at.
    Addr local;
    local.len = sizeof local.storage;
    ASSERT_EQ(tou_getsockname(s.get(), reinterpret_cast<sockaddr*>(&local.storage), &local.len), 0);
    auto* l6 = reinterpret_cast<sockaddr_in6*>(&local.storage);
    EXPECT_FALSE(IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr));
    EXPECT_EQ(local.port(), bound.port());
    ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("v"), 1));
    char ch = 0;
    ASSERT_TRUE(read_exact(s.get(), reinterpret_cast<uint8_t*>(&ch), 1));
    ASSERT_TRUE(write_all(s.get(), reinterpret_cast<const uint8_t*>("w"), 1));
    ASSERT_TRUE(read_exact(c.get(), reinterpret_cast<uint8_t*>(&ch), 1));
    EXPECT_EQ(ch, 'w');
  }
}

TEST(Addresses, ConnectFromABoundPort) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  // A free port to bind the client to.
  Fd probe(::socket(AF_INET, SOCK_DGRAM, 0));
  Addr any = loopback(AF_INET, 0);
  ::bind(probe.get(), any.get(), any.len);
  Addr chosen;
  chosen.len = sizeof chosen.storage;
  ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&chosen.storage), &chosen.len);
  probe.reset();
  Fd c = connect_to(AF_INET, port,
                    [&](int fd) { ASSERT_EQ(tou_bind(fd, chosen.get(), chosen.len), 0); });
  ASSERT_TRUE(c) << strerror(errno);
  Addr peer;
  peer.len = sizeof peer.storage;
  Fd s(tou_accept(ls.get(), reinterpret_cast<sockaddr*>(&peer.storage), &peer.len));
  ASSERT_TRUE(s);
  EXPECT_EQ(peer.port(), chosen.port());
}

TEST(Addresses, ReuseAddrTakesOverAPortWithLiveConnections) {
  uint16_t port = 0;
  auto reuse = [](int fd) {
    int one = 1;
    tou_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  };
  Fd ls = listen_on(AF_INET, 4, &port, reuse);
  Fd c = connect_to(AF_INET, port);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  ls.reset();  // the listener goes; its connection stays on the port
  Fd again(tou_socket(AF_INET, SOCK_STREAM, 0));
  reuse(again.get());
  set_timeouts(again.get());
  Addr a = loopback(AF_INET, port);
  ASSERT_EQ(tou_bind(again.get(), a.get(), a.len), 0) << strerror(errno);
  ASSERT_EQ(tou_listen(again.get(), 4), 0);
  Fd c2 = connect_to(AF_INET, port);
  ASSERT_TRUE(c2);
  Fd s2(tou_accept(again.get(), nullptr, nullptr));
  ASSERT_TRUE(s2);
  // Both connections work.
  ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("1"), 1));
  ASSERT_TRUE(write_all(c2.get(), reinterpret_cast<const uint8_t*>("2"), 1));
  char x = 0, y = 0;
  set_timeouts(s.get());
  ASSERT_TRUE(read_exact(s.get(), reinterpret_cast<uint8_t*>(&x), 1));
  ASSERT_TRUE(read_exact(s2.get(), reinterpret_cast<uint8_t*>(&y), 1));
  EXPECT_EQ(x, '1');
  EXPECT_EQ(y, '2');
}

}  // namespace
}  // namespace tou_test
