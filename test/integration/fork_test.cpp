// fork() and tou sockets: a fork-per-connection server, a prefork server whose
// children accept on one listening descriptor, and a child that makes sockets
// of its own (and so its own engine).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// Children that start an engine (a thread) after a multi-threaded fork.
// AddressSanitizer runs them all: GCC 12's runtime takes no allocator lock
// around fork(), so a child could wait forever on one that another thread
// held, but the only other thread in these tests is the engine's I/O thread,
// which allocates only while holding the engine's lock (the engine's atfork
// handler holds that lock across fork()) and has finished its allocating
// start-up before the engine's start returns. ThreadSanitizer (with
// die_after_fork=0, see util.cpp) runs a child that starts an engine, but
// aborts a process that exits through the lingering process forked at exit
// ("ThreadSanitizer: dup thread with used id": its registry still holds a
// thread from before the fork); those tests skip under TSan.
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsanExitFork = true;
#else
constexpr bool kTsanExitFork = false;
#endif
constexpr const char* kTsanExitForkReason =
    "GCC 12's ThreadSanitizer aborts a child that exits through tou's lingering process "
    "(\"dup thread with used id\")";

// Echoes until end-of-file.
void echo(int fd) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    if (!write_all(fd, buf, static_cast<size_t>(n))) return;
  }
}

// Waits for a child, killing it if it takes longer than `limit`; its exit status or -1.
int wait_child(pid_t pid, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= until) {
      dump_stacks(pid);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// A child that a failed assertion leaves running (it holds ctest's output
// pipe, so the test would hang until ctest's timeout): its threads' stacks go
// to the log, then it is killed. A child already waited for is left alone.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() {
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) != 0) return;
    dump_stacks(pid_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_;
};

// One client: sends `bytes` random bytes, reads them back, verifies.
bool client_round_trip(uint16_t port, size_t bytes, uint64_t seed) {
  Fd c = connect_to(AF_INET, port);
  if (!c) return false;
  std::vector<uint8_t> data = random_bytes(bytes, seed);
  bool wrote = false;
  std::thread writer([&] {
    wrote = write_all(c.get(), data.data(), data.size()) && tou_shutdown(c.get(), SHUT_WR) == 0;
  });
  std::vector<uint8_t> got;
  bool read_ok = read_to_eof(c.get(), got, data.size());
  writer.join();
  return wrote && read_ok && got == data;
}

TEST(Fork, ForkPerConnectionServer) {
  const int kClients = static_cast<int>(scaled(50, 10));
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 64, &port);
  ASSERT_TRUE(ls);

  // The clients: threads of this process, all at once.
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      if (client_round_trip(port, 20000 + 1000 * static_cast<size_t>(i), static_cast<uint64_t>(i)))
        ++ok;
    });
  }

  // The server: accept, fork a child to serve the connection, close our copy.
  std::vector<pid_t> children;
  for (int i = 0; i < kClients; ++i) {
    Fd c(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(c) << strerror(errno);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ls.reset();
      echo(c.get());
      ::_exit(0);
    }
    children.push_back(child);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
  for (pid_t child : children) EXPECT_EQ(wait_child(child, std::chrono::seconds(60)), 0);
}

TEST(Fork, ChildMakesSocketsWithItsOwnEngine) {
  // The parent's engine runs (this process made sockets before); the child
  // starts its own for the sockets it makes, and talks to the parent's listener.
  const int kClients = 5;
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 16, &port);
  ASSERT_TRUE(ls);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ls.reset();
    int bad = 0;
    for (int i = 0; i < kClients; ++i)
      bad += client_round_trip(port, 100000, 7 + static_cast<uint64_t>(i)) ? 0 : 1;
    ::_exit(bad == 0 ? 0 : 1);
  }
  ChildGuard guard(child);
  for (int i = 0; i < kClients; ++i) {
    Fd c(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(c) << strerror(errno);
    echo(c.get());
  }
  EXPECT_EQ(wait_child(child, std::chrono::seconds(60)), 0);
}

TEST(Fork, ProcessThatWritesClosesAndExitsDeliversEverything) {
  if (kTsanExitFork) GTEST_SKIP() << kTsanExitForkReason;
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  const size_t bytes = scaled(4 << 20);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Its own engine; exit() right after close(), and once without closing at all.
    for (int round = 0; round < 2; ++round) {
      pid_t writer = ::fork();
      if (writer == 0) {
        Fd c = connect_to(AF_INET, port);
        std::vector<uint8_t> data = random_bytes(bytes, 50 + static_cast<uint64_t>(round));
        if (!c || !write_all(c.get(), data.data(), data.size())) ::_exit(1);
        if (round == 0)
          c.reset();
        else
          c.release();
        std::exit(0);  // the engine delivers the rest, then FIN
      }
      if (wait_child(writer, std::chrono::seconds(30)) != 0) ::_exit(1);
    }
    ::_exit(0);
  }
  ChildGuard guard(child);
  for (int round = 0; round < 2; ++round) {
    Fd s(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(s);
    std::vector<uint8_t> got;
    EXPECT_TRUE(read_to_eof(s.get(), got, bytes));
    EXPECT_TRUE(got == random_bytes(bytes, 50 + static_cast<uint64_t>(round))) << "round " << round;
  }
  EXPECT_EQ(wait_child(child, std::chrono::seconds(60)), 0);
}

TEST(Fork, PreforkServerFourChildrenAcceptOnOneListener) {
  const int kChildren = 4;
  const int kClients = static_cast<int>(scaled(40, 8));
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 64, &port);
  ASSERT_TRUE(ls);
  int served_pipe[2];
  ASSERT_EQ(::pipe(served_pipe), 0);
  Fd served_r(served_pipe[0]), served_w(served_pipe[1]);
  std::vector<pid_t> children;
  std::vector<std::unique_ptr<ChildGuard>> guards;
  for (int i = 0; i < kChildren; ++i) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      served_r.reset();
      // Accept until told to stop (SIGTERM); each connection reports one byte.
      for (;;) {
        int c = tou_accept(ls.get(), nullptr, nullptr);
        if (c < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;  // SO_RCVTIMEO
          ::_exit(2);
        }
        // Another process's socket still tells its addresses.
        sockaddr_in local{};
        socklen_t len = sizeof local;
        if (tou_getsockname(c, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
            ntohs(local.sin_port) != port) {
          ::_exit(4);
        }
        echo(c);
        ::close(c);
        char one = static_cast<char>('0' + i);
        if (::write(served_w.get(), &one, 1) != 1) ::_exit(3);
      }
    }
    children.push_back(child);
    guards.push_back(std::make_unique<ChildGuard>(child));
  }
  served_w.reset();

  // Clients in this process, a few at a time.
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      if (client_round_trip(port, 50000, 100 + static_cast<uint64_t>(i))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
  // Every connection was served by one of the children.
  std::string served;
  ASSERT_TRUE(wait_until(
      [&] {
        char buf[64];
        ssize_t n = ::read(served_r.get(), buf, sizeof buf);
        if (n > 0) served.append(buf, static_cast<size_t>(n));
        return served.size() >= static_cast<size_t>(kClients) || n == 0;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(served.size(), static_cast<size_t>(kClients));
  for (pid_t child : children) ::kill(child, SIGTERM);
  for (pid_t child : children) wait_child(child, std::chrono::seconds(10));
}

}  // namespace
}  // namespace tou_test
