// A reset seen through plain read(): ECONNRESET once, as from a kernel TCP
// socket, then end-of-file. Both ends: the connecting socket (whose descriptor
// the engine made) and an accepted one (found among the process's descriptors).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

void abort_now(Fd& fd) {
  linger now{1, 0};
  ASSERT_EQ(tou_setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now), 0);
  fd.reset();  // RST
}

// Reads what was sent before the reset, then expects ECONNRESET, then EOF.
void expect_reset_on_read(int fd) {
  uint8_t hello[5];
  ASSERT_TRUE(read_exact(fd, hello, sizeof hello));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_NE(p.revents & POLLERR, 0) << "POLLERR, as a reset TCP socket";
  char buf[16];
  EXPECT_EQ(::read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
  EXPECT_EQ(::read(fd, buf, sizeof buf), 0) << "then end-of-file";
}

TEST(ResetRead, ConnectingSocketReadsEconnreset) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  ASSERT_TRUE(write_all(s.get(), reinterpret_cast<const uint8_t*>("hello"), 5));
  uint8_t x;
  ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("!"), 1));
  ASSERT_TRUE(read_exact(s.get(), &x, 1));  // "hello" has been acknowledged by now
  abort_now(s);
  expect_reset_on_read(c.get());
}

TEST(ResetRead, AcceptedSocketReadsEconnreset) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  Fd dup_of_s(::dup(s.get()));  // found by inode, whatever its number
  s.reset();
  ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("hello"), 5));
  uint8_t x;
  ASSERT_TRUE(write_all(dup_of_s.get(), reinterpret_cast<const uint8_t*>("!"), 1));
  ASSERT_TRUE(read_exact(c.get(), &x, 1));
  abort_now(c);
  expect_reset_on_read(dup_of_s.get());
}

TEST(ResetRead, CleanCloseStillReadsEndOfFile) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  s.reset();  // FIN
  char buf[16];
  EXPECT_EQ(::read(c.get(), buf, sizeof buf), 0);
  int err = -1;
  socklen_t len = sizeof err;
  EXPECT_EQ(tou_getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);
}

// More bytes acknowledged than the pair can ever hold (net.core.wmem_max caps
// it) when the reset arrives: the rest waits in the core and follows as the
// program reads (writes fail meanwhile), then the reset is reported once.
struct ResetBehindData {
  Fd client;
  std::vector<uint8_t> data;
};

ResetBehindData reset_behind_more_than_the_pair_holds() {
  ResetBehindData r;
  long wmem_max = 212992;
  if (FILE* f = std::fopen("/proc/sys/net/core/wmem_max", "r")) {
    if (std::fscanf(f, "%ld", &wmem_max) != 1) wmem_max = 212992;
    std::fclose(f);
  }
  // The pair holds at most about 2 * wmem_max: send twice that and more.
  const size_t total = std::min<size_t>(4 * static_cast<size_t>(wmem_max) + (1 << 20), 40 << 20);
  const int rcvbuf = static_cast<int>(total + (1 << 20));
  uint16_t port = 0;
  Fd l = listen_on(AF_INET, 4, &port);
  r.client = connect_to(AF_INET, port, [&](int fd) {
    tou_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  });
  if (!l || !r.client) return r;
  Fd s(tou_accept(l.get(), nullptr, nullptr));
  r.data = random_bytes(total, 9);
  EXPECT_TRUE(write_all(s.get(), r.data.data(), r.data.size()));
  auto info_of = [](int fd) {
    tou_info info{};
    socklen_t len = sizeof info;
    tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
    return info;
  };
  EXPECT_TRUE(wait_until(
      [&] {
        tou_info i = info_of(s.get());
        return i.bytes_acked >= total && i.flight_size == 0;
      },
      std::chrono::seconds(30)));
  abort_now(s);
  int c = r.client.get();
  EXPECT_TRUE(
      wait_until([&] { return info_of(c).state == TOU_STATE_CLOSED; }, std::chrono::seconds(10)))
      << "the reset arrived";
  return r;
}

TEST(ResetRead, BytesBeyondWhatThePairHoldsComeBeforeTheReset) {
  ResetBehindData r = reset_behind_more_than_the_pair_holds();
  ASSERT_TRUE(r.client);
  std::vector<uint8_t> got(r.data.size());
  ASSERT_TRUE(read_exact(r.client.get(), got.data(), got.size()));
  EXPECT_TRUE(got == r.data);
  char buf[16];
  EXPECT_EQ(::read(r.client.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
  EXPECT_EQ(tou_recv(r.client.get(), buf, sizeof buf, 0), 0) << "then end-of-file";
}

TEST(ResetRead, SendTakesTheResetWhileBytesAreStillToRead) {
  ResetBehindData r = reset_behind_more_than_the_pair_holds();
  ASSERT_TRUE(r.client);
  EXPECT_EQ(tou_send(r.client.get(), "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
  std::vector<uint8_t> got(r.data.size());
  ASSERT_TRUE(read_exact(r.client.get(), got.data(), got.size()));
  EXPECT_TRUE(got == r.data);
  char buf[16];
  EXPECT_EQ(::read(r.client.get(), buf, sizeof buf), 0) << "reported once: end-of-file";
  EXPECT_EQ(tou_send(r.client.get(), "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
}

}  // namespace
}  // namespace tou_test
