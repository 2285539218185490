// The option relay (see option_relay.hpp): a child's setsockopt()/getsockopt()
// on a socket its parent's engine serves.
#include "engine/option_relay.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <future>
#include <thread>

#include "engine/high_fd.hpp"
#include "engine/interface.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

extern std::atomic<bool> g_lingerer_fork;  // exit.cpp: the fork that hands over at exit

namespace {

constexpr uint32_t kMagic = 0x746f754f;  // "Out" + version
constexpr size_t kMaxValue = 512;
static_assert(sizeof(tou_info) <= kMaxValue && sizeof(tou_listener_info) <= kMaxValue);

struct Request {
  uint32_t magic = kMagic;
  uint32_t op = 0;
  int32_t level = 0;
  int32_t name = 0;
  uint32_t len = 0;         // the value's length (set), the caller's buffer (get)
  uint32_t null_value = 0;  // set with a null pointer (the engine answers as to its own caller)
  uint8_t value[kMaxValue] = {};
};

struct Reply {
  uint32_t magic = kMagic;
  int32_t err = EINVAL;
  uint32_t len = 0;
  uint8_t value[kMaxValue] = {};
};

constexpr size_t kRequestHeader = offsetof(Request, value);
constexpr size_t kReplyHeader = offsetof(Reply, value);

// The relay's abstract name: "\0tou-options-<pid>".
socklen_t relay_address(uint32_t pid, sockaddr_un& un) {
  un = {};
  un.sun_family = AF_UNIX;
  int n = std::snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "tou-options-%u", pid);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(n));
}

// This process's relay: bound before a fork, served by a thread after it.
int g_fd = -1;
pid_t g_pid = 0;
bool g_serving = false;

// One request: the socket it names must be one this process's engine serves.
int answer(int fd, const Request& rq, Reply& rp) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return ENOTSOCK;
  if (!serves(st.st_ino)) return ENOTSOCK;
  if (rq.op == static_cast<uint32_t>(RelayOp::kSet)) {
    return socket_set_option(fd, st.st_ino, rq.level, rq.name, rq.null_value ? nullptr : rq.value,
                             rq.len);
  }
  socklen_t len = std::min<socklen_t>(rq.len, kMaxValue);
  int err = socket_get_option(fd, st.st_ino, rq.level, rq.name, rp.value, &len);
  rp.len = std::min<uint32_t>(len, kMaxValue);
  return err;
}

void serve(int sock) {
  pthread_setname_np(pthread_self(), "tou-options");
  for (;;) {
    Request rq;
    sockaddr_un from{};
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(4 * sizeof(int))];
    iovec iov{&rq, sizeof rq};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the socket is gone
    }
    // Every descriptor that came along is closed, however bad the request.
    int fds[4];
    size_t nfds = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count && nfds < 4; ++i) {
        std::memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    }
    Reply rp;
    bool is_set = rq.op == static_cast<uint32_t>(RelayOp::kSet);
    bool well_formed =
        static_cast<size_t>(n) >= kRequestHeader && rq.magic == kMagic &&
        (is_set || rq.op == static_cast<uint32_t>(RelayOp::kGet)) && rq.len <= kMaxValue &&
        (!is_set || rq.null_value || static_cast<size_t>(n) >= kRequestHeader + rq.len) &&
        nfds == 1 && (m.msg_flags & MSG_CTRUNC) == 0;
    if (well_formed) rp.err = answer(fds[0], rq, rp);
    for (size_t i = 0; i < nfds; ++i) ::close(fds[i]);
    // The asker is autobound (a name to answer to); it never blocks us.
    if (m.msg_namelen > sizeof(sa_family_t)) {
      ::sendto(sock, &rp, kReplyHeader + rp.len, MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<sockaddr*>(&from), m.msg_namelen);
    }
  }
}

void close_relay() {
  if (g_fd >= 0) ::close(g_fd);
  g_fd = -1;
  g_pid = 0;
  g_serving = false;
}

// Before fork(): the name is bound, so that the child's first request waits
// in its queue even before the thread runs.
void relay_prepare() {
  if (g_lingerer_fork || g_pid == ::getpid()) return;
  if (workers::count() == 0) return;  // no engine here, nothing to serve
  close_relay();                      // inherited from a parent
  int fd = move_high(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd < 0) return;
  sockaddr_un un;
  socklen_t len = relay_address(static_cast<uint32_t>(::getpid()), un);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&un), len) != 0) {
    ::close(fd);
    return;
  }
  g_fd = fd;
  g_pid = ::getpid();
}

