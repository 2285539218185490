#include "integration/util.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "tou/tou.h"

// ThreadSanitizer: the fork tests' children may start an engine (a thread) of
// their own, which TSan only allows with die_after_fork=0.
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif

namespace tou_test {

double scale() {
  static const double s = [] {
    const char* env = std::getenv("TOU_TEST_SCALE");
    double v = env != nullptr ? std::atof(env) : 1.0;
    return v > 0 ? v : 1.0;
  }();
  return s;
}

size_t scaled(size_t n, size_t minimum) {
  auto v = static_cast<size_t>(static_cast<double>(n) * scale());
  return v < minimum ? minimum : v;
}

uint16_t Addr::port() const {
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

Addr loopback(int family, uint16_t port) {
  Addr a;
  if (family == AF_INET6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.storage);
    s->sin6_family = AF_INET6;
    s->sin6_addr = in6addr_loopback;
    s->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&a.storage);
    s->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
  }
  return a;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  tou_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  tou_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Fd listen_on(int family, int backlog, uint16_t* port, const std::function<void(int)>& before_bind) {
  Fd fd(tou_socket(family, SOCK_STREAM, 0));
  if (!fd) return fd;
  set_timeouts(fd.get());
  if (before_bind) before_bind(fd.get());
  Addr a = loopback(family, 0);
  if (tou_bind(fd.get(), a.get(), a.len) != 0 || tou_listen(fd.get(), backlog) != 0) return Fd();
  Addr bound;
  bound.len = sizeof bound.storage;
  tou_getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.len);
  if (port != nullptr) *port = bound.port();
  return fd;
}

ConnectedPair connected_pair(int family) {
  ConnectedPair p;
  uint16_t port = 0;
  p.listener = listen_on(family, 4, &port);
  p.client = connect_to(family, port);
  p.server = Fd(tou_accept(p.listener.get(), nullptr, nullptr));
  if (p.server) set_timeouts(p.server.get());
  return p;
}

Fd connect_to(int family, uint16_t port, const std::function<void(int)>& before_connect) {
  Fd fd(tou_socket(family, SOCK_STREAM, 0));
  if (!fd) return fd;
  set_timeouts(fd.get());
  if (before_connect) before_connect(fd.get());
  Addr a = loopback(family, port);
  if (tou_connect(fd.get(), a.get(), a.len) != 0) {
    int err = errno;
    fd.reset();
    errno = err;
  }
  return fd;
}

bool write_all(int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_exact(int fd, uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, data, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool read_to_eof(int fd, std::vector<uint8_t>& out, size_t limit) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) return true;
    out.insert(out.end(), buf, buf + r);
    if (out.size() > limit) return false;
  }
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(v.data() + i, &x, 8);
  }
  for (; i < n; ++i) v[i] = static_cast<uint8_t>(rng());
  return v;
}

int count_fds(const std::function<bool(int)>& which) {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != ::dirfd(d) && which(fd)) ++n;
  }
  ::closedir(d);
  return n;
}

int count_open_fds() {
  return count_fds([](int) { return true; });
}

int count_udp_sockets() {
  return count_fds([](int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
  });
}

uint16_t closed_udp_port(int family) {
  Fd u(::socket(family, SOCK_DGRAM, 0));
  Addr a = loopback(family, 0);
  ::bind(u.get(), a.get(), a.len);
  Addr bound;
  bound.len = sizeof bound.storage;
  ::getsockname(u.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.len);
  return bound.port();
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long v = 0;
      in >> v;
      return v;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return -1;
}

tou_info info_of(int fd) {
  tou_info info{};
  socklen_t len = sizeof info;
  EXPECT_EQ(tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  return info;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void dump_stacks(pid_t pid) {
  const std::string who =
      pid != 0 ? std::to_string(pid) : "$(pgrep -P " + std::to_string(::getpid()) + ")";
  std::fprintf(stderr, "did not finish in time: the threads of %s\n", who.c_str());
  const std::string cmd = "command -v gdb >/dev/null && for p in " + who +
                          "; do echo \"process $p:\" >&2; timeout 30 gdb -p $p -batch"
                          " -ex 'thread apply all bt 25' 2>/dev/null | grep -E '^(#|Thread)' >&2;"
                          " done";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "(no stacks: gdb missing or failed)\n");
}

}  // namespace tou_test
