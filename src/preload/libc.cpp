#include "preload/libc.hpp"

#include <dlfcn.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace tou::preload::libc {

namespace {

// Resolved on first use, not in a constructor: dlsym may allocate.
template <typename Fn>
Fn next(std::atomic<Fn>& cached, const char* name) {
  Fn f = cached.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
    cached.store(f, std::memory_order_release);
  }
  return f;
}

// Calls the next definition of `name`, or fails with ENOSYS when there is none.
#define TOU_CALL_NEXT(ret, name, ...)                    \
  static std::atomic<decltype(&::name)> cached{nullptr}; \
  auto fn = next(cached, #name);                         \
  if (fn == nullptr) {                                   \
    errno = ENOSYS;                                      \
    return static_cast<ret>(-1);                         \
  }                                                      \
  return fn(__VA_ARGS__)

}  // namespace

int socket(int domain, int type, int protocol) {
  TOU_CALL_NEXT(int, socket, domain, type, protocol);
}
int bind(int fd, const sockaddr* addr, socklen_t len) {
  TOU_CALL_NEXT(int, bind, fd, addr, len);
}
int listen(int fd, int backlog) {
  TOU_CALL_NEXT(int, listen, fd, backlog);
}
int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  TOU_CALL_NEXT(int, accept4, fd, addr, len, flags);
}
int connect(int fd, const sockaddr* addr, socklen_t len) {
  TOU_CALL_NEXT(int, connect, fd, addr, len);
}
int shutdown(int fd, int how) {
  TOU_CALL_NEXT(int, shutdown, fd, how);
}
int close(int fd) {
  TOU_CALL_NEXT(int, close, fd);
}
int getsockname(int fd, sockaddr* addr, socklen_t* len) {
  TOU_CALL_NEXT(int, getsockname, fd, addr, len);
}
int getpeername(int fd, sockaddr* addr, socklen_t* len) {
  TOU_CALL_NEXT(int, getpeername, fd, addr, len);
}
int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  TOU_CALL_NEXT(int, setsockopt, fd, level, name, value, len);
}
int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  TOU_CALL_NEXT(int, getsockopt, fd, level, name, value, len);
}
int dup(int fd) {
  TOU_CALL_NEXT(int, dup, fd);
}
int dup2(int fd, int fd2) {
  TOU_CALL_NEXT(int, dup2, fd, fd2);
}
int dup3(int fd, int fd2, int flags) {
  TOU_CALL_NEXT(int, dup3, fd, fd2, flags);
}
ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  TOU_CALL_NEXT(ssize_t, sendto, fd, buf, n, flags, addr, len);
}
ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  TOU_CALL_NEXT(ssize_t, sendmsg, fd, msg, flags);
}
ssize_t recv(int fd, void* buf, size_t n, int flags) {
  TOU_CALL_NEXT(ssize_t, recv, fd, buf, n, flags);
}
ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  TOU_CALL_NEXT(ssize_t, recvfrom, fd, buf, n, flags, addr, len);
}
ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  TOU_CALL_NEXT(ssize_t, recvmsg, fd, msg, flags);
}

// read, write and their kin carry warn_unused_result, which a template
// argument drops: their pointer types are spelt out, and called as
// TOU_CALL_NEXT would.
using WriteFn = ssize_t (*)(int, const void*, size_t);
using WritevFn = ssize_t (*)(int, const iovec*, int);
using ReadFn = ssize_t (*)(int, void*, size_t);
using ReadChkFn = ssize_t (*)(int, void*, size_t, size_t);

template <typename Fn, typename... Args>
ssize_t call_next(std::atomic<Fn>& cached, const char* name, Args... args) {
  Fn fn = next(cached, name);
  if (fn == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return fn(args...);
}

ssize_t write(int fd, const void* buf, size_t n) {
  static std::atomic<WriteFn> cached{nullptr};
  return call_next(cached, "write", fd, buf, n);
}
ssize_t writev(int fd, const iovec* iov, int count) {
  static std::atomic<WritevFn> cached{nullptr};
  return call_next(cached, "writev", fd, iov, count);
}
ssize_t read(int fd, void* buf, size_t n) {
  static std::atomic<ReadFn> cached{nullptr};
  return call_next(cached, "read", fd, buf, n);
}
ssize_t readv(int fd, const iovec* iov, int count) {
  static std::atomic<WritevFn> cached{nullptr};
  return call_next(cached, "readv", fd, iov, count);
}
ssize_t read_chk(int fd, void* buf, size_t n, size_t buflen) {
  static std::atomic<ReadChkFn> cached{nullptr};
  return call_next(cached, "__read_chk", fd, buf, n, buflen);
}

#undef TOU_CALL_NEXT

}  // namespace tou::preload::libc
