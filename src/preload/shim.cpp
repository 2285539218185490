// The interposers: the C library's socket calls, as an LD_PRELOAD library
// sees them. TCP sockets (AF_INET / AF_INET6, SOCK_STREAM, protocol 0 or
// IPPROTO_TCP) become tou sockets; every other descriptor, and every call that
// tou itself makes (its engine reaches the C library through these very
// functions), goes straight to the C library.
//
// Nothing runs in a constructor: the settings are read, the C library's
// functions resolved and tou's engine started on first use.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/interface.hpp"
#include "preload/config.hpp"
#include "preload/fd_table.hpp"
#include "preload/libc.hpp"
#include "preload/log.hpp"
#include "preload/options.hpp"
#include "preload/pending.hpp"
#include "preload/stats.hpp"
#include "tou/tou.h"

namespace tou::preload {
namespace {

bool is_tcp(int domain, int type, int protocol) {
  return (domain == AF_INET || domain == AF_INET6) &&
         (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
         (protocol == 0 || protocol == IPPROTO_TCP);
}

int fail(int err) {
  errno = err;
  return -1;
}

// What the shim does with fd for this call.
FdKind route(int fd) {
  if (inside_tou() || peek(fd) == FdKind::kOther) return FdKind::kOther;
  return kind_of(fd);
}

// True for a tou socket the table does not know: inherited across exec, or
// copied by a call the shim does not see. Its name says so (engine/interface.hpp);
// only connected and listening sockets are named.
bool has_tou_name(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (libc::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX) {
    return false;
  }
  InsideTou inside;
  return tou::engine::read_name(fd).kind != tou::engine::FdKind::kUnknown;
}

// route(), adopting such sockets into the table.
FdKind route_adopting(int fd) {
  FdKind kind = route(fd);
  if (kind != FdKind::kOther || inside_tou() || config().passthrough || !has_tou_name(fd)) {
    return kind;
  }
  debug_log("fd %d: an inherited tou socket", fd);
  return remember(fd, FdKind::kTou) ? FdKind::kTou : FdKind::kOther;
}

// A pending socket whose address did not match: it stays a kernel socket.
void settle_on_kernel(int fd, const char* call, const sockaddr* addr, socklen_t len) {
  forget(fd);
  drop_pending(fd);
  count(Counter::kKernelSockets);
  char text[80];
  debug_log("fd %d: %s %s -> kernel TCP", fd, call, format_addr(addr, len, text, sizeof text));
}

// A pending socket whose address matched: swapped for a tou socket. 0 or -1.
int settle_on_tou(int fd, const char* call, const sockaddr* addr, socklen_t len) {
  char text[80];
  if (int err = become_tou(fd); err != 0) {
    debug_log("fd %d: %s %s -> tou failed: %s", fd, call, format_addr(addr, len, text, sizeof text),
              std::strerror(err));
    return fail(err);
  }
  count(Counter::kTouSockets);
  debug_log("fd %d: %s %s -> tou", fd, call, format_addr(addr, len, text, sizeof text));
  return 0;
}

// Decides a pending socket at connect time (connect, or sendto with MSG_FASTOPEN).
FdKind decide_for_connect(int fd, const sockaddr* addr, socklen_t len) {
  if (!matches(addr, len)) {
    settle_on_kernel(fd, "connect", addr, len);
    return FdKind::kOther;
  }
  return settle_on_tou(fd, "connect", addr, len) == 0 ? FdKind::kTou : FdKind::kPending;
}

int tou_connect_counted(int fd, const sockaddr* addr, socklen_t len) {
  InsideTou inside;
  int r = tou_connect(fd, addr, len);
  int err = errno;
  if (r == 0 || err == EINPROGRESS) count(Counter::kConnects);
  if (debugging()) {
    char text[80];
    debug_log("fd %d: connect %s over tou: %s", fd, format_addr(addr, len, text, sizeof text),
              r == 0 ? "connected" : std::strerror(err));
  }
  errno = err;
  return r;
}

// True when fd may be a tou socket (one load; route() confirms): the data
// calls' fast path for every other descriptor.
bool maybe_tou(int fd) {
  return peek(fd) == FdKind::kTou && !inside_tou();
}

// A send on a tou socket: `call(flags)` with MSG_NOSIGNAL added, then the
// error Linux's TCP would give. The pair only knows "closed" (EPIPE); a reset
// or timeout not yet reported is that error, without SIGPIPE; only then EPIPE,
// with SIGPIPE unless MSG_NOSIGNAL (sk_stream_error). The connection's error
// is taken as SO_ERROR takes it, so it is reported once.
//
// The bytes go first from this thread straight into the connection when it
// can take them now (engine::socket_send_inline, as tou_send does); `iov`
// null, or that path declining, sends them through the descriptor.
template <typename Call>
ssize_t send_exact(int fd, int flags, const iovec* iov, int iovcnt, Call call) {
  if (iov != nullptr) {
    InsideTou inside;
    if (ssize_t n = tou::engine::socket_send_inline(fd, iov, iovcnt, flags); n >= 0) return n;
  }
  ssize_t r = call(flags | MSG_NOSIGNAL);
  if (r >= 0) return r;
  int err = errno;
  if (err == EPIPE || err == ECONNRESET) {
    int pending = 0;
    socklen_t len = sizeof pending;
    InsideTou inside;
    if (tou_getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &len) == 0 && pending != 0) {
      count(Counter::kExactErrors);
      return fail(pending);
    }
  }
  if (err == EPIPE && (flags & MSG_NOSIGNAL) == 0) ::raise(SIGPIPE);
  return fail(err);
}

// A message's bytes for send_exact's path from this thread: none (null)
// when it carries control data (SCM_RIGHTS and the like go through the pair).
const iovec* inline_iov(const msghdr* msg) {
  if (msg->msg_controllen != 0 || msg->msg_iovlen > static_cast<size_t>(IOV_MAX)) return nullptr;
  return msg->msg_iov;
}

// read() found end-of-file on what may be a tou socket: tou_recv tells
// whether bytes came after SHUT_RD (the pair takes none) or the end is an
// error (a timeout). A number that is no tou socket any more (a stale slot:
// ENOTSOCK) or nothing more: end-of-file.
ssize_t read_at_end(int fd, void* buf, size_t n) {
  int saved = errno;
  InsideTou inside;
  ssize_t r = tou_recv(fd, buf, n, MSG_DONTWAIT);
  if (r > 0 || (r < 0 && errno != ENOTSOCK && errno != EAGAIN && errno != EWOULDBLOCK)) return r;
  errno = saved;
  return 0;
}

// End-of-file on a tou socket may be an error in disguise (a timeout; the
// pair reports a reset itself): as tou_recv, the connection's error first.
ssize_t end_of_stream(int fd, const msghdr* msg) {
  size_t want = 0;
  for (size_t i = 0; i < msg->msg_iovlen; ++i) want += msg->msg_iov[i].iov_len;
  if (want == 0) return 0;
  int pending = 0;
  socklen_t len = sizeof pending;
  InsideTou inside;
  if (tou_getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &len) == 0 && pending != 0) {
    return fail(pending);
  }
  return 0;
}

}  // namespace
}  // namespace tou::preload

