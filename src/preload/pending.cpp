#include "preload/pending.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "preload/fd_table.hpp"
#include "preload/libc.hpp"
#include "preload/log.hpp"
#include "preload/options.hpp"
#include "tou/tou.h"

namespace tou::preload {

namespace {

struct RecordedOption {
  int level;
  int name;
  std::vector<uint8_t> value;
};

std::mutex mu;
std::unordered_map<int, std::vector<RecordedOption>>* recorded = nullptr;  // guarded by mu
std::once_flag fork_handlers_once;

// A fork while another thread holds mu must not leave it locked in the child.
void lock_for_fork() {
  mu.lock();
}
void unlock_after_fork() {
  mu.unlock();
}

std::vector<RecordedOption> take(int fd) {
  std::lock_guard g(mu);
  if (recorded == nullptr) return {};
  auto it = recorded->find(fd);
  if (it == recorded->end()) return {};
  std::vector<RecordedOption> out = std::move(it->second);
  recorded->erase(it);
  return out;
}

}  // namespace

void record_option(int fd, int level, int name, const void* value, socklen_t len) {
  std::call_once(fork_handlers_once,
                 [] { pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork); });
  const auto* bytes = static_cast<const uint8_t*>(value);
  std::lock_guard g(mu);
  if (recorded == nullptr) recorded = new std::unordered_map<int, std::vector<RecordedOption>>();
  (*recorded)[fd].push_back({level, name, std::vector<uint8_t>(bytes, bytes + len)});
}

void drop_pending(int fd) {
  take(fd);
}

int become_tou(int fd) {
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (libc::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) return errno;
  int status = ::fcntl(fd, F_GETFL);
  int fd_flags = ::fcntl(fd, F_GETFD);
  if (status < 0 || fd_flags < 0) return errno;
  std::vector<RecordedOption> options = take(fd);
  InsideTou inside;
  int type = SOCK_STREAM | SOCK_CLOEXEC | ((status & O_NONBLOCK) != 0 ? SOCK_NONBLOCK : 0);
  int t = tou_socket(domain, type, 0);
  if (t < 0) return errno;
  for (const RecordedOption& o : options) {
    if (set_option(t, o.level, o.name, o.value.data(), static_cast<socklen_t>(o.value.size())) !=
        0) {
      debug_log("fd %d: option level %d name %d not carried over to tou", fd, o.level, o.name);
    }
  }
  int err = 0;
  if (libc::dup3(t, fd, (fd_flags & FD_CLOEXEC) != 0 ? O_CLOEXEC : 0) < 0) err = errno;
  libc::close(t);
  if (err == 0) remember(fd, FdKind::kTou);
  return err;
}

}  // namespace tou::preload
