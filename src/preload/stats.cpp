#include "preload/stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "engine/interface.hpp"
#include "preload/config.hpp"
#include "preload/libc.hpp"
#include "tou/tou.h"

namespace tou::preload {

namespace {

std::atomic<uint64_t> counters[static_cast<int>(Counter::kCount)];
std::atomic<uint64_t> bytes_sent{0};
std::atomic<uint64_t> bytes_received{0};

uint64_t get(Counter c) {
  return counters[static_cast<int>(c)].load(std::memory_order_relaxed);
}

// At exit (also for programs that never touched a socket: nothing is written
// then). A library destructor: it runs after the engine's atexit handler, which
// reports the connections still open.
__attribute__((destructor)) void write_at_exit() {
  if (get(Counter::kTouSockets) != 0 || get(Counter::kKernelSockets) != 0) write_stats();
}

// A fork child counts only what it does itself.
void reset_in_child() {
  for (auto& c : counters) c.store(0, std::memory_order_relaxed);
  bytes_sent.store(0, std::memory_order_relaxed);
  bytes_received.store(0, std::memory_order_relaxed);
}

void on_connection_end(const tou_info& info) {
  if (info.bytes_sent == 0 && info.bytes_received == 0) return;
  bytes_sent.fetch_add(info.bytes_sent, std::memory_order_relaxed);
  bytes_received.fetch_add(info.bytes_received, std::memory_order_relaxed);
  write_stats();
}

}  // namespace

void count(Counter c) {
  if (c == Counter::kTouSockets) start_stats();  // before any of its connections can end
  counters[static_cast<int>(c)].fetch_add(1, std::memory_order_relaxed);
}

void start_stats() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (config().stats_path == nullptr) return;
    pthread_atfork(nullptr, nullptr, reset_in_child);
    engine::set_connection_end_hook(on_connection_end);
  });
}

void write_stats() {
  const char* path = config().stats_path;
  if (path == nullptr) return;
  char name[512];
  std::snprintf(name, sizeof name, "%s.%d", path, static_cast<int>(::getpid()));
  char text[512];
  int n = std::snprintf(text, sizeof text,
                        "tou_sockets %llu\nkernel_sockets %llu\ntou_listens %llu\n"
                        "tou_connects %llu\ntou_accepts %llu\nbytes_sent %llu\n"
                        "bytes_received %llu\nexact_errors %llu\n",
                        static_cast<unsigned long long>(get(Counter::kTouSockets)),
                        static_cast<unsigned long long>(get(Counter::kKernelSockets)),
                        static_cast<unsigned long long>(get(Counter::kListens)),
                        static_cast<unsigned long long>(get(Counter::kConnects)),
                        static_cast<unsigned long long>(get(Counter::kAccepts)),
                        static_cast<unsigned long long>(bytes_sent.load()),
                        static_cast<unsigned long long>(bytes_received.load()),
                        static_cast<unsigned long long>(get(Counter::kExactErrors)));
  // Written aside and renamed, so that a reader never sees half a file.
  char temp[540];
  std::snprintf(temp, sizeof temp, "%s.tmp%ld", name, static_cast<long>(::gettid()));
  int f = ::open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f < 0) return;
  bool ok = ::write(f, text, static_cast<size_t>(n)) == n;
  libc::close(f);
  if (!ok || ::rename(temp, name) != 0) ::unlink(temp);
}

}  // namespace tou::preload
