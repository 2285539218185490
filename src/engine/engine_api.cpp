// The engine's side of the socket calls: each runs on the program's thread
// with the engine lock held, and returns 0 or an errno value.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/high_fd.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {

constexpr int kUdpBufferBytes = 8 << 20;

ino_t inode_of(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

}  // namespace

int Engine::open_endpoint(int domain, const SocketOptions& opts, const SockAddr* bind_to,
                          Endpoint*& out, bool reuseport) {
  auto ep = std::make_unique<Endpoint>(this);
  if (int err = ep->sock.open(domain, opts.v6only); err != 0) return err;
  if (reuseport) {
    int one = 1;
    if (::setsockopt(ep->sock.fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return errno;
  }
  if (bind_to != nullptr) {
    if (int err = ep->sock.bind(*bind_to); err != 0) return err;
  }
  ep->sock.set_buffer_sizes(kUdpBufferBytes);
  enable_gro(ep->sock.fd());  // best effort: without it, datagrams arrive one by one
  ep->sock.local_address(ep->local);
  ep->wildcard = ep->local.is_wildcard();
  if (int err = loop_.add(ep->sock.fd(), kEndpointEvents, ep.get()); err != 0) return err;
  endpoints_.insert(ep.get());
  out = ep.release();
  return 0;
}

int Engine::open_socket(int domain, bool nonblock, bool cloexec, int& fd) {
  std::lock_guard g(mu_);
  int app = -1, eng = -1;
  if (int err = make_pair(nonblock, cloexec, app, eng); err != 0) return err;
  eng = move_high(eng);  // the program's end keeps the low number socket() returns
  auto s = std::make_unique<Socket>(this);
  s->domain = domain;
  s->local = SockAddr::any(domain);
  s->bridge.reset(eng);
  if (int err = loop_.add(eng, EPOLLIN | EPOLLRDHUP | EPOLLET, s.get()); err != 0) {
    ::close(app);
    return err;
  }
  s->ino = inode_of(app);
  sockets_[s->ino] = s.get();
  tombstones_.erase(s->ino);
  workers::record(s->ino, this);
  s->app_fd_hint = app;
  all_sockets_.insert(s.release());
  fd = app;
  return 0;
}

int Engine::bind(ino_t ino, const SockAddr& addr) {
  std::lock_guard g(mu_);
  Socket* s = find_socket(ino);
  if (s == nullptr)
    return find_listener(ino) != nullptr || tombstones_.contains(ino) ? EINVAL : ENOTSOCK;
  if (s->ep != nullptr || s->core) return EINVAL;
  if (addr.family() != s->domain) return EAFNOSUPPORT;
  reap_locked(addr);
  if (s->opts.reuseaddr) {
    // SO_REUSEADDR: take over a port whose listener closed while its
    // connections (or their TIME-WAIT) still use it.
    auto it = bound_.find(AddrKey::of(addr));
    if (it != bound_.end() && it->second->listener == nullptr && !it->second->connected) {
      s->ep = it->second;
      hold_endpoint(*s->ep);
      s->local = s->ep->local;
      s->phase = Socket::Phase::kBound;
      return 0;
    }
  }
  Endpoint* ep = nullptr;
  if (int err = open_endpoint(s->domain, s->opts, &addr, ep); err != 0) return err;
  ep->refs = 1;
  ep->bound_explicitly = true;
  bound_[AddrKey::of(ep->local)] = ep;
  s->ep = ep;
  s->local = ep->local;
  s->phase = Socket::Phase::kBound;
  return 0;
}

int Engine::listen(int fd, ino_t ino, int backlog) {
  std::lock_guard g(mu_);
  backlog = std::clamp(backlog, 1, kMaxBacklog);
  if (Listener* l = find_listener(ino)) {
    l->backlog = backlog;
    return 0;
  }
  Socket* s = find_socket(ino);
  if (s == nullptr) return tombstones_.contains(ino) ? EINVAL : ENOTSOCK;
  if (int err = listen_endpoint(*s); err != 0) return err;
  Endpoint& ep = *s->ep;
  auto owned = std::make_unique<Listener>(this);
  Listener& l = *owned;
  l.ino = ino;
  l.domain = s->domain;
  l.opts = s->opts;
  l.ep = &ep;  // takes the socket's reference
  l.backlog = backlog;
  if (ep.group != nullptr) share_group_counts(l, ep.group);
  l.efd = s->bridge.release();
  loop_.modify(l.efd, EPOLLRDHUP | EPOLLET, &l);
  ep.listener = &l;
  if (ep.wildcard) ep.sock.enable_pktinfo();
  s->ep = nullptr;
  sockets_.erase(ino);
  bury(*s);
  listeners_[ino] = owned.release();
  bind_name(fd, FdKind::kListener, ep.local, nullptr);
  return 0;
}

// The endpoint a socket listens on: its own, or an ephemeral port (as Linux
// binds one for listen() on an unbound socket).
int Engine::listen_endpoint(Socket& s) {
  if (s.core) return EINVAL;
  if (s.ep == nullptr) {
    SockAddr any = SockAddr::any(s.domain);
    Endpoint* ep = nullptr;
    if (int err = open_endpoint(s.domain, s.opts, &any, ep); err != 0) return err;
    ep->refs = 1;
    s.ep = ep;
    s.local = ep->local;
  }
  if (s.ep->listener != nullptr || s.ep->connected) return EADDRINUSE;
  return 0;
}

int Engine::connect(int fd, ino_t ino, const SockAddr& addr_in, bool nonblocking) {
  std::unique_lock lock(mu_);
  now_ = tick();
  Socket* s = find_socket(ino);
  if (s == nullptr) {
    if (find_listener(ino) != nullptr || tombstones_.contains(ino)) return EISCONN;
    return ENOTSOCK;
  }
  if (s->core) return s->phase == Socket::Phase::kConnecting ? EALREADY : EISCONN;
  if (addr_in.family() != s->domain) return EAFNOSUPPORT;
  SockAddr addr = addr_in;
  // As Linux: connecting to the wildcard address reaches this host.
  if (addr.is_wildcard()) addr = SockAddr::loopback(addr.family(), addr.port());
  if (addr.port() == 0) return ECONNREFUSED;
  uint16_t local_port = 0;  // the connection's TCP port
  if (s->ep == nullptr) {
    // Not bound: a client port shared with other connections.
    Endpoint* ep = nullptr;
    if (int err = shared_endpoint(*s, addr, ep, local_port); err != 0) {
      // No descriptor for a new port: the kernel's TCP needs none, and says
      // EADDRNOTAVAIL when it has no local port for a connection.
      return err == EMFILE || err == ENFILE ? EADDRNOTAVAIL : err;
    }
    ++ep->refs;
    s->ep = ep;
  } else if (s->ep->listener != nullptr || s->ep->connected || !s->ep->connections.empty() ||
             !s->ep->time_wait.empty() || s->ep->refs > 1) {
    return EADDRINUSE;
  } else {
    // Bound explicitly: its own UDP socket, connected to the peer.
    Endpoint& ep = *s->ep;
    if (int err = ep.sock.connect(addr); err != 0) return err;
    ep.connected = true;
    ep.sock.local_address(ep.local);
    ep.wildcard = false;
    local_port = ep.local.port();
  }
  Endpoint& ep = *s->ep;
  s->local = ep.local;
  s->local.set_port(local_port);
  s->remote = addr;
  s->key = ConnectionKey::of(addr, addr.port(), local_port);
  ep.connections.emplace(s->key, s);
  s->in_demux = true;
  s->core = make_core(s->opts, addr, ep.connected ? ep.sock.path_mtu() : path_mtu(addr));
  s->core->connect(now_, open_params(s->local, s->remote, s->key));
  s->phase = Socket::Phase::kConnecting;
  const SockAddr remote_name = s->remote_name();
  bind_name(fd, FdKind::kConnection, s->local_name(), &remote_name);
  // The SYN leaves from this thread (waking the I/O thread only to send it
  // cost a wake-up per connect); the I/O thread is woken for its timer only
  // when it would sleep past it.
  transmit(*s);
  flush_sends();
  reschedule(*s);
  wake_if_behind();

  if (nonblocking) {
    // The descriptor must not be writable until the handshake ends: fill its
    // send side past a quarter of SO_SNDBUF (AF_UNIX's writability mark) with
    // bytes the engine discards once the connection is established.
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    ::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    size_t filler = std::min(static_cast<size_t>(sndbuf) / 4 + 1, scratch_.size());
    std::fill_n(scratch_.begin(), filler, uint8_t{0});
    ssize_t n = ::send(fd, scratch_.data(), filler, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) s->bridge.set_filler(static_cast<size_t>(n));
    return EINPROGRESS;
  }

  // Blocking: wait for the handshake, bounded by SO_SNDTIMEO.
  timeval tv{};
  socklen_t tvlen = sizeof tv;
  ::getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tvlen);
  Duration timeout = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  Instant deadline = EventLoop::now() + timeout;
  for (;;) {
    s = find_socket(ino);
    if (s == nullptr) {
      // It failed; the tombstone holds why.
      auto t = tombstones_.find(ino);
      int err = t != tombstones_.end() && t->second.error != 0 ? t->second.error : ECONNREFUSED;
      if (t != tombstones_.end()) t->second.error = 0;
      return err;
    }
    if (s->phase == Socket::Phase::kOpen) return 0;
    if (timeout.count() > 0) {
      Duration left = deadline - EventLoop::now();
      if (left.count() <= 0) {
        s->core->abort(tick());  // the attempt is abandoned
        mark_dirty(*s);
        loop_.wake();
        return ETIMEDOUT;
      }
      cv_.wait_for(lock, left);
    } else {
      cv_.wait(lock);
    }
  }
}

int Engine::local_address(ino_t ino, SockAddr& out) {
  std::lock_guard g(mu_);
  if (Socket* s = find_socket(ino)) {
    out = s->local_name();
    return 0;
  }
  if (Listener* l = find_listener(ino)) {
    out = l->ep->local;
    return 0;
  }
  if (auto t = tombstones_.find(ino); t != tombstones_.end()) {
    out = t->second.local;
    return 0;
  }
  return ENOTSOCK;
}

int Engine::peer_address(ino_t ino, SockAddr& out) {
  std::lock_guard g(mu_);
  if (Socket* s = find_socket(ino)) {
    if (s->phase != Socket::Phase::kOpen) return ENOTCONN;
    out = s->remote_name();
    return 0;
  }
  if (find_listener(ino) != nullptr || tombstones_.contains(ino)) return ENOTCONN;
  return ENOTSOCK;
}

int Engine::take_tombstone_error(Tombstone& t, int fd) {
  int err = std::exchange(t.error, 0);
  if (!std::exchange(t.error_in_pair, false)) return err;
  // Linux reports a reset once (sock_error clears sk_err), to whichever call
  // comes first: a plain read() of the pair may have taken it already.
  int pending = 0;
  socklen_t len = sizeof pending;
  // A raw system call: an LD_PRELOAD shim would route getsockopt() back here.
  if (fd < 0 || ::syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &pending, &len) != 0)
    return err;
  return pending;
}