using tou::preload::config;
using tou::preload::count;
using tou::preload::Counter;
using tou::preload::debug_log;
using tou::preload::decide_for_connect;
using tou::preload::drop_pending;
using tou::preload::end_of_stream;
using tou::preload::fail;
using tou::preload::FdKind;
using tou::preload::forget;
using tou::preload::get_option;
using tou::preload::inline_iov;
using tou::preload::inside_tou;
using tou::preload::InsideTou;
using tou::preload::is_tcp;
using tou::preload::matches;
using tou::preload::maybe_tou;
using tou::preload::move_high;
using tou::preload::read_at_end;
using tou::preload::record_option;
using tou::preload::remember;
using tou::preload::route;
using tou::preload::route_adopting;
using tou::preload::send_exact;
using tou::preload::set_option;
using tou::preload::settle_on_kernel;
using tou::preload::settle_on_tou;
using tou::preload::tou_connect_counted;
namespace libc = tou::preload::libc;

extern "C" {

int socket(int domain, int type, int protocol) __THROW {
  if (inside_tou()) return move_high(libc::socket(domain, type, protocol));  // tou's UDP sockets
  if (!is_tcp(domain, type, protocol) || config().passthrough) {
    int fd = libc::socket(domain, type, protocol);
    forget(fd);
    return fd;
  }
  if (!config().all_tcp) {
    // TOU_PORTS / TOU_ADDRS: bind or connect decides (pending.hpp).
    int fd = libc::socket(domain, type, protocol);
    if (fd >= 0 && !remember(fd, FdKind::kPending)) count(Counter::kKernelSockets);
    return fd;
  }
  int fd;
  {
    InsideTou inside;
    fd = tou_socket(domain, type, protocol);
  }
  if (fd < 0) return -1;
  if (!remember(fd, FdKind::kTou)) {
    // Beyond the table: a kernel socket rather than one the shim cannot follow.
    libc::close(fd);
    debug_log("fd %d: beyond the shim's table, kernel TCP instead", fd);
    count(Counter::kKernelSockets);
    return libc::socket(domain, type, protocol);
  }
  count(Counter::kTouSockets);
  debug_log("fd %d: socket(%s) over tou", fd, domain == AF_INET ? "AF_INET" : "AF_INET6");
  return fd;
}

int bind(int fd, const sockaddr* addr, socklen_t len) __THROW {
  // AF_UNIX names: tou's own (its descriptors' names), never a TCP bind.
  if (addr != nullptr && addr->sa_family == AF_UNIX) return libc::bind(fd, addr, len);
  switch (route(fd)) {
    case FdKind::kOther:
      return libc::bind(fd, addr, len);
    case FdKind::kPending:
      if (!matches(addr, len)) {
        settle_on_kernel(fd, "bind", addr, len);
        return libc::bind(fd, addr, len);
      }
      if (settle_on_tou(fd, "bind", addr, len) != 0) return -1;
      break;
    case FdKind::kTou:
      break;
  }
  InsideTou inside;
  return tou_bind(fd, addr, len);
}

int listen(int fd, int backlog) __THROW {
  switch (route_adopting(fd)) {
    case FdKind::kOther:
      return libc::listen(fd, backlog);
    case FdKind::kPending:
      // An unbound socket listens on an ephemeral port: no port to match.
      settle_on_kernel(fd, "listen", nullptr, 0);
      return libc::listen(fd, backlog);
    case FdKind::kTou:
      break;
  }
  InsideTou inside;
  int r = tou_listen(fd, backlog);
  if (r == 0) count(Counter::kListens);
  debug_log("fd %d: listen over tou: %s", fd, r == 0 ? "ok" : std::strerror(errno));
  return r;
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  if (route_adopting(fd) != FdKind::kTou) {
    int conn = libc::accept4(fd, addr, len, flags);
    forget(conn);
    return conn;
  }
  int conn;
  {
    InsideTou inside;
    conn = tou_accept4(fd, addr, len, flags);
  }
  if (conn >= 0) {
    remember(conn, FdKind::kTou);
    count(Counter::kAccepts);
  }
  return conn;
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept4(fd, addr, len, 0);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  FdKind kind = route(fd);
  if (kind == FdKind::kPending) kind = decide_for_connect(fd, addr, len);
  if (kind == FdKind::kPending) return -1;  // the swap failed; errno says why
  if (kind == FdKind::kOther) return libc::connect(fd, addr, len);
  return tou_connect_counted(fd, addr, len);
}

int shutdown(int fd, int how) __THROW {
  if (route_adopting(fd) != FdKind::kTou) return libc::shutdown(fd, how);
  InsideTou inside;
  return tou_shutdown(fd, how);
}

int close(int fd) {
  switch (route(fd)) {
    case FdKind::kOther:
      return libc::close(fd);
    case FdKind::kPending:
      forget(fd);
      drop_pending(fd);
      return libc::close(fd);
    case FdKind::kTou:
      break;
  }
  forget(fd);
  InsideTou inside;
  int r = tou_close(fd);
  // Not a socket tou can name (a fresh socket inherited across fork): just close it.
  if (r != 0 && errno == ENOTSOCK) return libc::close(fd);
  return r;
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) __THROW {
  if (route_adopting(fd) != FdKind::kTou) return libc::getsockname(fd, addr, len);
  InsideTou inside;
  return tou_getsockname(fd, addr, len);
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) __THROW {
  if (route_adopting(fd) != FdKind::kTou) return libc::getpeername(fd, addr, len);
  InsideTou inside;
  return tou_getpeername(fd, addr, len);
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) __THROW {
  switch (route_adopting(fd)) {
    case FdKind::kOther:
      return libc::setsockopt(fd, level, name, value, len);
    case FdKind::kPending: {
      int r = libc::setsockopt(fd, level, name, value, len);
      if (r == 0) record_option(fd, level, name, value, len);
      return r;
    }
    case FdKind::kTou:
      break;
  }
  InsideTou inside;
  return set_option(fd, level, name, value, len);
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) __THROW {
  if (route_adopting(fd) != FdKind::kTou) return libc::getsockopt(fd, level, name, value, len);
  InsideTou inside;
  return get_option(fd, level, name, value, len);
}

// Copies keep their kind: a dup of a tou socket is the same tou socket.
int dup(int fd) __THROW {
  int copy = libc::dup(fd);
  if (copy >= 0) remember(copy, route(fd) == FdKind::kTou ? FdKind::kTou : FdKind::kOther);
  return copy;
}

int dup3(int fd, int fd2, int flags) __THROW {
  FdKind kind = route(fd);
  FdKind replaced = route(fd2);
  int r = libc::dup3(fd, fd2, flags);
  if (r < 0) return r;
  if (replaced == FdKind::kPending) drop_pending(fd2);
  remember(fd2, kind == FdKind::kTou ? FdKind::kTou : FdKind::kOther);
  return r;
}

int dup2(int fd, int fd2) __THROW {
  if (fd == fd2) return libc::dup2(fd, fd2);
  return dup3(fd, fd2, 0);
}

// Data calls. On a tou socket a send goes to the pair with MSG_NOSIGNAL and
// a failure is made exact (send_exact); a recv goes through tou_recv
// (MSG_PEEK | MSG_WAITALL waits, end-of-file that is an error). Everything
// else goes straight to the C library: for other descriptors the only cost
// is one load from the table.
ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  if (addr == nullptr && (flags & MSG_OOB) == 0) {
    if (!maybe_tou(fd)) return libc::sendto(fd, buf, n, flags, addr, len);
    iovec iov{const_cast<void*>(buf), n};
    return send_exact(fd, flags, &iov, 1,
                      [&](int f) { return libc::sendto(fd, buf, n, f, nullptr, 0); });
  }
  FdKind kind = route(fd);
  if (kind == FdKind::kPending && addr != nullptr && (flags & MSG_FASTOPEN) != 0) {
    kind = decide_for_connect(fd, addr, len);
    if (kind == FdKind::kPending) return -1;
  }
  if (kind != FdKind::kTou) return libc::sendto(fd, buf, n, flags, addr, len);
  if ((flags & MSG_OOB) != 0) return fail(EOPNOTSUPP);  // no urgent data in tou
  if ((flags & MSG_FASTOPEN) != 0) {
    // TCP Fast Open: connect, then send (the data waits for the handshake).
    // Non-blocking, this fails with EINPROGRESS, as Linux does without a cookie.
    if (tou_connect_counted(fd, addr, len) != 0 && errno != EISCONN) return -1;
    flags &= ~MSG_FASTOPEN;
  }
  // As Linux's TCP: a connected socket ignores the address.
  iovec iov{const_cast<void*>(buf), n};
  return send_exact(fd, flags, &iov, 1,
                    [&](int f) { return libc::sendto(fd, buf, n, f, nullptr, 0); });
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  return sendto(fd, buf, n, flags, nullptr, 0);
}

