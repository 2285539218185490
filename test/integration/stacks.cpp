// The two stacks of stacks.hpp: the kernel's TCP and tou.
#include "integration/stacks.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <cerrno>
#include <cstring>

#include "tou/tou.h"

namespace tou_test {

namespace {

bool kernel_all_acked(int fd, uint64_t) {
  int unacked = -1;
  if (::ioctl(fd, SIOCOUTQ, &unacked) != 0) return false;
  return unacked == 0;
}

// Linux's struct tcp_info (uapi/linux/tcp.h): 8 bytes of small fields, 24
// u32 fields, then pacing_rate, max_pacing_rate, bytes_acked, bytes_received
// (glibc's netinet/tcp.h stops before them).
constexpr size_t kTcpiBytesReceivedOffset = 8 + 24 * 4 + 3 * 8;

uint64_t kernel_bytes_received(int fd) {
  uint8_t info[256] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) != 0 ||
      len < kTcpiBytesReceivedOffset + 8)
    return 0;
  uint64_t v;
  std::memcpy(&v, info + kTcpiBytesReceivedOffset, sizeof v);
  return v;
}

bool tou_all_acked(int fd, uint64_t total) {
  tou_info info{};
  socklen_t len = sizeof info;
  if (tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  return info.bytes_acked >= total && info.flight_size == 0;
}

uint64_t tou_bytes_received(int fd) {
  tou_info info{};
  socklen_t len = sizeof info;
  if (tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.bytes_received;
}

ssize_t kernel_send(int fd, const void* b, size_t n, int flags) {
  return ::send(fd, b, n, flags);
}
ssize_t kernel_recv(int fd, void* b, size_t n, int flags) {
  return ::recv(fd, b, n, flags);
}

}  // namespace

const Stack& kernel_stack() {
  static const Stack s{
      "kernel",      ::socket,    ::bind,      ::listen,         ::accept4,
      ::connect,     ::shutdown,  ::close,     ::setsockopt,     ::getsockopt,
      ::getsockname, kernel_send, kernel_recv, kernel_all_acked, kernel_bytes_received,
      false};
  return s;
}

const Stack& tou_stack() {
  static const Stack s{"tou",          tou_socket,     tou_bind,           tou_listen,
                       tou_accept4,    tou_connect,    tou_shutdown,       tou_close,
                       tou_setsockopt, tou_getsockopt, tou_getsockname,    tou_send,
                       tou_recv,       tou_all_acked,  tou_bytes_received, true};
  return s;
}

bool send_all(const Stack& api, int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = api.send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool recv_all(const Stack& api, int fd, uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t r = api.recv(fd, data, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string stack_name(const ::testing::TestParamInfo<const Stack*>& p) {
  return p.param->name;
}

void StackTest::with_timeouts(int fd) const {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(kIoTimeout.count());
  api().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  api().setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

SFd StackTest::make(int family, int flags) const {
  SFd fd(&api(), api().socket(family, SOCK_STREAM | flags, 0));
  if (!fd) return fd;
  with_timeouts(fd.get());
  return fd;
}

SFd StackTest::listener(int family, uint16_t* port, int backlog,
                        const std::function<void(int)>& before_bind) const {
  SFd fd = make(family);
  if (!fd) return fd;
  if (before_bind) before_bind(fd.get());
  Addr a = loopback(family, port != nullptr ? *port : 0);
  if (api().bind(fd.get(), a.get(), a.len) != 0 || api().listen(fd.get(), backlog) != 0)
    return SFd();
  Addr bound;
  bound.len = sizeof bound.storage;
  api().getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.len);
  if (port != nullptr) *port = bound.port();
  return fd;
}

SFd StackTest::connect(int family, uint16_t port, const std::function<void(int)>& before) const {
  SFd fd = make(family);
  if (!fd) return fd;
  if (before) before(fd.get());
  Addr a = loopback(family, port);
  if (api().connect(fd.get(), a.get(), a.len) != 0) return SFd();
  return fd;
}

SFd StackTest::accept(int listen_fd) const {
  SFd fd(&api(), api().accept4(listen_fd, nullptr, nullptr, 0));
  if (!fd) return fd;
  with_timeouts(fd.get());
  return fd;
}

Conn StackTest::pair(int family, const std::function<void(int)>& client_opts,
                     const std::function<void(int)>& listener_opts) const {
  Conn c;
  uint16_t port = 0;
  c.listener = listener(family, &port, 16, listener_opts);
  if (!c.listener) return c;
  c.client = connect(family, port, client_opts);
  if (!c.client) return c;
  c.server = accept(c.listener.get());
  return c;
}

short StackTest::wait_events(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r == 1 ? p.revents : 0;
  }
}

}  // namespace tou_test
