// The C API (include/tou/tou.h): argument checks as BSD makes them, then the
// engine for control calls and the descriptor itself for data.
#include "tou/tou.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/interface.hpp"

namespace engine = tou::engine;
using tou::engine::FdKind;
using tou::engine::FdName;
using tou::engine::SockAddr;

namespace {

int fail(int err) {
  errno = err;
  return -1;
}

// What a descriptor is to us: a socket known to this process's engine, a tou
// socket of another process's engine (named, see engine/interface.hpp), or
// neither.
struct Target {
  ino_t ino = 0;
  bool local = false;  // this process's engine serves the socket
  FdName name;         // read only for sockets the engine does not serve
};

int identify(int fd, Target& t) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  if (!S_ISSOCK(st.st_mode)) return ENOTSOCK;
  t.ino = st.st_ino;
  // Every tou socket is an AF_UNIX one; another kind of socket whose inode
  // number a closed tou socket once had is not ours.
  int domain = 0;
  socklen_t len = sizeof domain;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
    return ENOTSOCK;
  if (engine::serves(t.ino)) {
    t.local = true;
    return 0;
  }
  t.name = engine::read_name(fd);
  return t.name.kind == FdKind::kUnknown ? ENOTSOCK : 0;
}

bool is_timeout_option(int level, int name) {
  return level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO);
}

// The error this process's engine holds for the connection, taken once; 0
// when there is none (or another process's engine serves it).
int take_engine_error(int fd) {
  Target t;
  if (identify(fd, t) != 0 || !t.local) return 0;
  return engine::socket_take_error(fd, t.ino);
}

// Shortest and longest pause between two looks at the queue while waiting
// for MSG_PEEK | MSG_WAITALL (poll() cannot wait for "more than N bytes").
constexpr int kPeekPollMinMs = 1;
constexpr int kPeekPollMaxMs = 16;

// MSG_PEEK | MSG_WAITALL on a blocking socket: waits until `len` bytes are
// queued, the stream ends or fails, or SO_RCVTIMEO passes (then, as TCP, the
// peek returns what is there, or EAGAIN). 0, or EINTR for a signal.
int wait_for_bytes(int fd, size_t len, int flags) {
  int fl = ::fcntl(fd, F_GETFL);
  if ((flags & MSG_DONTWAIT) != 0 || fl < 0 || (fl & O_NONBLOCK) != 0) return 0;
  timeval tv{};
  socklen_t tvlen = sizeof tv;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tvlen);
  const int64_t timeout_ms = int64_t{tv.tv_sec} * 1000 + tv.tv_usec / 1000;
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  int pause_ms = kPeekPollMinMs;
  for (;;) {
    int queued = 0;
    if (::ioctl(fd, FIONREAD, &queued) != 0 || static_cast<size_t>(queued) >= len) return 0;
    int wait_ms = queued == 0 ? -1 : pause_ms;  // empty: poll wakes on the first byte
    if (timeout_ms > 0) {
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = timeout_ms -
                     ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
      if (left <= 0) return 0;
      wait_ms = wait_ms < 0 ? static_cast<int>(left) : std::min<int>(wait_ms, left);
    }
    pollfd p{fd, static_cast<short>(queued == 0 ? POLLIN | POLLRDHUP : POLLRDHUP), 0};
    int r = ::poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR) return EINTR;
    if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return 0;  // no more comes
    pause_ms = std::min(pause_ms * 2, kPeekPollMaxMs);
  }
}

}  // namespace

extern "C" {

int tou_socket(int domain, int type, int protocol) {
  if (domain != AF_INET && domain != AF_INET6) return fail(EAFNOSUPPORT);
  const int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (kind == SOCK_DGRAM || kind == SOCK_SEQPACKET || kind == SOCK_RAW || kind == SOCK_RDM) {
    return fail(EPROTONOSUPPORT);
  }
  if (kind != SOCK_STREAM) return fail(EINVAL);
  if (protocol != 0 && protocol != IPPROTO_TCP) return fail(EPROTONOSUPPORT);
  int fd = -1;
  int err =
      engine::socket_open(domain, (flags & SOCK_NONBLOCK) != 0, (flags & SOCK_CLOEXEC) != 0, fd);
  return err != 0 ? fail(err) : fd;
}

int tou_bind(int fd, const struct sockaddr* addr, socklen_t addrlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  SockAddr a;
  if (int err = SockAddr::parse(addr, addrlen, a); err != 0) return fail(err);
  if (!t.local) return fail(EINVAL);  // another process's socket: bound already
  int err = engine::socket_bind(t.ino, a);
  return err != 0 ? fail(err) : 0;
}

int tou_listen(int fd, int backlog) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (!t.local) return t.name.kind == FdKind::kListener ? 0 : fail(EINVAL);
  int err = engine::socket_listen(fd, t.ino, backlog);
  if (err != 0) return fail(err);
  engine::make_unwritable(fd);  // never writable, as a kernel listening socket
  return 0;
}

