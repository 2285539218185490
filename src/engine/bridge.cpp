#include "engine/bridge.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/cmsg.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace tou::engine {

namespace {
// The pair of a socket whose SO_RCVBUF the program did not set (SO_SNDBUF
// 1 MiB, which the kernel doubles).
constexpr size_t kDeepPair = 2 << 20;
// Linux doubles SO_SNDBUF and charges an AF_UNIX stream's bytes at their
// buffers' true size, a little above the bytes: asking for a quarter of what
// should be held keeps the pair near half of it.
constexpr size_t kPairChargeFactor = 2;
constexpr size_t kPairSlack = 64 * 1024;
constexpr size_t kPairMarginDivisor = 16;  // the pair's margin above half of SO_RCVBUF
}  // namespace

ReceiveSplit receive_split(size_t rcvbuf, bool locked) {
  if (!locked) return {rcvbuf, kDeepPair};
  // Half the buffer is the step by which the core reopens its window (RFC
  // 9293 3.8.6.2.2, min(RCV.BUFF / 2, MSS)): the pair takes a little more, so
  // that handing half on to it reopens the window even before the program reads.
  return {rcvbuf, rcvbuf / 2 + rcvbuf / kPairMarginDivisor};
}

void size_pair(int engine_fd, size_t bytes) {
  // Best effort, capped by net.core.wmem_max; the kernel's minimum (about
  // 4.5 KiB) bounds it from below.
  int sndbuf = static_cast<int>(std::min<size_t>(bytes / kPairChargeFactor, INT32_MAX));
  ::setsockopt(engine_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

int make_pair(bool app_nonblock, bool app_cloexec, int& app_fd, int& engine_fd) {
  int sv[2];
  // Both ends close-on-exec from the start (a concurrent fork+exec must not
  // inherit the engine's end); the program's end is relaxed below if asked.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno;
  if (::fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0 ||
      (app_nonblock && ::fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) ||
      (!app_cloexec && ::fcntl(sv[0], F_SETFD, 0) != 0)) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return err;
  }
  // A deeper pair toward the program: fewer wake-ups of both sides per byte
  // received (bulk +~30% here). SO_RCVBUF resizes it (size_pair).
  size_pair(sv[1], kDeepPair);
  app_fd = sv[0];
  engine_fd = sv[1];
  return 0;
}

// --- Names ---

namespace {

// "\0tou" + version + kind + pid (4) + serial (8) + local key (20) + remote key (20).
constexpr size_t kNameSize = 4 + 1 + 1 + 4 + 8 + 20 + 20;
constexpr uint8_t kNameVersion = 1;

uint64_t next_serial() {
  static std::atomic<uint64_t> serial{[] {
    uint64_t base;
    randombytes_buf(&base, sizeof base);
    return base;
  }()};
  return serial.fetch_add(1, std::memory_order_relaxed);
}

SockAddr from_key(const engine::AddrKey& k) {
  int family = k.bytes[0];
  if (family != AF_INET && family != AF_INET6) return SockAddr{};
  SockAddr a = SockAddr::any(family);
  a.set_port(static_cast<uint16_t>(k.bytes[1] << 8 | k.bytes[2]));
  if (family == AF_INET6) {
    std::memcpy(reinterpret_cast<sockaddr_in6*>(a.get())->sin6_addr.s6_addr, k.bytes.data() + 4,
                16);
  } else {
    std::memcpy(&reinterpret_cast<sockaddr_in*>(a.get())->sin_addr, k.bytes.data() + 4, 4);
  }
  return a;
}

}  // namespace

void bind_name(int app_fd, FdKind kind, const SockAddr& local, const SockAddr* remote) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto* p = reinterpret_cast<uint8_t*>(un.sun_path);
  std::memcpy(p, "\0tou", 4);
  p[4] = kNameVersion;
  p[5] = static_cast<uint8_t>(kind);
  uint32_t pid = static_cast<uint32_t>(::getpid());
  std::memcpy(p + 6, &pid, 4);
  uint64_t serial = next_serial();
  std::memcpy(p + 10, &serial, 8);
  engine::AddrKey l = engine::AddrKey::of(local);
  std::memcpy(p + 18, l.bytes.data(), 20);
  if (remote != nullptr) {
    engine::AddrKey r = engine::AddrKey::of(*remote);
    std::memcpy(p + 38, r.bytes.data(), 20);
  }
  // Failure (a name clash, or already named) only loses the cross-process view.
  ::bind(app_fd, reinterpret_cast<sockaddr*>(&un),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + kNameSize));
}

