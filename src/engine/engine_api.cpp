// The engine's side of the socket calls: each runs on the program's thread
// with the engine lock held, and returns 0 or an errno value.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "cc/congestion_controller.hpp"
#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/high_fd.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {

constexpr int kUdpBufferBytes = 8 << 20;

int read_int(const void* value, socklen_t len, int& out) {
  if (value == nullptr) return EFAULT;
  if (len < static_cast<socklen_t>(sizeof(int))) return EINVAL;
  std::memcpy(&out, value, sizeof(int));
  return 0;
}

// BSD getsockopt: copy at most *len bytes of the value, report how many.
int write_value(void* value, socklen_t* len, const void* src, size_t size) {
  if (value == nullptr || len == nullptr) return EFAULT;
  if (static_cast<int>(*len) < 0) return EINVAL;
  size_t n = std::min<size_t>(*len, size);
  std::memcpy(value, src, n);
  *len = static_cast<socklen_t>(n);
  return 0;
}

int write_int(void* value, socklen_t* len, int v) {
  return write_value(value, len, &v, sizeof v);
}

uint8_t state_number(TcpState s) {
  switch (s) {
    case TcpState::kEstablished:
      return TOU_STATE_ESTABLISHED;
    case TcpState::kSynSent:
      return TOU_STATE_SYN_SENT;
    case TcpState::kSynReceived:
      return TOU_STATE_SYN_RECEIVED;
    case TcpState::kFinWait1:
      return TOU_STATE_FIN_WAIT_1;
    case TcpState::kFinWait2:
      return TOU_STATE_FIN_WAIT_2;
    case TcpState::kTimeWait:
      return TOU_STATE_TIME_WAIT;
    case TcpState::kClosed:
      return TOU_STATE_CLOSED;
    case TcpState::kCloseWait:
      return TOU_STATE_CLOSE_WAIT;
    case TcpState::kLastAck:
      return TOU_STATE_LAST_ACK;
    case TcpState::kListen:
      return TOU_STATE_LISTEN;
    case TcpState::kClosing:
      return TOU_STATE_CLOSING;
  }
  return TOU_STATE_CLOSED;
}

