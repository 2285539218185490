// Non-blocking connect and epoll: one thread drives many connections.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <unordered_map>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// Enough descriptors for the test: each client holds three (its end of the
// pair, the engine's end, a UDP socket), each accepted connection two.
void raise_fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

TEST(NonBlocking, ThousandConnectionsFromOneThread) {
  raise_fd_limit();
  const size_t n = scaled(1000, 20);
  const int buffers = 32 * 1024;  // small buffers: 2 * n connections live at once
  auto small_buffers = [&](int fd) {
    tou_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffers, sizeof buffers);
    tou_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffers, sizeof buffers);
  };
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4096, &port, small_buffers);
  ASSERT_TRUE(ls);
  ::fcntl(ls.get(), F_SETFL, O_NONBLOCK);
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));

  // Every connection carries one message out and back: "client i".
  enum class Role { kListener, kClient, kServer };
  struct Conn {
    Role role;
    Fd fd;
    bool connected = false;
    std::string out;
    std::string in;
    size_t sent = 0;
  };
  std::unordered_map<int, Conn> conns;
  auto add = [&](int fd, Role role, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    EXPECT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev), 0);
    Conn& c = conns[fd];
    c.role = role;
    c.fd = Fd(fd);
    return &c;
  };
  add(ls.release(), Role::kListener, EPOLLIN);

  Addr a = loopback(AF_INET, port);
  for (size_t i = 0; i < n; ++i) {
    int fd = tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0) << strerror(errno);
    small_buffers(fd);
    ASSERT_EQ(tou_connect(fd, a.get(), a.len), -1);
    ASSERT_EQ(errno, EINPROGRESS);
    Conn* c = add(fd, Role::kClient, EPOLLOUT);
    c->out = "client " + std::to_string(i) + std::string(200, '.');
  }

  size_t verified = 0, accepted = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::vector<epoll_event> events(256);
  while (verified < n && std::chrono::steady_clock::now() < deadline) {
    int k = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < k; ++e) {
      int fd = events[e].data.fd;
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (c.role == Role::kListener) {
        for (;;) {
          int s = tou_accept4(fd, nullptr, nullptr, SOCK_NONBLOCK);
          if (s < 0) break;
          ++accepted;
          add(s, Role::kServer, EPOLLIN);
        }
        continue;
      }
      if (c.role == Role::kClient && !c.connected) {
        int err = -1;
        socklen_t len = sizeof err;
        ASSERT_EQ(tou_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        ASSERT_EQ(err, 0) << strerror(err);
        c.connected = true;
        ssize_t w = ::write(fd, c.out.data(), c.out.size());  // small: fits at once
        ASSERT_EQ(w, static_cast<ssize_t>(c.out.size()));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep.get(), EPOLL_CTL_MOD, fd, &ev);
        continue;
      }
      char buf[4096];
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) {
        if (c.role == Role::kServer) {
          ASSERT_EQ(::write(fd, buf, static_cast<size_t>(r)), r);  // echo
        } else {
          c.in.append(buf, static_cast<size_t>(r));
          if (c.in.size() == c.out.size()) {
            EXPECT_EQ(c.in, c.out);
            ++verified;
            conns.erase(it);  // closes the client: the server reads EOF
          }
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        EXPECT_EQ(c.role, Role::kServer);
        conns.erase(it);
      }
    }
  }
  EXPECT_EQ(verified, n);
  EXPECT_EQ(accepted, n);
}

}  // namespace
}  // namespace tou_test
