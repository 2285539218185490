#include "connect.hpp"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <chrono>

namespace tou::tools {

namespace {

// Waits for a non-blocking connect to end; 0 or its errno.
int finish_connect(const SocketOps& ops, int fd, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int wait_ms = -1;
    if (timeout_s > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return ETIMEDOUT;
      wait_ms = static_cast<int>(left.count()) + 1;
    }
    pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
    const int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) return errno;
    if (n <= 0) continue;
    int error = 0;
    socklen_t len = sizeof error;
    if (ops.getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
    // Writable and no error: connected. (POLLHUP alone with no error is a
    // connection that ended at once: the peer reset it.)
    if (error == 0 && (p.revents & POLLHUP) != 0 && (p.revents & POLLOUT) == 0) {
      return ECONNREFUSED;
    }
    return error;
  }
}

}  // namespace

int open_connection(const SocketOps& ops, const Address& address, double timeout_s,
                    const std::function<void(int fd)>& configure, int& error) {
  const int fd = ops.socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  if (configure) configure(fd);
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  error = 0;
  if (ops.connect(fd, address.data(), address.size()) != 0) {
    error = errno == EINPROGRESS ? finish_connect(ops, fd, timeout_s) : errno;
  }
  if (error != 0) {
    ops.close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, flags);
  return fd;
}

}  // namespace tou::tools