ino_t inode_of(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

uint32_t to_u32_us(Duration d) {
  return static_cast<uint32_t>(std::clamp<int64_t>(d.count(), 0, UINT32_MAX));
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
  if (int err = loop_.add(ep->sock.fd(), EPOLLIN | EPOLLET, ep.get()); err != 0) return err;
  endpoints_.insert(ep.get());
  out = ep.release();
  return 0;
}

int Engine::open_socket(int domain, bool nonblock, bool cloexec, int& fd) {
  std::lock_guard g(mu_);
  int app = -1, eng = -1;
  if (int err = make_pair(nonblock, cloexec, app, eng); err != 0) return err;
  eng = move_high(eng);  // the program's end keeps the low number socket() returns
  auto s = std::make_unique<Stream>(this);
  s->domain = domain;
  s->local = SockAddr::any(domain);
  s->bridge.reset(eng);
  if (int err = loop_.add(eng, EPOLLIN | EPOLLRDHUP | EPOLLET, s.get()); err != 0) {
    ::close(app);
    return err;
  }
  s->ino = inode_of(app);
  streams_[s->ino] = s.get();
  tombstones_.erase(s->ino);
  workers::record(s->ino, this);
  s->app_fd_hint = app;
  all_streams_.insert(s.release());
  fd = app;
  return 0;
}

int Engine::bind(ino_t ino, const SockAddr& addr) {
  std::lock_guard g(mu_);
  Stream* s = find_stream(ino);
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
      s->phase = Stream::Phase::kBound;
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
  s->phase = Stream::Phase::kBound;
  return 0;
}

int Engine::listen(int fd, ino_t ino, int backlog) {
  std::lock_guard g(mu_);
  backlog = std::clamp(backlog, 1, kMaxBacklog);
  if (Listener* l = find_listener(ino)) {
    l->backlog = backlog;
    return 0;
  }
  Stream* s = find_stream(ino);
  if (s == nullptr) return tombstones_.contains(ino) ? EINVAL : ENOTSOCK;
  if (int err = listen_endpoint(*s); err != 0) return err;
  Endpoint& ep = *s->ep;
  auto owned = std::make_unique<Listener>(this);
  Listener& l = *owned;
  l.ino = ino;
  l.domain = s->domain;
  l.opts = s->opts;
  l.ep = &ep;  // takes the stream's reference
  l.backlog = backlog;
  if (ep.group != nullptr) share_group_counts(l, ep.group);
  l.efd = s->bridge.release();
  loop_.modify(l.efd, EPOLLRDHUP | EPOLLET, &l);
  ep.listener = &l;
  if (ep.wildcard) ep.sock.enable_pktinfo();
  s->ep = nullptr;
  streams_.erase(ino);
  bury(*s);
  listeners_[ino] = owned.release();
  bind_name(fd, FdKind::kListener, ep.local, nullptr);
  return 0;
}

// The endpoint a socket listens on: its own, or an ephemeral port (as Linux
// binds one for listen() on an unbound socket).
int Engine::listen_endpoint(Stream& s) {
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
  Stream* s = find_stream(ino);
  if (s == nullptr) {
    if (find_listener(ino) != nullptr || tombstones_.contains(ino)) return EISCONN;
    return ENOTSOCK;
  }
  if (s->core) return s->phase == Stream::Phase::kConnecting ? EALREADY : EISCONN;
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
  } else if (s->ep->listener != nullptr || s->ep->connected || !s->ep->flows.empty() ||
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
  s->key = FlowKey::of(addr, addr.port(), local_port);
  ep.flows.emplace(s->key, s);
  s->in_flows = true;
  s->core = make_core(s->opts, addr, ep.connected ? ep.sock.path_mtu() : path_mtu(addr));
  s->core->connect(now_, open_params(s->local, s->remote, s->key));
  s->phase = Stream::Phase::kConnecting;
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
    s = find_stream(ino);
    if (s == nullptr) {
      // It failed; the tombstone holds why.
      auto t = tombstones_.find(ino);
      int err = t != tombstones_.end() && t->second.error != 0 ? t->second.error : ECONNREFUSED;
      if (t != tombstones_.end()) t->second.error = 0;
      return err;
    }
    if (s->phase == Stream::Phase::kOpen) return 0;
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
  if (Stream* s = find_stream(ino)) {
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
  if (Stream* s = find_stream(ino)) {
    if (s->phase != Stream::Phase::kOpen) return ENOTCONN;
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
  if (Stream* s = find_stream(ino)) return std::exchange(s->error, 0);
  if (auto t = tombstones_.find(ino); t != tombstones_.end())
    return take_tombstone_error(t->second, fd);
  return 0;
}

size_t Engine::read_held(ino_t ino, void* buf, size_t len, bool peek) {
  std::lock_guard g(mu_);
  Stream* s = find_stream(ino);
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
  return streams_.contains(ino) || listeners_.contains(ino) || tombstones_.contains(ino);
}

bool Engine::has_connection(ino_t ino) {
  std::lock_guard g(mu_);
  if (Stream* s = find_stream(ino)) return s->core != nullptr;
  auto t = tombstones_.find(ino);
  return t != tombstones_.end() && !t->second.listener;
}

void Engine::linger_before_close(ino_t ino) {
  std::unique_lock lock(mu_);
  Stream* s = find_stream(ino);
  if (s == nullptr || !s->opts.linger || s->opts.linger_s <= 0 || !s->core) return;
  Instant deadline = EventLoop::now() + std::chrono::seconds(s->opts.linger_s);
  for (;;) {
    s = find_stream(ino);
    if (s == nullptr || !s->core || !s->bridge.open()) return;
    if (s->bridge.unpulled() == 0 && s->core->send_queued() == 0) return;
    if (EventLoop::now() >= deadline) return;
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

void Engine::note_read_shutdown(ino_t ino) {
  std::lock_guard g(mu_);
  if (Stream* s = find_stream(ino)) s->read_shut_by_call = true;
}

int Engine::get_connection_info(Stream* s, tou_info& out) {
  out = tou_info{};
  out.state = TOU_STATE_CLOSED;
  if (s == nullptr || !s->core) return 0;
  ConnectionInfo i = s->core->info();
  out.state = state_number(i.state);
  out.snd_wscale = i.snd_wscale;
  out.rcv_wscale = i.rcv_wscale;
  out.options =
      static_cast<uint8_t>((i.sack ? TOU_OPT_SACK : 0) | (i.timestamps ? TOU_OPT_TIMESTAMPS : 0));
  out.rtt_us = to_u32_us(i.srtt);
  out.rttvar_us = to_u32_us(i.rttvar);
  out.min_rtt_us = to_u32_us(i.min_rtt);
  out.rto_us = to_u32_us(i.rto);
  out.snd_mss = i.snd_mss;
  out.rcv_mss = i.rcv_mss;
  out.cwnd = i.cwnd;
  out.ssthresh = i.ssthresh;
  out.flight_size = i.flight_size;
  out.snd_wnd = i.snd_wnd;
  out.rcv_wnd = i.rcv_wnd;
  out.in_recovery = i.in_recovery ? 1 : 0;
  const ConnectionStats& st = i.stats;
  out.bytes_sent = st.bytes_sent;
  out.bytes_retransmitted = st.bytes_retransmitted;
  out.bytes_received = st.bytes_received;
  out.bytes_acked = st.bytes_acked;
  out.segments_sent = st.segments_sent;
  out.segments_received = st.segments_received;
  out.segments_lost = st.retransmitted_segments;
  out.reordering = st.out_of_order_segments;
  out.rto_timeouts = st.rto_timeouts;
  out.fast_recoveries = st.fast_recoveries;
  out.dropped_malformed = st.dropped_malformed_total();
  out.pmtu = i.pmtu;
  out.pmtud_state = static_cast<uint32_t>(i.pmtud_state);  // same numbering as TOU_PMTUD_*
  out.pmtu_probes_sent = i.pmtud.probes_sent;
  out.pmtu_probes_acked = i.pmtud.probes_acked;
  out.pmtu_probes_lost = i.pmtud.probes_lost;
  out.pmtu_ptb_accepted = i.pmtud.ptb_accepted;
  out.pmtu_ptb_rejected = i.pmtud.ptb_rejected;
  out.pmtu_black_holes = i.pmtud.black_holes;
  out.inline_writes = s->inline_writes;
  return 0;
}

int Engine::get_listener_info(Listener* l, tou_listener_info& out) {
  out = tou_listener_info{};
  if (l == nullptr) return EINVAL;
  const EndpointStats& st = l->ep->stats;
  out.datagrams_received = st.datagrams_received;
  out.malformed = st.malformed;
  out.syn_received = st.syn_received;
  out.syn_dropped = st.syn_dropped;
  out.resets_sent = st.resets_sent;
  out.handed_over = l->handed_over;
  out.half_open = static_cast<uint32_t>(l->half_open);
  out.syn_cookies_sent = st.syn_cookies_sent;
  out.syn_cookies_validated = st.syn_cookies_validated;
  out.syn_cookies_rejected = st.syn_cookies_rejected;
  out.half_open_evicted = st.half_open_evicted;
  out.accept_overflows = st.accept_overflows;
  out.resets_suppressed = st.resets_suppressed;
  out.time_wait_acks_suppressed = st.time_wait_acks_suppressed;
  out.accept_queue = static_cast<uint32_t>(accept_queue(*l) + static_cast<int>(l->ready.size()));
  return 0;
}

void Engine::apply_live(Stream* s, int level, int name) {
  if (s == nullptr || !s->core) return;
  settle_views(*s);  // SO_SNDBUF may reallocate the send buffer
  Connection& c = *s->core;
  const SocketOptions& o = s->opts;
  now_ = tick();
  auto keepalive = [&] {
    c.set_keepalive(now_, o.keepalive, std::chrono::seconds(o.keepidle_s),
                    std::chrono::seconds(o.keepintvl_s), o.keepcnt);
  };
  if (level == SOL_SOCKET) {
    if (name == SO_RCVBUF) c.set_receive_buffer_limit(o.receive_buffer);
    if (name == SO_SNDBUF) c.set_send_buffer_limit(o.send_buffer);
    if (name == SO_KEEPALIVE) keepalive();
  } else if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        c.set_nodelay(o.nodelay);
        break;
      case TCP_MAXSEG:
        c.set_mss_limit(static_cast<uint16_t>(o.maxseg));
        break;
      case TCP_USER_TIMEOUT:
        c.set_user_timeout(now_, std::chrono::milliseconds(o.user_timeout_ms));
        break;
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
      case TCP_KEEPCNT:
        keepalive();
        break;
      case TCP_CONGESTION:
        c.set_congestion_control(o.congestion);
        break;
      default:
        break;
    }
  }
  // The I/O thread sends what changed (a window update, queued segments) and
  // re-arms the connection's timer from its new deadline.
  mark_dirty(*s);
  loop_.wake();
}

int Engine::set_option(int fd, ino_t ino, int level, int name, const void* value, socklen_t len) {
  (void)fd;
  std::lock_guard g(mu_);
  Stream* s = find_stream(ino);
  Listener* l = s == nullptr ? find_listener(ino) : nullptr;
  if (s == nullptr && l == nullptr && !tombstones_.contains(ino)) return ENOTSOCK;
  SocketOptions ignored;  // a socket whose connection is gone keeps no options
  SocketOptions& o = s != nullptr ? s->opts : l != nullptr ? l->opts : ignored;
  int domain = s != nullptr ? s->domain : l != nullptr ? l->domain : AF_INET;
  int v = 0;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVBUF:
      case SO_SNDBUF: {
        if (int err = read_int(value, len, v); err != 0) return err;
        size_t bytes = std::clamp<int64_t>(v, static_cast<int64_t>(kMinBuffer),
                                           static_cast<int64_t>(kMaxBuffer));
        (name == SO_RCVBUF ? o.receive_buffer : o.send_buffer) = bytes;
        if (name == SO_RCVBUF && (s == nullptr || !s->core)) o.receive_buffer_locked = true;
        if (name == SO_SNDBUF) o.send_buffer_locked = true;
        if (name == SO_RCVBUF && s != nullptr && s->bridge.open()) {
          // What the pair holds counts against SO_RCVBUF too (bridge.hpp).
          size_pair(s->bridge.fd(), receive_split(bytes, true).pair_bytes);
        }
        apply_live(s, level, name);
        return 0;
      }
      case SO_KEEPALIVE:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.keepalive = v != 0;
        apply_live(s, level, name);
        return 0;
      case SO_REUSEADDR:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.reuseaddr = v != 0;
        return 0;
      case SO_LINGER: {
        if (value == nullptr) return EFAULT;
        if (len < static_cast<socklen_t>(sizeof(linger))) return EINVAL;
        linger lg;
        std::memcpy(&lg, value, sizeof lg);
        o.linger = lg.l_onoff != 0;
        o.linger_s = std::max(0, lg.l_linger);
        return 0;
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.nodelay = v != 0;
        apply_live(s, level, name);  // queued small segments may go now
        return 0;
      case TCP_MAXSEG:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v != 0 && (v < 64 || v > 65535)) return EINVAL;
        o.maxseg = v;
        apply_live(s, level, name);
        return 0;
      case TCP_USER_TIMEOUT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 0) return EINVAL;
        o.user_timeout_ms = static_cast<unsigned>(v);
        apply_live(s, level, name);
        return 0;
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 32767) return EINVAL;
        (name == TCP_KEEPIDLE ? o.keepidle_s : o.keepintvl_s) = v;
        apply_live(s, level, name);
        return 0;
      case TCP_KEEPCNT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 127) return EINVAL;
        o.keepcnt = v;
        apply_live(s, level, name);
        return 0;
      case TCP_SYNCNT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 127) return EINVAL;
        o.syn_retries = v;
        return 0;
      case TCP_CONGESTION: {
        if (value == nullptr) return EFAULT;
        std::string wanted(static_cast<const char*>(value),
                           strnlen(static_cast<const char*>(value), static_cast<size_t>(len)));
        for (std::string_view known : congestion_controller_names()) {
          if (known == wanted) {
            o.congestion = wanted;
            apply_live(s, level, name);
            return 0;
          }
        }
        return ENOENT;  // as Linux for an unknown algorithm
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == SOL_TOU && name == TOU_SYNCOOKIES) {
    if (int err = read_int(value, len, v); err != 0) return err;
    if (v < 0 || v > 2) return EINVAL;
    o.syncookies = v;
    return 0;
  }
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    if (domain != AF_INET6) return ENOPROTOOPT;
    if (int err = read_int(value, len, v); err != 0) return err;
    if (s == nullptr || s->ep != nullptr) return EINVAL;  // before bind only
    o.v6only = v != 0 ? 1 : 0;
    return 0;
  }
  return ENOPROTOOPT;
}

