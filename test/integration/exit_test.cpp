// A process's exit, like a kernel's TCP: exit() returns without waiting for
// its closing connections, which a lingering process finishes (the FIN
// exchange and TIME-WAIT); a peer that closes after we exited completes.
//
// The test process is a child subreaper, so the lingering processes of the
// children it forks become its children, and each test waits for them to end.
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsanExitFork = true;  // see fork_test.cpp
#else
constexpr bool kTsanExitFork = false;
#endif

using Clock = std::chrono::steady_clock;

// Generous bounds: they catch a hang, never a slow machine.
constexpr auto kProcessLimit = std::chrono::seconds(60);
constexpr auto kStateLimit = std::chrono::seconds(30);

// Waits for `pid` (kills it after `limit`); its exit status, or -1.
int wait_for(pid_t pid, std::chrono::seconds limit = kProcessLimit) {
  const auto until = Clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (Clock::now() >= until) {
      dump_stacks(pid);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Every remaining child (the lingering processes reparented to us) ended by
// itself within `limit`; how many there were.
int wait_for_lingerers(bool& all_ended) {
  int n = 0;
  all_ended = true;
  const auto until = Clock::now() + kProcessLimit + kProcessLimit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(-1, &status, WNOHANG);
    if (r < 0) return n;  // no children left
    if (r > 0) {
      ++n;
      all_ended &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
      continue;
    }
    if (Clock::now() >= until) {
      dump_stacks(0);
      all_ended = false;  // (each ends by its own alarm: see engine/exit.cpp)
      return n;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

uint8_t state_of(int fd) {
  tou_info info{};
  socklen_t len = sizeof info;
  if (tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.state;
}

// A child process that connects to `port`, sends "bye", closes and exits.
pid_t fork_client(uint16_t port) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  Fd c = connect_to(AF_INET, port);
  if (!c || !write_all(c.get(), reinterpret_cast<const uint8_t*>("bye"), 3)) ::_exit(1);
  c.reset();
  std::exit(0);
}

class Exit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kTsanExitFork)
      GTEST_SKIP() << "ThreadSanitizer and the lingering process: see fork_test.cpp";
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }
  void TearDown() override {
    if (IsSkipped()) return;
    bool all_ended = false;
    int lingerers = wait_for_lingerers(all_ended);
    EXPECT_TRUE(all_ended) << lingerers << " lingering processes";
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
};

// The client sends, closes and exits; then the server closes. The server's
// FIN is acknowledged by the client's lingering process, so the server's
// connection reaches CLOSED (through LAST-ACK), and a server process that
// then exits has nothing left to finish.
TEST_F(Exit, APeerThatClosesAfterWeExitedCompletes) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  pid_t client = fork_client(port);
  ASSERT_GE(client, 0);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  set_timeouts(s.get());
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(s.get(), got, 3));
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(wait_for(client), 0);
  // The client process is gone; our close now.
  const auto closed_at = Clock::now();
  ASSERT_EQ(tou_shutdown(s.get(), SHUT_WR), 0);
  EXPECT_TRUE(wait_until([&] { return state_of(s.get()) == TOU_STATE_CLOSED; }, kStateLimit))
      << "state " << int(state_of(s.get())) << ": our FIN was not acknowledged";
  std::cout << "server's FIN acknowledged after the client exited: "
            << std::chrono::duration<double, std::milli>(Clock::now() - closed_at).count()
            << " ms\n";
}

// The same from a server process: from its close() (after its client's
// process ended) to its own process's end.
TEST_F(Exit, AServerThatClosesAfterItsClientExitedExitsAtOnce) {
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  pid_t server = ::fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    ::close(ready[0]);
    ::close(go[1]);
    uint16_t port = 0;
    Fd ls = listen_on(AF_INET, 4, &port);
    if (!ls || ::write(ready[1], &port, sizeof port) != sizeof port) ::_exit(1);
    Fd s(tou_accept(ls.get(), nullptr, nullptr));
    std::vector<uint8_t> got;
    if (!s || !read_to_eof(s.get(), got, 16) || got.size() != 3) ::_exit(2);
    char byte;
    if (::read(go[0], &byte, 1) != 1) ::_exit(3);  // the client's process has ended
    s.reset();
    std::exit(0);
  }
  ::close(ready[1]);
  ::close(go[0]);
  uint16_t port = 0;
  ASSERT_EQ(::read(ready[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  ::close(ready[0]);
  pid_t client = fork_client(port);
  ASSERT_GE(client, 0);
  EXPECT_EQ(wait_for(client), 0);
  const auto start = Clock::now();
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  EXPECT_EQ(wait_for(server), 0);
  std::cout << "server: close() after its client exited, to its exit: "
            << std::chrono::duration<double, std::milli>(Clock::now() - start).count() << " ms\n";
}

// A writer exits with more unacknowledged than the peer's window while the
// peer does not read: exit() returns (the peer has read nothing yet),
// and the peer then reads every byte and end-of-file.
TEST_F(Exit, ExitDoesNotWaitForThePeerAndEveryByteArrives) {
  uint16_t port = 0;
  auto small = [](int fd) {
    int size = 64 * 1024;
    ASSERT_EQ(tou_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
  };
  Fd ls = listen_on(AF_INET, 4, &port, small);
  ASSERT_TRUE(ls);
  // More than the reader takes without reading, less than the writer's send
  // buffer, so that the writes complete while the reader reads nothing.
  const size_t bytes = scaled(4 << 20);
  pid_t writer = ::fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    Fd c = connect_to(AF_INET, port, [](int fd) {
      int size = 16 << 20;
      tou_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    });
    if (!c) ::_exit(1);
    std::vector<uint8_t> data = random_bytes(bytes, 77);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(c.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) ::_exit(2);
      off += static_cast<size_t>(n);
    }
    c.reset();
    std::exit(0);
  }
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  set_timeouts(s.get());
  // Not a byte read until the writer's process has ended.
  EXPECT_EQ(wait_for(writer), 0);
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(s.get(), got, bytes));
  EXPECT_EQ(got.size(), bytes);
  EXPECT_TRUE(got == random_bytes(bytes, 77));
}

}  // namespace
}  // namespace tou_test
