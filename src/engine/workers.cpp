// workers.hpp: starting the workers, the registry, and what fork() and exit
// do to them.
#include "engine/workers.hpp"

#include <pthread.h>
#include <sched.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "engine/engine.hpp"

namespace tou::engine {

namespace {

std::mutex g_mu;  // guards starting the workers; taken before any worker's lock
std::array<Engine*, workers::kMaxWorkers> g_workers{};
std::atomic<int> g_count{0};   // workers running (set after they are all in g_workers)
std::atomic<int> g_wanted{0};  // tou_set_workers(); 0: the environment or the CPUs
std::atomic<unsigned> g_next{0};
Engine* g_abandoned = nullptr;  // workers left behind in fork children (kept reachable)
bool g_hooks_installed = false;

std::mutex g_reg_mu;  // guards g_owner; a leaf lock
std::unordered_map<ino_t, Engine*> g_owner;

int default_workers() {
  if (const char* env = std::getenv("TOU_WORKERS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end == '\0' && n >= 1 && n <= workers::kMaxWorkers) return static_cast<int>(n);
  }
  cpu_set_t cpus;
  int n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return std::clamp(n, 1, workers::kMaxDefaultWorkers);
}

}  // namespace

// --- fork() and exit ---

// The fork that hands connections to a lingering process at exit
// (exit.cpp) keeps the workers as they are, in both processes.
std::atomic<bool> g_lingerer_fork{false};

void engine_atfork_prepare() {
  if (g_lingerer_fork) return;
  g_mu.lock();
  for (int i = 0; i < g_count; ++i) g_workers[i]->mu_.lock();
  g_reg_mu.lock();
}

void engine_atfork_parent() {
  if (g_lingerer_fork) return;
  g_reg_mu.unlock();
  for (int i = g_count - 1; i >= 0; --i) g_workers[i]->mu_.unlock();
  g_mu.unlock();
}

// The child has no worker threads: it closes its copies of the workers'
// descriptors (so that the parent's workers alone hold them, and end-of-file
// and resets still reach the program) and starts workers of its own if it
// makes sockets. What it inherited it serves as another process's sockets.
void engine_atfork_child() {
  if (g_lingerer_fork) return;
  g_owner.clear();
  g_reg_mu.unlock();
  for (int i = 0; i < g_count; ++i) {
    Engine* e = g_workers[i];
    e->close_fds_in_child();
    e->abandoned_next_ = g_abandoned;
    g_abandoned = e;
    g_workers[i] = nullptr;
  }
  g_count = 0;
  g_mu.unlock();
}

// Every worker stops before any hands its connections to a lingering process
// (a fork that no other worker thread may hold a lock across).
void engine_at_exit() {
  std::array<Engine*, workers::kMaxWorkers> all{};
  int n;
  {
    std::lock_guard g(g_mu);
    n = g_count;
    std::copy_n(g_workers.begin(), n, all.begin());
  }
  for (int i = 0; i < n; ++i) all[i]->stop_thread_at_exit();
  for (int i = 0; i < n; ++i) all[i]->close_at_exit();
}

namespace workers {

int wanted() {
  int n = g_wanted.load();
  return n > 0 ? n : default_workers();
}

int set_wanted(int n) {
  if (n < 1 || n > kMaxWorkers) return EINVAL;
  std::lock_guard g(g_mu);
  if (g_count > 0) return EBUSY;
  g_wanted = n;
  return 0;
}

int start() {
  if (g_count > 0) return 0;
  std::lock_guard g(g_mu);
  if (g_count > 0) return 0;
  if (!g_hooks_installed) {
    if (sodium_init() < 0) return ENOMEM;
    pthread_atfork(engine_atfork_prepare, engine_atfork_parent, engine_atfork_child);
    std::atexit(engine_at_exit);
    g_hooks_installed = true;
  }
  // One set of keys for all workers: a connection's ISN and its cookies do
  // not depend on which worker serves it (RFC 6528's monotonic ISNs across
  // incarnations of one 4-tuple).
  EngineKeys keys;
  randombytes_buf(keys.isn.data(), keys.isn.size());
  randombytes_buf(keys.cookie.data(), keys.cookie.size());
  const int n = wanted();
  int made = 0;
  for (; made < n; ++made) {
    int err = 0;
    Engine* e = Engine::create(keys, made, err);
    if (e == nullptr) {
      if (made > 0) break;  // fewer workers than asked for
      return err;
    }
    g_workers[made] = e;
  }
  g_count = made;
  return 0;
}

int count() {
  return g_count;
}

Engine* at(int i) {
  return i < g_count ? g_workers[i] : nullptr;
}

Engine* next() {
  int n = g_count;
  if (n == 0) return nullptr;
  return g_workers[g_next.fetch_add(1, std::memory_order_relaxed) % static_cast<unsigned>(n)];
}

Engine* owner(ino_t ino) {
  std::lock_guard g(g_reg_mu);
  auto it = g_owner.find(ino);
  return it == g_owner.end() ? nullptr : it->second;
}

void record(ino_t ino, Engine* e) {
  std::lock_guard g(g_reg_mu);
  g_owner[ino] = e;
}

void forget(ino_t ino, Engine* e) {
  std::lock_guard g(g_reg_mu);
  if (auto it = g_owner.find(ino); it != g_owner.end() && it->second == e) g_owner.erase(it);
}

size_t registered() {
  std::lock_guard g(g_reg_mu);
  return g_owner.size();
}

}  // namespace workers
}  // namespace tou::engine
