// tou's own descriptors (its engine's epoll and wake-up descriptors, UDP
// sockets, the engine's ends of the socket pairs) are moved to high numbers, out
// of the way of programs that pick low ones themselves: a shell's
// `exec 3<>/dev/tcp/...` does dup2(socket, 3) and would otherwise close the
// engine's epoll descriptor. The program's own ends stay where the kernel put
// them (the lowest free number, as socket() and accept() would give; select()
// needs them below FD_SETSIZE).
//
// The threads tou starts are marked as tou's, so that everything they call
// goes straight to the C library.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <new>

#include "preload/fd_table.hpp"
#include "preload/libc.hpp"

namespace tou::preload {

namespace {

template <typename Fn>
Fn next(std::atomic<Fn>& cached, const char* name) {
  Fn f = cached.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
    cached.store(f, std::memory_order_release);
  }
  return f;
}

// Half the descriptor limit, capped: far above what programs pick by hand.
int floor_fd() {
  static std::atomic<int> cached{0};
  int f = cached.load(std::memory_order_relaxed);
  if (f == 0) {
    rlimit lim{};
    rlim_t cur = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 1024;
    f = static_cast<int>(std::clamp<rlim_t>(cur / 2, 10, 4096));
    cached.store(f, std::memory_order_relaxed);
  }
  return f;
}

}  // namespace

// Moves tou's private descriptor fd above floor_fd() (close-on-exec, as all of
// tou's private descriptors are); keeps it where it is when that fails.
int move_high(int fd) {
  if (fd < 0 || fd >= floor_fd()) return fd;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, floor_fd());
  if (high < 0) return fd;
  libc::close(fd);
  return high;
}

}  // namespace tou::preload

using tou::preload::become_tou_thread;
using tou::preload::inside_tou;
using tou::preload::move_high;
using tou::preload::next;
using tou::preload::on_tou_thread;

namespace {

struct ThreadStart {
  void* (*fn)(void*);
  void* arg;
};

void* tou_thread_main(void* p) {
  ThreadStart start = *static_cast<ThreadStart*>(p);
  delete static_cast<ThreadStart*>(p);
  become_tou_thread();
  return start.fn(start.arg);
}

}  // namespace

extern "C" {

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                   void* arg) __THROWNL {
  using PthreadCreate = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  static std::atomic<PthreadCreate> cached{nullptr};
  auto real = next(cached, "pthread_create");
  if (real == nullptr) return ENOSYS;
  if (!inside_tou()) return real(thread, attr, fn, arg);
  auto* start = new (std::nothrow) ThreadStart{fn, arg};
  if (start == nullptr) return EAGAIN;
  int err = real(thread, attr, tou_thread_main, start);
  if (err != 0) delete start;
  return err;
}

int socketpair(int domain, int type, int protocol, int sv[2]) __THROW {
  static std::atomic<decltype(&::socketpair)> cached{nullptr};
  auto real = next(cached, "socketpair");
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  int r = real(domain, type, protocol, sv);
  if (r != 0) return r;
  if (inside_tou()) {
    // tou's pairs: [0] is the program's end, [1] the engine's (engine/bridge.hpp).
    sv[1] = move_high(sv[1]);
    if (on_tou_thread()) sv[0] = move_high(sv[0]);  // handed over, then closed here
  } else {
    tou::preload::forget(sv[0]);
    tou::preload::forget(sv[1]);
  }
  return 0;
}

int epoll_create1(int flags) __THROW {
  static std::atomic<decltype(&::epoll_create1)> cached{nullptr};
  auto real = next(cached, "epoll_create1");
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  int fd = real(flags);
  return inside_tou() ? move_high(fd) : fd;
}

int eventfd(unsigned int count, int flags) __THROW {
  static std::atomic<decltype(&::eventfd)> cached{nullptr};
  auto real = next(cached, "eventfd");
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  int fd = real(count, flags);
  return inside_tou() ? move_high(fd) : fd;
}

}  // extern "C"