// write() on a socket is send() without flags: on a tou socket it too must
// fail with ECONNRESET (no SIGPIPE) once after a reset, where the pair says EPIPE.
ssize_t write(int fd, const void* buf, size_t n) {
  if (!maybe_tou(fd)) return libc::write(fd, buf, n);
  iovec iov{const_cast<void*>(buf), n};
  ssize_t r =
      send_exact(fd, 0, &iov, 1, [&](int f) { return libc::sendto(fd, buf, n, f, nullptr, 0); });
  // A stale slot: the number is some other file now.
  return r < 0 && errno == ENOTSOCK ? libc::write(fd, buf, n) : r;
}

ssize_t writev(int fd, const iovec* iov, int count) {
  if (!maybe_tou(fd) || count < 0) return libc::writev(fd, iov, count);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count);
  ssize_t r = send_exact(fd, 0, iov, count, [&](int f) { return libc::sendmsg(fd, &msg, f); });
  return r < 0 && errno == ENOTSOCK ? libc::writev(fd, iov, count) : r;
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (msg == nullptr || (msg->msg_name == nullptr && (flags & MSG_OOB) == 0)) {
    if (msg == nullptr || !maybe_tou(fd)) return libc::sendmsg(fd, msg, flags);
    return send_exact(fd, flags, inline_iov(msg), static_cast<int>(msg->msg_iovlen),
                      [&](int f) { return libc::sendmsg(fd, msg, f); });
  }
  FdKind kind = route(fd);
  if (kind == FdKind::kPending && msg->msg_name != nullptr && (flags & MSG_FASTOPEN) != 0) {
    kind = decide_for_connect(fd, static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen);
    if (kind == FdKind::kPending) return -1;
  }
  if (kind != FdKind::kTou) return libc::sendmsg(fd, msg, flags);
  if ((flags & MSG_OOB) != 0) return fail(EOPNOTSUPP);
  if ((flags & MSG_FASTOPEN) != 0) {
    if (tou_connect_counted(fd, static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen) !=
            0 &&
        errno != EISCONN) {
      return -1;
    }
    flags &= ~MSG_FASTOPEN;
  }
  msghdr unnamed = *msg;
  unnamed.msg_name = nullptr;
  unnamed.msg_namelen = 0;
  return send_exact(fd, flags, inline_iov(&unnamed), static_cast<int>(unnamed.msg_iovlen),
                    [&](int f) { return libc::sendmsg(fd, &unnamed, f); });
}