FdName read_name(int fd) {
  FdName name;
  sockaddr_un un{};
  socklen_t len = sizeof un;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&un), &len) != 0) return name;
  if (un.sun_family != AF_UNIX || len != offsetof(sockaddr_un, sun_path) + kNameSize) return name;
  const auto* p = reinterpret_cast<const uint8_t*>(un.sun_path);
  if (std::memcmp(p, "\0tou", 4) != 0 || p[4] != kNameVersion) return name;
  if (p[5] != static_cast<uint8_t>(FdKind::kListener) &&
      p[5] != static_cast<uint8_t>(FdKind::kConnection)) {
    return name;
  }
  engine::AddrKey l, r;
  std::memcpy(l.bytes.data(), p + 18, 20);
  std::memcpy(r.bytes.data(), p + 38, 20);
  name.kind = static_cast<FdKind>(p[5]);
  std::memcpy(&name.pid, p + 6, 4);
  name.local = from_key(l);
  name.remote = from_key(r);
  return name;
}

// --- Accept records ---

namespace {

constexpr uint32_t kRecordMagic = 0x746f7541;  // "Aout"

struct AcceptRecord {
  uint32_t magic;
  uint32_t local_len;
  uint32_t peer_len;
  uint8_t local[sizeof(sockaddr_in6)];
  uint8_t peer[sizeof(sockaddr_in6)];
};

}  // namespace

int send_accept(int listener_engine_fd, int conn_app_fd, const SockAddr& local,
                const SockAddr& peer) {
  AcceptRecord rec{};
  rec.magic = kRecordMagic;
  rec.local_len = std::min<uint32_t>(local.size(), sizeof rec.local);
  rec.peer_len = std::min<uint32_t>(peer.size(), sizeof rec.peer);
  std::memcpy(rec.local, local.get(), rec.local_len);
  std::memcpy(rec.peer, peer.get(), rec.peer_len);
  iovec iov{&rec, sizeof rec};
  alignas(cmsghdr) uint8_t control[engine::kCmsgSpace<int>];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  engine::put_cmsg(msg, control, SOL_SOCKET, SCM_RIGHTS, conn_app_fd);
  for (;;) {
    ssize_t n = ::sendmsg(listener_engine_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof rec)) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno : EIO;
  }
}

int recv_accept(int listen_fd, bool cloexec, int& fd, SockAddr& local, SockAddr& peer) {
  AcceptRecord rec{};
  iovec iov{&rec, sizeof rec};
  alignas(cmsghdr) uint8_t control[engine::kCmsgSpace<int>] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  // With no descriptor free the kernel would drop the passed one (MSG_CTRUNC)
  // and the connection with it; accept() fails with EMFILE instead and the
  // connection stays queued, as with a kernel's TCP.
  int probe = ::fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
  if (probe < 0) return errno == EMFILE ? EMFILE : errno;
  ::close(probe);
  ssize_t n = ::recvmsg(listen_fd, &msg, cloexec ? MSG_CMSG_CLOEXEC : 0);
  if (n < 0) return errno == ECONNRESET || errno == EPIPE ? EINVAL : errno;
  int got = engine::find_cmsg<int>(msg, SOL_SOCKET, SCM_RIGHTS).value_or(-1);
  if (n == 0) return EINVAL;  // the engine closed the listener
  if (n != static_cast<ssize_t>(sizeof rec) || rec.magic != kRecordMagic) {
    if (got >= 0) ::close(got);
    return EINVAL;
  }
  if (got < 0) return (msg.msg_flags & MSG_CTRUNC) ? EMFILE : EINVAL;
  if (SockAddr::parse(reinterpret_cast<const sockaddr*>(rec.local), rec.local_len, local) != 0 ||
      SockAddr::parse(reinterpret_cast<const sockaddr*>(rec.peer), rec.peer_len, peer) != 0) {
    ::close(got);
    return EINVAL;
  }
  fd = got;
  return 0;
}

int unread_by_peer(int fd) {
  int charged = 0;
  return ::ioctl(fd, SIOCOUTQ, &charged) == 0 ? charged : 0;
}

