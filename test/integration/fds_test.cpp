// Descriptors as a kernel's TCP gives them: the program's sockets take the
// lowest free numbers and the engine's own descriptors stay above them
// (select() users keep theirs); EMFILE comes from socket() and accept() when
// the process has no descriptor left, and accept() then leaves the connection
// queued.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// As the engine chooses it (engine/high_fd.cpp).
int engine_fd_base() {
  rlimit rl{};
  EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 2048) return 1024;
  return static_cast<int>(rl.rlim_cur / 2);
}

// Open descriptors below `limit`.
int open_below(int limit) {
  return count_fds([limit](int fd) { return fd < limit; });
}

TEST(Fds, TheProgramsSocketsTakeTheLowNumbersTheEnginesStayAbove) {
  const int base = engine_fd_base();
  const int low_before = open_below(base);
  constexpr int kPairs = 10;
  std::vector<ConnectedPair> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(connected_pair());
    ASSERT_TRUE(pairs.back().client && pairs.back().server);
  }
  // A listener, a client and an accepted socket each: nothing else below the base.
  EXPECT_EQ(open_below(base) - low_before, 3 * kPairs);
  // socket() returns the lowest free number, as the kernel's would.
  int probe = ::dup(0);
  ASSERT_GE(probe, 0);
  ::close(probe);
  Fd s(tou_socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_EQ(s.get(), probe);
}

TEST(Fds, NoDescriptorLeftIsEmfileAndAcceptKeepsTheConnection) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  ASSERT_EQ(::write(c.get(), "hi", 2), 2);
  pollfd p{ls.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1);  // ready to accept
  // Use up every descriptor under a lowered limit.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int top = ::dup(0);
  ASSERT_GE(top, 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(top + 16);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<Fd> fillers;
  fillers.emplace_back(top);
  for (int i = 0; i < 64; ++i) {
    int fd = ::dup(0);
    if (fd < 0) break;
    fillers.emplace_back(fd);
  }
  errno = 0;
  EXPECT_EQ(tou_socket(AF_INET, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, EMFILE);
  errno = 0;
  EXPECT_EQ(tou_accept(ls.get(), nullptr, nullptr), -1);
  EXPECT_EQ(errno, EMFILE);
  // One descriptor free: the connection is still there.
  fillers.pop_back();
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s) << strerror(errno);
  fillers.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  set_timeouts(s.get());
  uint8_t got[2] = {};
  EXPECT_TRUE(read_exact(s.get(), got, 2));
  EXPECT_EQ(got[0], 'h');
  EXPECT_EQ(got[1], 'i');
}

}  // namespace
}  // namespace tou_test