int tou_accept4(int fd, struct sockaddr* addr, socklen_t* addrlen, int flags) {
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return fail(EINVAL);
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  bool listener = t.local ? engine::socket_is_listener(t.ino) : t.name.kind == FdKind::kListener;
  if (!listener) return fail(EINVAL);
  if (addr != nullptr && (addrlen == nullptr || static_cast<int>(*addrlen) < 0))
    return fail(EINVAL);
  int conn = -1;
  SockAddr local, peer;
  if (int err = engine::recv_accept(fd, (flags & SOCK_CLOEXEC) != 0, conn, local, peer); err != 0) {
    return fail(err);
  }
  if ((flags & SOCK_NONBLOCK) != 0) ::fcntl(conn, F_SETFL, ::fcntl(conn, F_GETFL) | O_NONBLOCK);
  // Accepted sockets inherit the listener's timeouts, as Linux's do.
  for (int opt : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(fd, SOL_SOCKET, opt, &tv, &len) == 0 && (tv.tv_sec != 0 || tv.tv_usec != 0)) {
      ::setsockopt(conn, SOL_SOCKET, opt, &tv, sizeof tv);
    }
  }
  if (addr != nullptr) peer.copy_out(addr, addrlen);
  return conn;
}

int tou_accept(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  return tou_accept4(fd, addr, addrlen, 0);
}

int tou_connect(int fd, const struct sockaddr* addr, socklen_t addrlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  SockAddr a;
  if (int err = SockAddr::parse(addr, addrlen, a); err != 0) return fail(err);
  if (!t.local) return fail(EISCONN);  // another process's socket: connected or listening
  int fl = ::fcntl(fd, F_GETFL);
  bool nonblocking = fl >= 0 && (fl & O_NONBLOCK) != 0;
  int err = engine::socket_connect(fd, t.ino, a, nonblocking);
  return err != 0 ? fail(err) : 0;
}

int tou_shutdown(int fd, int how) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return fail(EINVAL);
  // Connecting or connected: the pair carries the shutdown to the engine, in
  // order with the data. Fresh, bound or listening: nothing to shut down.
  bool connection =
      t.local ? engine::socket_has_connection(t.ino) : t.name.kind == FdKind::kConnection;
  if (!connection) return fail(ENOTCONN);
  if (t.local && how != SHUT_WR) engine::socket_note_read_shutdown(t.ino);
  return ::shutdown(fd, how) == 0 ? 0 : -1;
}

int tou_close(int fd) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (t.local) engine::socket_linger_before_close(t.ino);
  return ::close(fd);
}

int tou_getsockname(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (addr == nullptr || addrlen == nullptr) return fail(EFAULT);
  if (static_cast<int>(*addrlen) < 0) return fail(EINVAL);
  SockAddr a = t.name.local;
  if (t.local) {
    if (int err = engine::socket_local_address(t.ino, a); err != 0) return fail(err);
  }
  a.copy_out(addr, addrlen);
  return 0;
}

int tou_getpeername(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (addr == nullptr || addrlen == nullptr) return fail(EFAULT);
  if (static_cast<int>(*addrlen) < 0) return fail(EINVAL);
  SockAddr a;
  if (t.local) {
    if (int err = engine::socket_peer_address(t.ino, a); err != 0) return fail(err);
  } else {
    if (t.name.kind != FdKind::kConnection) return fail(ENOTCONN);
    a = t.name.remote;
  }
  a.copy_out(addr, addrlen);
  return 0;
}

int tou_setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (is_timeout_option(level, optname)) {
    // The descriptor's own timeouts are the socket's: read(), recv() and
    // accept() honour them in the kernel. tou_connect reads SO_SNDTIMEO back.
    if (optval == nullptr) return fail(EFAULT);
    if (optlen < static_cast<socklen_t>(sizeof(timeval))) return fail(EINVAL);
    return ::setsockopt(fd, level, optname, optval, optlen) == 0 ? 0 : -1;
  }
  int err = t.local ? engine::socket_set_option(fd, t.ino, level, optname, optval, optlen)
                    // Served by another process's engine (a fork child's socket).
                    : engine::remote_set_option(fd, t.name, level, optname, optval, optlen);
  return err != 0 ? fail(err) : 0;
}