int Engine::get_option(int fd, ino_t ino, int level, int name, void* value, socklen_t* len) {
  if (value == nullptr || len == nullptr) return EFAULT;
  std::lock_guard g(mu_);
  Stream* s = find_stream(ino);
  Listener* l = s == nullptr ? find_listener(ino) : nullptr;
  auto tomb = tombstones_.find(ino);
  if (s == nullptr && l == nullptr && tomb == tombstones_.end()) return ENOTSOCK;
  SocketOptions defaults;
  const SocketOptions& o = s != nullptr ? s->opts : l != nullptr ? l->opts : defaults;
  int domain = s != nullptr ? s->domain : l != nullptr ? l->domain : tomb->second.local.family();
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_ERROR: {
        int err = 0;
        if (s != nullptr) {
          err = std::exchange(s->error, 0);
        } else if (l == nullptr) {
          err = take_tombstone_error(tomb->second, fd);
        }
        return write_int(value, len, err);
      }
      case SO_TYPE:
        return write_int(value, len, SOCK_STREAM);
      case SO_DOMAIN:
        return write_int(value, len, domain);
      case SO_PROTOCOL:
        return write_int(value, len, IPPROTO_TCP);
      case SO_ACCEPTCONN:
        return write_int(value, len, l != nullptr ? 1 : 0);
      case SO_RCVBUF:
        return write_int(value, len, static_cast<int>(o.receive_buffer));
      case SO_SNDBUF:
        return write_int(value, len, static_cast<int>(o.send_buffer));
      case SO_KEEPALIVE:
        return write_int(value, len, o.keepalive ? 1 : 0);
      case SO_REUSEADDR:
        return write_int(value, len, o.reuseaddr ? 1 : 0);
      case SO_LINGER: {
        linger lg{o.linger ? 1 : 0, o.linger_s};
        return write_value(value, len, &lg, sizeof lg);
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        return write_int(value, len, o.nodelay ? 1 : 0);
      case TCP_MAXSEG: {
        // Linux: the MSS in use once connected, else the user's value or 536.
        int mss = o.maxseg != 0 ? o.maxseg : 536;
        if (s != nullptr && s->core && is_synchronized(s->core->state()))
          mss = s->core->info().snd_mss;
        return write_int(value, len, mss);
      }
      case TCP_USER_TIMEOUT:
        return write_int(value, len, static_cast<int>(o.user_timeout_ms));
      case TCP_KEEPIDLE:
        return write_int(value, len, o.keepidle_s);
      case TCP_KEEPINTVL:
        return write_int(value, len, o.keepintvl_s);
      case TCP_KEEPCNT:
        return write_int(value, len, o.keepcnt);
      case TCP_SYNCNT:
        return write_int(value, len, o.syn_retries);
      case TCP_CONGESTION: {
        char name_buf[16] = {};
        std::memcpy(name_buf, o.congestion.data(),
                    std::min(o.congestion.size(), sizeof name_buf - 1));
        return write_value(value, len, name_buf, sizeof name_buf);
      }
      case TCP_INFO: {
        tou_info info;
        get_connection_info(s, info);
        if (s == nullptr && l == nullptr && tomb->second.info) info = *tomb->second.info;
        return write_value(value, len, &info, sizeof info);
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    if (domain != AF_INET6) return ENOPROTOOPT;
    int v = o.v6only;
    if (v < 0) {
      // The system default, net.ipv6.bindv6only.
      v = 0;
      if (int f = ::open("/proc/sys/net/ipv6/bindv6only", O_RDONLY | O_CLOEXEC); f >= 0) {
        char c = '0';
        if (::read(f, &c, 1) == 1) v = c == '1';
        ::close(f);
      }
    }
    return write_int(value, len, v);
  }
  if (level == SOL_TOU && name == TOU_SYNCOOKIES) return write_int(value, len, o.syncookies);
  if (level == SOL_TOU && name == TOU_LISTENER_INFO) {
    tou_listener_info info;
    if (int err = get_listener_info(l, info); err != 0) return err;
    return write_value(value, len, &info, sizeof info);
  }
  return ENOPROTOOPT;
}

}  // namespace tou::engine