void make_unwritable(int app_fd) {
  // AF_UNIX polls writable while 4 * (bytes charged) <= SO_SNDBUF; the kernel
  // raises 1 to its minimum (about 4.5 KiB), and one chunk then suffices.
  // Raw system calls: an LD_PRELOAD shim would take these for tou_* calls.
  int one = 1;
  ::syscall(SYS_setsockopt, app_fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
  static const char kFiller[1024] = {};
  for (int i = 0; i < 8; ++i) {
    long n = ::syscall(SYS_sendto, app_fd, kFiller, sizeof kFiller, MSG_DONTWAIT | MSG_NOSIGNAL,
                       nullptr, 0);
    if (n < 0 && errno != EINTR) return;  // EAGAIN: full
  }
}

// --- FdBridge ---

void FdBridge::on_events(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) closing_ = true;
  if (events & EPOLLOUT) writable_ = true;
  if (events & EPOLLHUP) {
    app_hup_ = true;
    readable_ = true;
  }
}

bool FdBridge::pull(Connection& core, Instant now, std::span<uint8_t> scratch) {
  if (fd_ < 0 || !readable_ || app_eof_) return false;
  // A new write: the one held before goes now (one write is held at most,
  // so that the program's end stays writable whatever their number).
  release_held();
  bool moved = false;
  for (bool first = true;; first = false) {
    // The program's bytes go straight into the core's send buffer (one copy);
    // only the filler of a non-blocking connect passes through scratch.
    std::array<std::span<uint8_t>, 2> spans{};
    if (filler_ > 0) {
      spans[0] = scratch.first(std::min(filler_, scratch.size()));
    } else {
      spans = core.send_spans(kMaxPull);
    }
    // The first read of a turn peeks a small write (see held()); a read that
    // takes bytes frees what is held first, since it reads from the head. With
    // less room in the core than a small write, the bytes are a stream's that
    // the peer's ACKs let in a little at a time: peeked, they would be copied
    // twice and cost a second read per ACK.
    const size_t room = spans[0].size() + spans[1].size();
    // A stream whose core has plenty left to send waits for a batch of room:
    // each ACK frees a few segments' worth, and a read per ACK costs a system
    // call for a few KiB (as Linux wakes a blocked writer only once a third
    // of its buffer is free, sk_stream_write_space).
    // (The spans grow the buffer's storage a step at a time: its limit is
    // what send_space() says.)
    const size_t free = core.send_space();
    const size_t batch = std::min(kPullBatch, (free + core.send_queued()) / 4);
    if (filler_ == 0 && streaming_ && free < batch && core.send_unsent() >= batch) break;
    const bool peek = first && filler_ == 0 && !streaming_ && room >= kMaxHeld && peek_offset_on();
    if (!peek) release_held();
    if (app_reset_) return true;  // reported by that read
    if (peek) spans = core.send_spans(kMaxHeld);
    size_t want = spans[0].size() + spans[1].size();
    if (want == 0) break;  // the core is full: resume when it frees space
    iovec iov[2] = {{spans[0].data(), spans[0].size()}, {spans[1].data(), spans[1].size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = spans[1].empty() ? 1 : 2;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
    if (n > 0) {
      moved = true;
      if (filler_ > 0) {
        filler_ -= static_cast<size_t>(n);
      } else {
        core.send_commit(now, static_cast<size_t>(n));
      }
      if (peek) {
        held_ += static_cast<size_t>(n);
        held_at_ = now;
      }
      // A peek that filled its buffer is a large write: read the next ones
      // (the bytes are taken once, not peeked and then read again), until a
      // turn starts with a small one.
      if (first) streaming_ = static_cast<size_t>(n) >= kMaxHeld;
      // A short read emptied the queue: any later write is a new edge, so
      // there is no need to probe for EAGAIN (unless end-of-file is pending,
      // whose edge has been seen already).
      if (static_cast<size_t>(n) < want && !closing_) {
        readable_ = false;
        break;
      }
      continue;
    }
    if (n == 0) {
      app_eof_ = true;
      readable_ = false;
      release_held();
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      readable_ = false;
      break;
    }
    // ECONNRESET: the program closed with bytes we had sent it still unread.
    app_reset_ = app_eof_ = app_hup_ = true;
    readable_ = false;
    return true;
  }
  return moved;
}

bool FdBridge::peek_offset_on() {
  if (peek_off_ == PeekOffset::kUnknown) {
    int zero = 0;
    peek_off_ = ::setsockopt(fd_, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) == 0
                    ? PeekOffset::kOn
                    : PeekOffset::kUnavailable;
  }
  return peek_off_ == PeekOffset::kOn;
}

void FdBridge::release_held() {
  if (fd_ < 0 || held_ == 0) {
    held_ = 0;
    return;
  }
  std::array<uint8_t, kMaxHeld> drop;
  // Bounded: EINTR, or a reset report that comes before the bytes.
  for (int i = 0; i < 4 && held_ > 0; ++i) {
    ssize_t n = ::recv(fd_, drop.data(), std::min(held_, drop.size()), MSG_DONTWAIT);
    if (n > 0) {
      held_ -= std::min(held_, static_cast<size_t>(n));
    } else if (n < 0 && errno == ECONNRESET) {
      // As pull() would have seen it: the program closed with bytes unread.
      app_reset_ = app_eof_ = app_hup_ = true;
      readable_ = false;
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  held_ = 0;
}

bool FdBridge::input_drained() {
  if (fd_ < 0 || app_eof_ || app_reset_ || filler_ > 0) return false;
  release_held();
  if (app_reset_) return false;  // that read found it
  uint8_t probe = 0;
  ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  // Bytes, end-of-file or an error: the pull reads them. The peek moved the
  // peek offset (0 once nothing is held) past the byte; it goes back.
  if (n > 0 && peek_off_ == PeekOffset::kOn) {
    int zero = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero);
  }
  readable_ = true;
  return false;
}

size_t FdBridge::unpulled() const {
  int queued = 0;
  if (fd_ < 0 || ::ioctl(fd_, FIONREAD, &queued) != 0 || queued <= 0) return 0;
  return static_cast<size_t>(queued) > held_ ? static_cast<size_t>(queued) - held_ : 0;
}

void FdBridge::release_held_since(Instant now, Duration age) {
  if (held_ > 0 && now - held_at_ >= age) release_held();
}

bool FdBridge::push(Connection& core, Instant now, bool all) {
  if (fd_ < 0) return false;
  bool moved = false;
  // Received bytes go from the core's receive buffer straight into the pair;
  // what the pair does not take stays in the core (and out of the window).
  while (core.readable() > 0) {
    if (app_read_shut_) {
      // SHUT_RD: Linux's TCP still queues what arrives and recv() returns it
      // (Engine::read_held), the window closing as it fills. Once the program
      // is gone, nobody will read them.
      if (!app_hup_) break;
      core.recv_consume(now, core.readable());
      moved = true;
      break;
    }
    if (!writable_) break;
    // A stream's bytes without PSH wait for a batch (Connection::delivery_due).
    if (!all && !core.delivery_due()) break;
    std::array<std::span<const uint8_t>, 2> spans = core.recv_spans();
    size_t want = spans[0].size() + spans[1].size();
    iovec iov[2] = {{const_cast<uint8_t*>(spans[0].data()), spans[0].size()},
                    {const_cast<uint8_t*>(spans[1].data()), spans[1].size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = spans[1].empty() ? 1 : 2;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      core.recv_consume(now, static_cast<size_t>(n));
      moved = true;
      // A short write filled the pair; arming EPOLLOUT re-checks readiness.
      if (static_cast<size_t>(n) < want) writable_ = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable_ = false;
      break;
    }
    // EPIPE: the program shut its read side, or is gone.
    app_read_shut_ = true;
  }
  if (!eof_sent_ && core.read_eof()) {
    ::shutdown(fd_, SHUT_WR);
    eof_sent_ = true;
    moved = true;
  }
  // The program wakes for these bytes anyway: free what it wrote with them.
  if (moved) release_held();
  return moved;
}

bool FdBridge::deliver_before_error(Connection& core, Instant now) {
  if (fd_ < 0) return true;
  if (!writes_refused_) {
    // Room for what the pair holds and what the core still has, at their
    // true size (kPairChargeFactor covers the kernel's overhead).
    size_t want = static_cast<size_t>(unread_by_peer(fd_)) + core.readable();
    size_pair(fd_, kPairChargeFactor * want + kPairSlack);
    writable_ = true;
  }
  push(core, now, true);
  return core.readable() == 0 || app_read_shut_;
}

void FdBridge::refuse_writes() {
  if (fd_ < 0 || writes_refused_) return;
  ::shutdown(fd_, SHUT_RD);
  writes_refused_ = true;
}

void FdBridge::discard_input() {
  if (fd_ < 0) return;
  char drop[4096];
  for (int i = 0; i < 1024; ++i) {  // bounded: the program's writes were refused
    ssize_t n = ::recv(fd_, drop, sizeof drop, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    break;
  }
  held_ = 0;
}

void FdBridge::close() {
  // Held bytes left unread would make the program's next read() fail with
  // ECONNRESET instead of reading end-of-file.
  release_held();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace tou::engine