// read() on a socket is recv() without flags. The pair answers; only at its
// end-of-file does a tou socket need a second look (read_at_end).
ssize_t read(int fd, void* buf, size_t n) {
  ssize_t r = libc::read(fd, buf, n);
  return r == 0 && n > 0 && maybe_tou(fd) ? read_at_end(fd, buf, n) : r;
}

// glibc's _FORTIFY_SOURCE spelling of read().
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  ssize_t r = libc::read_chk(fd, buf, n, buflen);
  return r == 0 && n > 0 && maybe_tou(fd) ? read_at_end(fd, buf, n) : r;
}

ssize_t readv(int fd, const iovec* iov, int count) {
  ssize_t r = libc::readv(fd, iov, count);
  if (r != 0 || count <= 0 || !maybe_tou(fd)) return r;
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count);
  return end_of_stream(fd, &msg);
}

// MSG_OOB: tou has no urgent data; TCP then fails with EINVAL. A TCP socket
// reports no source address (the pair would report its own AF_UNIX end).
ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  if (!maybe_tou(fd)) return libc::recvfrom(fd, buf, n, flags, addr, len);
  if ((flags & MSG_OOB) != 0) {
    return route(fd) == FdKind::kTou ? fail(EINVAL) : libc::recvfrom(fd, buf, n, flags, addr, len);
  }
  ssize_t r;
  {
    InsideTou inside;
    r = tou_recv(fd, buf, n, flags);
  }
  if (r >= 0 && addr != nullptr && len != nullptr) *len = 0;
  return r;
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return recvfrom(fd, buf, n, flags, nullptr, nullptr);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (msg == nullptr || !maybe_tou(fd)) return libc::recvmsg(fd, msg, flags);
  if ((flags & MSG_OOB) != 0) {
    return route(fd) == FdKind::kTou ? fail(EINVAL) : libc::recvmsg(fd, msg, flags);
  }
  void* name = msg->msg_name;
  msg->msg_name = nullptr;
  ssize_t r = libc::recvmsg(fd, msg, flags);
  msg->msg_name = name;
  if (name != nullptr) msg->msg_namelen = 0;
  return r == 0 ? end_of_stream(fd, msg) : r;
}

}  // extern "C"