// After fork(), in the parent: the thread that answers, started once.
void relay_parent() {
  if (g_fd < 0 || g_serving) return;
  // It takes no signals: they go to the program's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    // Started before fork() returns: a next fork() must not catch the thread
    // in its start-up, which allocates (see Engine::start).
    std::promise<void> running;
    std::future<void> started = running.get_future();
    std::thread([fd = g_fd, running = std::move(running)]() mutable {
      running.set_value();
      serve(fd);
    }).detach();
    started.wait();
    g_serving = true;
  } catch (const std::system_error&) {
    close_relay();
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// In the child: the parent's relay is the parent's (its name stays bound only
// while the parent holds it); a relay of the child's own comes with its engine.
void relay_child() {
  if (g_lingerer_fork) return;
  close_relay();
}

// Waits up to the relay's timeout for an answer on `s`; true when one came.
bool wait_answer(int s) {
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (elapsed_ms >= kRelayTimeoutMs) return false;
    pollfd p{s, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(kRelayTimeoutMs - elapsed_ms));
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return false;
  }
}

}  // namespace

void install_option_relay() {
  // A child inherits both the hooks and this flag.
  static std::atomic<bool> once{false};
  if (once.exchange(true)) return;
  pthread_atfork(relay_prepare, relay_parent, relay_child);
}

int relay_option(int fd, uint32_t pid, RelayOp op, int level, int name, const void* in,
                 socklen_t in_len, void* out, socklen_t* out_len) {
  Request rq;
  rq.op = static_cast<uint32_t>(op);
  rq.level = level;
  rq.name = name;
  if (op == RelayOp::kSet) {
    if (in_len > kMaxValue) return EINVAL;
    rq.len = in_len;
    rq.null_value = in == nullptr;
    if (in != nullptr && in_len > 0) std::memcpy(rq.value, in, in_len);
  } else {
    rq.len = static_cast<uint32_t>(std::min<socklen_t>(*out_len, kMaxValue));
  }
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  sockaddr_un self{};
  self.sun_family = AF_UNIX;
  sockaddr_un relay;
  socklen_t relay_len = relay_address(pid, relay);
  // Autobound (an abstract name of the kernel's choosing) for the answer.
  if (::bind(s, reinterpret_cast<sockaddr*>(&self), sizeof(sa_family_t)) != 0 ||
      ::connect(s, reinterpret_cast<sockaddr*>(&relay), relay_len) != 0) {
    int err = errno;
    ::close(s);
    return err == ECONNREFUSED || err == ENOENT ? EOPNOTSUPP : err;
  }
  timeval tv{kRelayTimeoutMs / 1000, (kRelayTimeoutMs % 1000) * 1000};
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&rq, kRequestHeader + (op == RelayOp::kSet && in != nullptr ? rq.len : 0)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (::sendmsg(s, &m, MSG_NOSIGNAL) < 0) {
    int err = errno;
    ::close(s);
    if (err == EAGAIN) return ETIMEDOUT;
    return err == ECONNREFUSED ? EOPNOTSUPP : err;
  }
  Reply rp;
  ssize_t n = wait_answer(s) ? ::recv(s, &rp, sizeof rp, MSG_DONTWAIT) : -1;
  ::close(s);
  if (n < 0) return ETIMEDOUT;
  if (static_cast<size_t>(n) < kReplyHeader || rp.magic != kMagic || rp.len > kMaxValue) {
    return EPROTO;
  }
  if (rp.err == 0 && op == RelayOp::kGet) {
    socklen_t len = std::min<socklen_t>(*out_len, rp.len);
    std::memcpy(out, rp.value, len);
    *out_len = len;
  }
  return rp.err;
}

int remote_set_option(int fd, const FdName& name, int level, int optname, const void* value,
                      socklen_t len) {
  return relay_option(fd, name.pid, RelayOp::kSet, level, optname, value, len, nullptr, nullptr);
}

int remote_get_option(int fd, const FdName& name, int level, int optname, void* value,
                      socklen_t* len) {
  if (value == nullptr || len == nullptr) return EFAULT;
  return relay_option(fd, name.pid, RelayOp::kGet, level, optname, nullptr, 0, value, len);
}

}  // namespace tou::engine
