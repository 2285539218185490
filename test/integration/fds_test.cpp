// Descriptors as a kernel's TCP gives them: the program's sockets take the
// lowest free numbers and the engine's own descriptors stay above them
// (select() users keep theirs); EMFILE comes from socket() and accept() when
// the process has no descriptor left, and accept() then leaves the connection
// queued; connect() needs one only for a new client port.
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

// The sanitizers' runtime needs descriptors of its own while the engine's
// threads run: UBSan's vptr check and ASan's reports test whether memory is
// readable by writing it into a pipe (seen under strace: pipe2() hundreds of
// times a run). With no descriptor left it reports a false "invalid vptr"
// and halts, and a pipe it closes just after the test took every number
// leaves two free (accept() then succeeded). These tests run in the plain
// build (make test); under the sanitizers they cannot be exact.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif
constexpr const char* kSanitizedReason =
    "the sanitizer runtime opens pipes of its own from the engine's threads, so a process "
    "with no descriptor left cannot be made exactly (see kSanitized)";

// Every descriptor taken, under RLIMIT_NOFILE lowered just above the open
// ones; the limit and the descriptors come back at the end of its scope.
class NoDescriptorLeft {
 public:
  NoDescriptorLeft() {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    int top = ::dup(0);
    EXPECT_GE(top, 0);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(top + 16);
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    fillers_.emplace_back(top);
    for (int i = 0; i < 64; ++i) {
      int fd = ::dup(0);
      if (fd < 0) break;
      fillers_.emplace_back(fd);
    }
  }
  ~NoDescriptorLeft() {
    fillers_.clear();
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &saved_), 0);
  }
  void free_one() { fillers_.pop_back(); }

 private:
  rlimit saved_{};
  std::vector<Fd> fillers_;
};

TEST(Fds, NoDescriptorLeftIsEmfileAndAcceptKeepsTheConnection) {
  if (kSanitized) GTEST_SKIP() << kSanitizedReason;
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  ASSERT_EQ(::write(c.get(), "hi", 2), 2);
  pollfd p{ls.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1);  // ready to accept
  Fd s;
  {
    NoDescriptorLeft none;
    errno = 0;
    EXPECT_EQ(tou_socket(AF_INET, SOCK_STREAM, 0), -1);
    EXPECT_EQ(errno, EMFILE);
    errno = 0;
    EXPECT_EQ(tou_accept(ls.get(), nullptr, nullptr), -1);
    EXPECT_EQ(errno, EMFILE);
    // One descriptor free: the connection is still there.
    none.free_one();
    s = Fd(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(s) << strerror(errno);
  }
  set_timeouts(s.get());
  uint8_t got[2] = {};
  EXPECT_TRUE(read_exact(s.get(), got, 2));
  EXPECT_EQ(got[0], 'h');
  EXPECT_EQ(got[1], 'i');
}

// connect() takes a descriptor only for a new client port. Once a worker has
// kSpreadPorts client ports (engine/client_ports.cpp, 4), a connection to a
// peer that all of them serve already shares one of them with a TCP port of
// its own, and one to another peer shares one as it is: neither takes a
// descriptor. A connection that needs a new port (the first of its address
// family) with no descriptor left fails as the kernel's does when no local
// port is free (EADDRNOTAVAIL, never EMFILE).
TEST(Fds, WithNoDescriptorLeftConnectSharesAPortOrIsAddrNotAvail) {
  if (kSanitized) GTEST_SKIP() << kSanitizedReason;
  constexpr int kSpreadPorts = 4;
  uint16_t port_a = 0, port_b = 0, port_c = 0;
  Fd la = listen_on(AF_INET, 4 * kSpreadPorts * 4, &port_a);
  Fd lb = listen_on(AF_INET, 4, &port_b);
  Fd lc = listen_on(AF_INET6, 4, &port_c);
  ASSERT_TRUE(la && lb && lc);
  // Sockets go to the workers in turn: kSpreadPorts to each.
  std::vector<Fd> to_a;
  for (int i = 0; i < kSpreadPorts * tou_workers(); ++i) {
    to_a.push_back(connect_to(AF_INET, port_a));
    ASSERT_TRUE(to_a.back()) << strerror(errno);
  }
  Fd x(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  Fd y(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  Fd z(tou_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0));
  ASSERT_TRUE(x && y && z);
  Addr a = loopback(AF_INET, port_a), b = loopback(AF_INET, port_b);
  Addr c = loopback(AF_INET6, port_c);
  NoDescriptorLeft none;
  errno = 0;
  EXPECT_EQ(tou_connect(y.get(), a.get(), a.len), -1);
  EXPECT_EQ(errno, EINPROGRESS);
  errno = 0;
  EXPECT_EQ(tou_connect(x.get(), b.get(), b.len), -1);
  EXPECT_EQ(errno, EINPROGRESS);
  errno = 0;
  EXPECT_EQ(tou_connect(z.get(), c.get(), c.len), -1);
  EXPECT_EQ(errno, EADDRNOTAVAIL);
}

}  // namespace
}  // namespace tou_test
