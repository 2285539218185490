#include "relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace tou::tools {

namespace {

constexpr size_t kBufferSize = 128 * 1024;

// Blocking write of everything to stdout; 0 or errno.
int write_all_stdout(const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a non-blocking stdout inherited from the shell
        pollfd p{.fd = STDOUT_FILENO, .events = POLLOUT, .revents = 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return errno;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace

RelayResult relay(const SocketOps& ops, int fd, double idle_timeout_s, bool& stdin_done) {
  RelayResult result;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto to_net = std::make_unique<char[]>(kBufferSize);
  auto from_net = std::make_unique<char[]>(kBufferSize);
  size_t pending_off = 0, pending_len = 0;  // stdin bytes not yet taken by the socket
  bool net_done = false, fin_sent = false;
  const int idle_ms = idle_timeout_s > 0 ? static_cast<int>(idle_timeout_s * 1000) : -1;

  while (!(net_done && fin_sent)) {
    if (stdin_done && pending_len == 0 && !fin_sent) {
      ops.shutdown(fd, SHUT_WR);  // FIN after what was written: the half-close
      fin_sent = true;
      continue;
    }
    pollfd fds[2] = {
        {.fd = (!stdin_done && pending_len == 0) ? STDIN_FILENO : -1,
         .events = POLLIN,
         .revents = 0},
        {.fd = (net_done && pending_len == 0) ? -1 : fd,
         .events = static_cast<short>((net_done ? 0 : POLLIN) | (pending_len > 0 ? POLLOUT : 0)),
         .revents = 0},
    };
    const int ready = ::poll(fds, 2, idle_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      result.error = errno;
      break;
    }
    if (ready == 0) {
      result.idle_timeout = true;
      break;
    }
    if (fds[0].revents != 0) {
      const ssize_t n = ::read(STDIN_FILENO, to_net.get(), kBufferSize);
      if (n > 0) {
        pending_off = 0;
        pending_len = static_cast<size_t>(n);
      } else if (n == 0 || !would_block(errno)) {
        stdin_done = true;  // end of input (or an unreadable stdin)
      }
    }
    if (pending_len > 0) {
      const ssize_t n = ops.send(fd, to_net.get() + pending_off, pending_len, MSG_NOSIGNAL);
      if (n >= 0) {
        pending_off += static_cast<size_t>(n);
        pending_len -= static_cast<size_t>(n);
        result.bytes_sent += static_cast<uint64_t>(n);
      } else if (!would_block(errno)) {
        result.error = errno;
        break;
      }
    }
    if (!net_done && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ops.recv(fd, from_net.get(), kBufferSize, 0);
      if (n > 0) {
        result.bytes_received += static_cast<uint64_t>(n);
        if (int err = write_all_stdout(from_net.get(), static_cast<size_t>(n)); err != 0) {
          result.error = err;
          result.stdout_failed = true;
          break;
        }
      } else if (n == 0) {
        net_done = true;
      } else if (!would_block(errno)) {
        result.error = errno;
        break;
      }
    }
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return result;
}

}  // namespace tou::tools
