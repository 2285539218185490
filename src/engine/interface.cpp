// interface.hpp: the calls of the socket API and the shim, routed to the
// engine that serves the socket.
#include "engine/interface.hpp"

#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "engine/engine.hpp"
#include "engine/option_relay.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {

// The worker that serves the socket `ino` (its calls answer ENOTSOCK, or
// false, for a socket it has forgotten since).
Engine* serving(ino_t ino) {
  return workers::owner(ino);
}

}  // namespace

int socket_open(int domain, bool nonblock, bool cloexec, int& fd) {
  if (int err = workers::start(); err != 0) return err;
  install_option_relay();  // for this process's fork children
  Engine* e = workers::next();
  return e != nullptr ? e->open_socket(domain, nonblock, cloexec, fd) : ENOMEM;
}

bool serves(ino_t ino) {
  Engine* e = serving(ino);
  return e != nullptr && e->knows(ino);
}

int socket_bind(ino_t ino, const SockAddr& addr) {
  Engine* e = serving(ino);
  return e != nullptr ? bind_on_workers(e, ino, addr) : ENOTSOCK;
}

int socket_listen(int fd, ino_t ino, int backlog) {
  Engine* e = serving(ino);
  return e != nullptr ? listen_on_workers(*e, fd, ino, backlog) : ENOTSOCK;
}

int socket_connect(int fd, ino_t ino, const SockAddr& addr, bool nonblocking) {
  Engine* e = serving(ino);
  return e != nullptr ? e->connect(fd, ino, addr, nonblocking) : ENOTSOCK;
}

int socket_local_address(ino_t ino, SockAddr& out) {
  Engine* e = serving(ino);
  return e != nullptr ? e->local_address(ino, out) : ENOTSOCK;
}

int socket_peer_address(ino_t ino, SockAddr& out) {
  Engine* e = serving(ino);
  return e != nullptr ? e->peer_address(ino, out) : ENOTSOCK;
}

int socket_set_option(int fd, ino_t ino, int level, int name, const void* value, socklen_t len) {
  Engine* e = serving(ino);
  if (e == nullptr) return ENOTSOCK;
  int err = e->set_option(fd, ino, level, name, value, len);
  if (err == 0) share_listener_options(*e, ino);
  return err;
}

int socket_get_option(int fd, ino_t ino, int level, int name, void* value, socklen_t* len) {
  Engine* e = serving(ino);
  if (e == nullptr) return ENOTSOCK;
  int err = e->get_option(fd, ino, level, name, value, len);
  if (err == 0 && level == SOL_TOU && name == TOU_LISTENER_INFO &&
      *len == static_cast<socklen_t>(sizeof(tou_listener_info))) {
    tou_listener_info info;
    std::memcpy(&info, value, sizeof info);
    add_group_listener_stats(*e, ino, info);
    std::memcpy(value, &info, sizeof info);
  }
  return err;
}

int socket_take_error(int fd, ino_t ino) {
  Engine* e = serving(ino);
  return e != nullptr ? e->take_error(fd, ino) : 0;
}

namespace {
thread_local int t_inline_write_fd = -1;  // socket_answer_awaited_here()
}  // namespace

bool socket_answer_awaited_here(int fd) {
  const bool awaited = t_inline_write_fd == fd;
  t_inline_write_fd = -1;
  return awaited;
}

ssize_t socket_send_inline(int fd, const iovec* iov, int count, int flags) {
  constexpr int kInlineFlags = MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE;
  if ((flags & ~kInlineFlags) != 0 || count <= 0 || count > IOV_MAX) return -1;
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  if (total == 0 || total > kMaxInlineWrite) return -1;
  // The inode names the socket; the registry knows only this process's
  // sockets (another process's, or another kind of descriptor: the pair).
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return -1;
  Engine* e = serving(st.st_ino);
  if (e == nullptr) return -1;
  int saved = errno;
  ssize_t n = e->send_inline(st.st_ino, iov, count, total);
  errno = saved;
  if (n >= 0) t_inline_write_fd = fd;
  return n;
}

void socket_receive_inline(int fd) {
  int saved = errno;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (Engine* e = serving(st.st_ino)) e->receive_inline(st.st_ino, fd);
  }
  errno = saved;
}

size_t socket_read_held(ino_t ino, void* buf, size_t len, bool peek) {
  Engine* e = serving(ino);
  return e != nullptr ? e->read_held(ino, buf, len, peek) : 0;
}

bool socket_is_listener(ino_t ino) {
  Engine* e = serving(ino);
  return e != nullptr && e->is_listener(ino);
}

bool socket_has_connection(ino_t ino) {
  Engine* e = serving(ino);
  return e != nullptr && e->has_connection(ino);
}

void socket_linger_before_close(ino_t ino) {
  if (Engine* e = serving(ino); e != nullptr) e->linger_before_close(ino);
}

void socket_note_read_shutdown(ino_t ino) {
  if (Engine* e = serving(ino); e != nullptr) e->note_read_shutdown(ino);
}

int set_workers(int n) {
  return workers::set_wanted(n);
}

int worker_count() {
  return workers::count();
}

int worker_of(ino_t ino) {
  Engine* e = serving(ino);
  return e != nullptr && e->knows(ino) ? e->index() : -1;
}

}  // namespace tou::engine