int tou_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  if (optval == nullptr || optlen == nullptr) return fail(EFAULT);
  if (is_timeout_option(level, optname)) {
    return ::getsockopt(fd, level, optname, optval, optlen) == 0 ? 0 : -1;
  }
  if (!t.local) {
    // Another process's socket: what the descriptor itself can tell.
    auto put = [&](int v) {
      socklen_t n = std::min<socklen_t>(*optlen, sizeof v);
      std::memcpy(optval, &v, n);
      *optlen = n;
      return 0;
    };
    if (level == SOL_SOCKET) {
      switch (optname) {
        case SO_ERROR:
          return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, optval, optlen) == 0 ? 0 : -1;
        case SO_TYPE:
          return put(SOCK_STREAM);
        case SO_DOMAIN:
          return put(t.name.local.family());
        case SO_PROTOCOL:
          return put(IPPROTO_TCP);
        case SO_ACCEPTCONN:
          return put(t.name.kind == FdKind::kListener ? 1 : 0);
        default:
          break;
      }
    }
    // The rest from the engine that serves it.
    int err = engine::remote_get_option(fd, t.name, level, optname, optval, optlen);
    return err != 0 ? fail(err) : 0;
  }
  int err = engine::socket_get_option(fd, t.ino, level, optname, optval, optlen);
  return err != 0 ? fail(err) : 0;
}

ssize_t tou_send(int fd, const void* buf, size_t len, int flags) {
  if ((flags & MSG_OOB) != 0) return fail(EOPNOTSUPP);
  // Straight onto the wire from this thread when the connection can take it
  // all now (engine::socket_send_inline); else through the descriptor.
  iovec iov{const_cast<void*>(buf), len};
  if (ssize_t n = engine::socket_send_inline(fd, &iov, 1, flags); n >= 0) return n;
  // SIGPIPE is ours to raise: after a reset Linux reports ECONNRESET first,
  // without a signal, and only then EPIPE with SIGPIPE (sk_stream_error).
  ssize_t n = ::send(fd, buf, len, flags | MSG_NOSIGNAL);
  if (n >= 0) return n;
  int err = errno;
  if (err == EPIPE || err == ECONNRESET) {
    // The pair only knows "closed"; the engine knows why (reset, timeout).
    if (int exact = take_engine_error(fd); exact != 0) return fail(exact);
  }
  if (err == EPIPE && (flags & MSG_NOSIGNAL) == 0) ::raise(SIGPIPE);
  return fail(err);
}

ssize_t tou_recv(int fd, void* buf, size_t len, int flags) {
  if ((flags & MSG_OOB) != 0) return fail(EOPNOTSUPP);
  if ((flags & (MSG_PEEK | MSG_WAITALL)) == (MSG_PEEK | MSG_WAITALL) && len > 0) {
    // AF_UNIX peeks at what is queued and returns; TCP waits for all of it.
    if (int err = wait_for_bytes(fd, len, flags); err != 0) return fail(err);
  }
  ssize_t n = -1;
  if ((flags & (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL)) == 0 && len > 0 &&
      engine::socket_answer_awaited_here(fd)) {
    // A blocking read that follows this thread's inline write and finds
    // nothing waits in this thread for the connection's datagrams
    // (engine::socket_receive_inline), then reads.
    n = ::recv(fd, buf, len, flags | MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN && (::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0) {
      engine::socket_receive_inline(fd);
      n = ::recv(fd, buf, len, flags);
    }
  } else {
    n = ::recv(fd, buf, len, flags);
  }
  if (n > 0 || (n == 0 && len == 0)) return n;
  if (n == 0) {
    // After shutdown(SHUT_RD) the pair reads end-of-file; bytes that arrived
    // since wait in the engine, and TCP returns them (tcp_recvmsg reads its
    // queue before it looks at RCV_SHUTDOWN).
    Target t;
    if (identify(fd, t) == 0 && t.local) {
      size_t held = engine::socket_read_held(t.ino, buf, len, (flags & MSG_PEEK) != 0);
      if (held > 0) return static_cast<ssize_t>(held);
    }
  }
  int err = n < 0 ? errno : 0;
  if (n == 0 || err == ECONNRESET) {
    // End-of-file may be a reset or a timeout in disguise: ask the engine
    // (which also knows whether a plain read() took the reset already).
    if (int exact = take_engine_error(fd); exact != 0) return fail(exact);
  }
  return n == 0 ? 0 : fail(err);
}

int tou_set_workers(int n) {
  int err = engine::set_workers(n);
  return err != 0 ? fail(err) : 0;
}

int tou_workers(void) {
  return engine::worker_count();
}

int tou_worker_of(int fd) {
  Target t;
  if (int err = identify(fd, t); err != 0) return fail(err);
  int w = t.local ? engine::worker_of(t.ino) : -1;
  return w >= 0 ? w : fail(ENOENT);
}

}  // extern "C"
