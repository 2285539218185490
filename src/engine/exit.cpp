// The engine at the process's exit: like a kernel's TCP, the exit neither
// waits for the closing connections nor abandons them.
//
// exit() runs stop_thread_at_exit() then close_at_exit() on every worker (an
// atexit handler, workers.cpp). Every connection is closed as by the program
// (after what it wrote has left the socket pair) and the I/O threads stop. If any connection still
// has a FIN exchange or TIME-WAIT ahead of it, the engine forks a small lingering process
// ("tou-linger") that inherits the UDP sockets and the connections' state, closes every other
// descriptor, leaves the session, and runs the event loop until the last
// connection is gone (or kLingerMax passes, as Linux's tcp_fin_timeout bounds
// an orphaned FIN-WAIT-2). The exiting process returns at once. So the peers
// see their FINs acknowledged, and a peer that closes after we exited gets its
// ACK at once, instead of retransmitting into a closed port.
//
// If fork() fails, the exiting process does the work itself as before: it
// waits while the peers keep acknowledging what is still unacknowledged,
// giving up after a stall of kExitStall or kLingerMax in all, and skips
// TIME-WAIT.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

// Set around the lingering fork so the engine's own fork handlers leave the
// workers as they are in both processes (workers.cpp).
extern std::atomic<bool> g_lingerer_fork;

namespace {

constexpr Duration kLingerMax = std::chrono::seconds(60);
constexpr Duration kExitStall = std::chrono::seconds(5);
// The lingering process's loop checks its limits at least this often.
constexpr Duration kLingerTick = std::chrono::milliseconds(100);
// A hard bound on the lingering process, whatever happens in it (SIGALRM's
// default action ends it).
constexpr unsigned kLingerAlarmSeconds = 75;

// Closes every descriptor but `keep` (sorted).
void close_all_but(const std::vector<int>& keep) {
  unsigned next = 0;
  auto close_range_of = [](unsigned first, unsigned last) {
    if (first > last) return;
    if (::syscall(SYS_close_range, first, last, 0) == 0) return;
    // No close_range (Linux before 5.9): one by one, up to the limit.
    long max = ::sysconf(_SC_OPEN_MAX);
    unsigned top = std::min<unsigned>(last, max > 0 ? static_cast<unsigned>(max) : 65536u);
    for (unsigned fd = first; fd <= top && fd >= first; ++fd) ::close(static_cast<int>(fd));
  };
  for (int fd : keep) {
    if (fd < 0) continue;
    auto u = static_cast<unsigned>(fd);
    if (u > next) close_range_of(next, u - 1);
    next = u + 1;
  }
  close_range_of(next, UINT_MAX);
}

// The lingering process belongs to no terminal or process group of the
// program's, runs none of the program's signal handlers, and ends by itself.
void become_lingerer(const std::vector<int>& keep) {
  ::setsid();
  ::prctl(PR_SET_NAME, "tou-linger", 0, 0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::alarm(kLingerAlarmSeconds);
  close_all_but(keep);
}

}  // namespace

void Engine::stop_thread_at_exit() {
  std::unique_lock lock(mu_);
  exiting_ = true;
  for (Socket* s : all_sockets_) mark_dirty(*s);
  // The I/O thread's last turn sends the FINs the exit queued; then it stops.
  stopping_ = true;
  loop_.wake();
  lock.unlock();
  if (thread_.joinable()) thread_.join();
}

void Engine::close_at_exit() {
  std::unique_lock lock(mu_);
  // Counted as they are now, here: not again by a lingering process.
  for (Socket* s : all_sockets_) report_end(*s);
  ends_reported_ = true;
  uint64_t acked = 0;
  if (!closing_work(true, acked)) return;
  if (hand_over_to_lingerer(lock)) return;
  run_until_closed(lock, false, kLingerMax, kExitStall);
}

// True while a connection has work left: data or a FIN unacknowledged, or
// (time_wait_too) FIN-WAIT-2 and TIME-WAIT. `acked` sums the bytes acknowledged.
bool Engine::closing_work(bool time_wait_too, uint64_t& acked) {
  bool busy = false;
  acked = 0;
  for (Socket* s : all_sockets_) {
    if (!s->core) continue;
    TcpState st = s->core->state();
    acked += s->core->stats().bytes_acked;
    if (st == TcpState::kClosed) continue;
    busy |= time_wait_too || st == TcpState::kEstablished || st == TcpState::kCloseWait ||
            st == TcpState::kFinWait1 || st == TcpState::kClosing || st == TcpState::kLastAck;
  }
  if (time_wait_too) {
    for (Endpoint* ep : endpoints_) busy |= !ep->time_wait.empty();
  }
  return busy;
}

std::vector<int> Engine::own_fds() const {
  std::vector<int> fds = {loop_.epoll_fd(), loop_.wake_fd(), loop_.timer_fd()};
  for (Endpoint* ep : endpoints_) fds.push_back(ep->sock.fd());
  for (Socket* s : all_sockets_) {
    fds.push_back(s->bridge.fd());
    fds.push_back(s->handoff_fd);
  }
  for (auto& [ino, l] : listeners_) fds.push_back(l->efd);
  std::sort(fds.begin(), fds.end());
  fds.erase(std::unique(fds.begin(), fds.end()), fds.end());
  return fds;
}

// Forks the lingering process. In the parent: true when the child took over.
// The child never returns.
bool Engine::hand_over_to_lingerer(std::unique_lock<std::mutex>& lock) {
  const std::vector<int> keep = own_fds();
  g_lingerer_fork = true;
  pid_t pid = ::fork();
  g_lingerer_fork = false;
  if (pid < 0) return false;
  if (pid > 0) return true;
  become_lingerer(keep);
  // A program's thread that was waiting on an endpoint (inline_receive.cpp)
  // did not come along: its endpoint is watched again here (the epoll set is
  // the parent's too, and the parent may exit before that thread gives it back).
  for (Endpoint* ep : endpoints_) {
    if (!ep->lent || ep->dead) continue;
    ep->lent = false;
    loop_.modify(ep->sock.fd(), kEndpointEvents, ep);
  }
  run_until_closed(lock, true, kLingerMax, kLingerMax);
  ::_exit(0);
}

// Runs the event loop in this thread while closing_work() says so, at most
// `limit`, and while acknowledgments keep coming at least every `stall`.
void Engine::run_until_closed(std::unique_lock<std::mutex>& lock, bool time_wait_too,
                              Duration limit, Duration stall) {
  const Instant start = EventLoop::now();
  Instant last_progress = start;
  uint64_t acked_before = 0;
  for (;;) {
    iterate();
    uint64_t acked = 0;
    bool busy = closing_work(time_wait_too, acked);
    const Instant now = EventLoop::now();
    if (acked != acked_before) last_progress = now;
    acked_before = acked;
    if (!busy || now - start >= limit || now - last_progress >= stall) return;
    std::optional<Instant> deadline = loop_.timers().next();
    if (!dirty_.empty() || !pending_read_.empty()) deadline = kTimeZero;
    if (!deadline || *deadline > now + kLingerTick) deadline = now + kLingerTick;
    lock.unlock();
    loop_.wait(deadline);
    lock.lock();
  }
}

}  // namespace tou::engine