int Engine::take_error(int fd, ino_t ino) {
  std::lock_guard g(mu_);
  if (Socket* s = find_socket(ino)) return std::exchange(s->error, 0);
  if (auto t = tombstones_.find(ino); t != tombstones_.end())
    return take_tombstone_error(t->second, fd);
  return 0;
}

size_t Engine::read_held(ino_t ino, void* buf, size_t len, bool peek) {
  std::lock_guard g(mu_);
  Socket* s = find_socket(ino);
  if (s == nullptr || !s->core || !s->bridge.app_read_shut()) return 0;
  Connection& c = *s->core;
  size_t n = 0;
  for (std::span<const uint8_t> span : c.recv_spans()) {
    size_t take = std::min(span.size(), len - n);
    if (take == 0) continue;  // an empty span may have no data pointer
    std::memcpy(static_cast<uint8_t*>(buf) + n, span.data(), take);
    n += take;
  }
  if (peek || n == 0) return n;
  now_ = tick();
  c.recv_consume(now_, n);
  // The I/O thread sends the window update.
  mark_dirty(*s);
  loop_.wake();
  return n;
}

bool Engine::is_listener(ino_t ino) {
  std::lock_guard g(mu_);
  if (find_listener(ino) != nullptr) return true;
  auto t = tombstones_.find(ino);
  return t != tombstones_.end() && t->second.listener;
}

bool Engine::knows(ino_t ino) {
  std::lock_guard g(mu_);
  return sockets_.contains(ino) || listeners_.contains(ino) || tombstones_.contains(ino);
}

bool Engine::has_connection(ino_t ino) {
  std::lock_guard g(mu_);
  if (Socket* s = find_socket(ino)) return s->core != nullptr;
  auto t = tombstones_.find(ino);
  return t != tombstones_.end() && !t->second.listener;
}

void Engine::linger_before_close(ino_t ino) {
  std::unique_lock lock(mu_);
  Socket* s = find_socket(ino);
  if (s == nullptr || !s->opts.linger || s->opts.linger_s <= 0 || !s->core) return;
  Instant deadline = EventLoop::now() + std::chrono::seconds(s->opts.linger_s);
  for (;;) {
    s = find_socket(ino);
    if (s == nullptr || !s->core || !s->bridge.open()) return;
    if (s->bridge.unpulled() == 0 && s->core->send_queued() == 0) return;
    if (EventLoop::now() >= deadline) return;
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

void Engine::note_read_shutdown(ino_t ino) {
  std::lock_guard g(mu_);
  if (Socket* s = find_socket(ino)) s->read_shut_by_call = true;
}

}  // namespace tou::engine
