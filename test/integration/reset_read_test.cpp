// A reset seen through plain read(): ECONNRESET once, as from a kernel TCP
// socket, then end-of-file. Both ends: the connecting socket (whose descriptor
// the engine made) and an accepted one (found among the process's descriptors).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace
}  // namespace tou_test
