// An engine worker: its start, the I/O thread's loop, and the life of each
// connection between its core and its socket pair. workers.cpp starts the
// workers (and handles fork and exit), listen.cpp spreads a listener over them
// and accept.cpp hands its connections over; socket_end.cpp is how a
// connection ends. The demultiplexer's part is in demux.cpp, the socket calls
// in engine_api.cpp (options.cpp for the options and TCP_INFO).
#include "engine/engine.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <future>

#include "engine/demux.hpp"
#include "engine/path_mtu.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {

std::atomic<ConnectionEndHook> g_end_hook{nullptr};

constexpr size_t kScratchSize = 256 * 1024;
constexpr Duration kBusyPoll = std::chrono::microseconds(50);
constexpr int kMinCpusToSpin = 4;
constexpr int kTransmitBudget = 64;  // datagrams per connection per turn
// How long a small write may stay held in the pair (FdBridge::held())
// when neither a response nor an acknowledgment comes to free it: it goes at
// the connection's next event after this (it is in flight, so an ACK or a
// retransmission timer comes).
constexpr Duration kHeldWriteAge = std::chrono::milliseconds(1);

}  // namespace

// --- Lifetime (workers.cpp starts the workers) ---

Engine* Engine::create(const EngineKeys& keys, int index, int& err) {
  auto* e = new Engine();
  e->index_ = index;
  err = e->start(keys, true);
  if (err != 0) {
    delete e;
    return nullptr;
  }
  return e;
}

void set_connection_end_hook(ConnectionEndHook hook) {
  g_end_hook.store(hook);
}

void Engine::report_end(Socket& s) {
  ConnectionEndHook hook = g_end_hook.load();
  if (hook == nullptr || !s.core || ends_reported_) return;
  tou_info info;
  get_connection_info(&s, info);
  hook(info);
}

Engine* Engine::create_stepped(const EngineKeys& keys, int& err) {
  auto* e = new Engine();
  err = e->start(keys, false);
  if (err != 0) {
    delete e;
    return nullptr;
  }
  return e;
}

int Engine::step(std::optional<Instant> deadline) {
  std::unique_lock lock(mu_);
  if (!dirty_.empty() || !pending_read_.empty()) deadline = kTimeZero;
  io_waiting_ = true;
  io_wait_until_ = deadline;
  lock.unlock();
  int events = loop_.wait(deadline);
  lock.lock();
  io_waiting_ = false;
  iterate();
  return events;
}

int Engine::start(const EngineKeys& keys, bool with_thread) {
  if (int err = loop_.init(); err != 0) return err;
  isn_.emplace(keys.isn);
  cookies_.emplace(keys.cookie);
  scratch_.resize(kScratchSize);
  if (!with_thread) return 0;
  // The I/O thread takes no signals: they go to the program's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::promise<void> running;
  std::future<void> started = running.get_future();
  try {
    thread_ = std::thread([this, running = std::move(running)]() mutable {
      running.set_value();
      run();
    });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return e.code().value();
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Returns once the thread runs our code: a fork() right after (a program's
  // first socket, then fork) must not catch it in the thread's start-up,
  // which allocates (glibc's pthread_getattr_np under AddressSanitizer, whose
  // allocator takes no lock around fork(): the child then waited forever on
  // the allocator lock the half-started thread held, seen in CI's stacks).
  started.wait();
  return 0;
}

void Engine::close_fds_in_child() {
  auto close_fd = [](int fd) {
    if (fd >= 0) ::close(fd);
  };
  close_fd(loop_.epoll_fd());
  close_fd(loop_.wake_fd());
  close_fd(loop_.timer_fd());
  loop_.abandon();
  for (Socket* s : all_sockets_) {
    close_fd(s->bridge.fd());
    s->bridge.abandon();
    close_fd(s->handoff_fd);
    s->handoff_fd = -1;
  }
  for (auto& [ino, l] : listeners_) {
    close_fd(l->efd);
    l->efd = -1;
  }
  for (Endpoint* ep : endpoints_) {
    close_fd(ep->sock.fd());
    ep->sock.abandon();
  }
  // thread_ names a thread that does not exist here; this engine is never
  // destroyed, so it is never joined.
}

// --- The I/O thread ---

void Engine::run() {
  pthread_setname_np(pthread_self(), "tou-engine");
  // Deadlines are microseconds apart on a fast path: ask for precise wake-ups.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock lock(mu_);
  Instant spin_until{};
  // Spinning pays only with a core to spare: a program's thread and the two
  // engines of a loopback pair each need one, and on fewer CPUs the spin delays
  // the very thread it waits for (1-byte RR p50 doubled on 2 CPUs).
  cpu_set_t cpus;
  bool spare = sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= kMinCpusToSpin;
  Duration busy_poll = spare ? kBusyPoll : Duration::zero();
  if (!receive_coalescing_wanted()) coalesce_.disable();
  while (!stopping_) {
    std::optional<Instant> deadline = loop_.timers().next();
    // After activity, poll without sleeping for a short while: the answer to
    // what was just sent often comes within microseconds, and a sleep and a
    // wake-up cost more than that (more so in a virtual machine).
    if (!dirty_.empty() || !pending_read_.empty() || now_ < spin_until) deadline = kTimeZero;
    io_waiting_ = true;
    io_wait_until_ = deadline;
    lock.unlock();
    int events = loop_.wait(deadline);
    lock.lock();
    io_waiting_ = false;
    iterate();
    if (events > 0) spin_until = now_ + busy_poll;
    hold_for_coalescing(lock);
  }
}

void Engine::hold_for_coalescing(std::unique_lock<std::mutex>& lock) {
  const bool work_waiting = !dirty_.empty() || !pending_read_.empty() || stopping_;
  std::optional<Instant> until = coalesce_.end_turn(now_, loop_.timers().next(), work_waiting);
  if (!until) return;
  // Asleep, not waiting: a program's thread that adds work meanwhile
  // (wake_if_behind) leaves it for the turn after the sleep.
  lock.unlock();
  EventLoop::sleep_until(*until);
  lock.lock();
}

Instant Engine::tick() {
  last_tick_ = std::max(last_tick_, EventLoop::now());
  return last_tick_;
}

void Engine::iterate() {
  now_ = tick();
  loop_.dispatch();
  if (!pending_read_.empty()) {
    std::vector<Endpoint*> again;
    again.swap(pending_read_);
    for (Endpoint* ep : again) receive(*ep);
  }
  loop_.run_timers(now_);
  if (close_idle_.exchange(false)) close_idle_locked();
  service_dirty();
  dead_sockets_.clear();
  dead_listeners_.clear();
  dead_time_waits_.clear();
  dead_endpoints_.clear();
}

void Engine::service_dirty() {
  // A connection that used its whole budget comes back in the next
  // iteration (after other sockets had their turn).
  std::vector<Socket*> work;
  work.swap(dirty_);
  for (Socket* s : work) {
    s->dirty = false;
    service(*s);
  }
  flush_sends();
}

void Engine::wake_if_behind() {
  // Not waiting: the I/O thread has not started its loop, or this is a
  // stepped worker; either computes its next deadline afresh.
  if (!io_waiting_) return;
  if (!dirty_.empty() || !pending_read_.empty()) {
    loop_.wake();
    return;
  }
  // A timer earlier than the sleep's end (a retransmission timer armed by a
  // write from the program's thread): the loop's timerfd ends the sleep then,
  // without waking the thread now to compute its deadline again.
  std::optional<Instant> next = loop_.timers().next();
  if (next && (!io_wait_until_ || *next < *io_wait_until_)) {
    loop_.wake_at(*next);
    io_wait_until_ = next;
  }
}

void Engine::mark_dirty(Socket& s) {
  if (s.dirty || s.dead) return;
  s.dirty = true;
  dirty_.push_back(&s);
}

void Engine::on_socket_events(Socket& s, uint32_t events) {
  if (s.dead) return;
  s.bridge.on_events(events);
  mark_dirty(s);
}

void Engine::on_socket_timer(Socket& s, Instant now) {
  if (s.dead || !s.core) return;
  if (prune_half_open(s)) return;
  s.core->on_timer(now);
  mark_dirty(s);
}

void Engine::on_time_wait_timer(TimeWaitEntry& tw) {
  if (!tw.dead) end_time_wait(tw);
}

// One connection's turn: move bytes between the pair and the core, react to
// the core's events, send what the core has, and decide whether it is done.
void Engine::service(Socket& s) {
  if (s.dead) return;
  if (!s.core) {
    // Fresh or bound: only the program's close matters.
    if (s.bridge.app_hung_up()) destroy_socket(s, 0);
    return;
  }
  Connection& c = *s.core;
  settle_views(s);  // the pull below writes into the send buffer
  for (int round = 0; round < 8; ++round) {
    bool progress = false;
    if (s.bridge.open()) {
      if (is_synchronized(c.state())) progress |= s.bridge.pull(c, now_, scratch_);
      progress |= s.bridge.push(c, now_);
      progress |= apply_app_state(s);
    }
    while (std::optional<ConnectionEvent> e = c.poll_event()) {
      handle_event(s, *e);
      progress = true;
    }
    if (s.dead || !progress) break;
  }
  if (s.dead) return;
  // A small write the bridge still holds (FdBridge::held) goes once the
  // peer has acknowledged it, as a kernel socket's SIOCOUTQ drops to 0 then,
  // or once it is old; a response has freed it already (push).
  if (s.bridge.held() > 0) {
    if (c.send_queued() == 0) {
      s.bridge.release_held();
    } else {
      s.bridge.release_held_since(now_, kHeldWriteAge);
    }
    if (s.bridge.app_reset()) mark_dirty(s);  // that read reported it
  }
  if (s.bridge.open() && s.bridge.blocked() != s.out_armed) {
    s.out_armed = s.bridge.blocked();
    loop_.modify(s.bridge.fd(), kSocketEvents | (s.out_armed ? uint32_t{EPOLLOUT} : 0u), &s);
  }
  transmit(s);
  finish_if_done(s);
  if (!s.dead) reschedule(s);
}

// What the program did with its end of the pair, applied to the core.
bool Engine::apply_app_state(Socket& s) {
  Connection& c = *s.core;
  FdBridge& b = s.bridge;
  bool changed = false;
  bool synced = is_synchronized(c.state());
  // At exit, the program is gone once what it wrote has been taken.
  bool exit_close = exiting_ && (!synced || !b.input_pending());
  // SO_LINGER 0 discards what is not sent yet (Linux's tcp_close), so a
  // hang-up is the close at once, even with the last writes still in the pair;
  // unless the program shut its read side (SHUT_RDWR hangs the end up too, and
  // ends with FIN, as Linux).
  bool linger_abort = s.opts.linger && s.opts.linger_s == 0 && !s.read_shut_by_call;
  if (!s.app_done && (b.app_reset() || b.app_closed() || (!synced && b.app_hung_up()) ||
                      exit_close || (linger_abort && b.app_hung_up()))) {
    // RFC 2525 2.17 (as Linux): closing with unread data, or SO_LINGER 0, aborts.
    if (b.app_reset() || linger_abort) {
      c.abort(now_);
    } else {
      c.close(now_);
    }
    s.app_done = true;
    close_bridge(s, 0);
    return true;
  }
  if (!s.shut_done && b.app_write_shut()) {
    c.shutdown(now_);  // RFC 9293 3.10.4: FIN after the queued data
    s.shut_done = true;
    changed = true;
  }
  return changed;
}

void Engine::handle_event(Socket& s, ConnectionEvent e) {
  switch (e) {
    case ConnectionEvent::kEstablished:
      if (s.listener != nullptr) {
        hand_over(s);
      } else {
        s.phase = Socket::Phase::kOpen;
        cv_.notify_all();
      }
      break;
    case ConnectionEvent::kError:
      if (s.error == 0) s.error = s.core->error();
      break;
    default:
      break;
  }
}

void Engine::transmit(Socket& s) {
  Connection& c = *s.core;
  Endpoint& ep = *s.ep;
  const SockAddr* dest = ep.connected ? nullptr : &s.remote;
  const SockAddr* source = ep.wildcard ? &s.local : nullptr;
  for (int i = 0; i < kTransmitBudget; ++i) {
    if (send_.full()) flush_sends();
    std::span<uint8_t> out = send_.next();
    // The payload is not copied here: the batch sends it from the send buffer.
    TransmitViews v = c.poll_transmit_views(now_, out);
    if (v.header_len == 0) return;
    if (v.payload_size() == 0) {
      if (c.state() == TcpState::kTimeWait && v.header_len <= s.last_ack.size()) {
        std::copy_n(out.begin(), v.header_len, s.last_ack.begin());
        s.last_ack_len = v.header_len;
      }
    } else {
      s.views_batch = send_.generation();
    }
    send_.commit_views(ep.sock.fd(), v.header_len, v.payload, dest, source);
  }
  mark_dirty(s);  // budget used up: the rest next turn
}

void Engine::settle_views(Socket& s) {
  if (s.views_batch == send_.generation()) flush_sends();
}

void Engine::flush_sends() {
  if (send_.empty()) return;
  send_.flush(*this);
}

void Engine::on_send_error(int fd, int err) {
  if (err == EMSGSIZE) {
    // Larger than the interface: the error queue says how large may go.
    for (Endpoint* ep : endpoints_) {
      if (ep->sock.fd() == fd && !ep->dead) drain_errors(*ep);
    }
    return;
  }
  if (err != ECONNREFUSED) return;
  // A pending ICMP port unreachable, reported by the send: see receive().
  for (Endpoint* ep : endpoints_) {
    if (ep->sock.fd() == fd) refuse_handshakes(*ep);
  }
}

// A client socket learns of the peer's ICMP port unreachable (as a socket
// error on receive or send, or from the error queue): during the handshake
// that is a refusal (as Linux's TCP treats it), later a soft error to ignore.
// A shared port's error queue names the peer that refused (client_ports.cpp).
void Engine::refuse_handshakes(Endpoint& ep) {
  if (ep.shared) {
    drain_errors(ep);
    return;
  }
  // A connected socket's one peer.
  if (ep.connected && !ep.connections.empty())
    refuse_handshake(ep, SockAddr(ep.connections.begin()->second->remote));
}

void Engine::reschedule(Socket& s) {
  if (std::optional<Instant> d = s.core->next_deadline()) {
    loop_.timers().schedule(s, *d);
  } else {
    loop_.timers().cancel(s);
  }
}

// --- Helpers ---

Socket* Engine::find_socket(ino_t ino) {
  auto it = sockets_.find(ino);
  return it == sockets_.end() ? nullptr : it->second;
}

Listener* Engine::find_listener(ino_t ino) {
  auto it = listeners_.find(ino);
  return it == listeners_.end() ? nullptr : it->second;
}

AddrKey Engine::mtu_key(const SockAddr& a) {
  AddrKey key = AddrKey::of(a);
  key.bytes[1] = key.bytes[2] = 0;  // per address, not per port
  return key;
}

int Engine::path_mtu(const SockAddr& remote) {
  AddrKey key = mtu_key(remote);
  if (auto it = mtu_cache_.find(key); it != mtu_cache_.end()) return it->second;
  int mtu = path_mtu_to(remote);
  if (mtu_cache_.size() > 4096) mtu_cache_.clear();
  mtu_cache_[key] = mtu;
  return mtu;
}

std::unique_ptr<Connection> Engine::make_core(const SocketOptions& o, const SockAddr& remote,
                                              int mtu) {
  return std::make_unique<Connection>(core_config(o, remote, mtu));
}

ConnectionConfig Engine::core_config(const SocketOptions& o, const SockAddr& remote, int mtu) {
  ConnectionConfig cfg;
  cfg.mss = mss_for_mtu(remote.family(), mtu);
  cfg.plpmtud = plpmtud_config(remote, mtu);
  if (o.maxseg > 0) cfg.mss = static_cast<uint16_t>(std::min<int>(cfg.mss, o.maxseg));
  cfg.send_buffer = o.send_buffer_locked ? o.send_buffer : std::max(o.send_buffer, kAutotuneBuffer);
  cfg.receive_buffer = receive_split(o.receive_buffer, o.receive_buffer_locked).core;
  if (!o.receive_buffer_locked) {
    // SO_RCVBUF unset: the window starts small and grows as the program reads, up to
    // kAutotuneBuffer (Linux's tcp_moderate_rcvbuf), so a SO_RCVBUF set later bounds
    // what the peer may send at once.
    cfg.receive_buffer = std::max(cfg.receive_buffer, kAutotuneBuffer);
    cfg.receive_autotune = true;
  }
  cfg.window_scale_space = o.receive_buffer_locked ? 0 : kMaxBuffer;
  cfg.nodelay = o.nodelay;
  cfg.keepalive = o.keepalive;
  cfg.keepalive_idle = std::chrono::seconds(o.keepidle_s);
  cfg.keepalive_interval = std::chrono::seconds(o.keepintvl_s);
  cfg.keepalive_count = o.keepcnt;
  cfg.user_timeout = std::chrono::milliseconds(o.user_timeout_ms);
  cfg.syn_retries = o.syn_retries;
  cfg.congestion_control = o.congestion;
  cfg.msl = kMsl;
  cfg.delivery_coalesce = kDeliveryCoalesce;
  // Pacing spreads a window over an RTT of a real path; on loopback it only
  // adds wake-ups.
  cfg.pacing = !remote.is_loopback();
  return cfg;
}

// Local UDP address (20 bytes), remote UDP address (20), local TCP port (2),
// remote TCP port (2).
Engine::Tuple Engine::tuple_of(const SockAddr& local, const SockAddr& remote,
                               const ConnectionKey& key) const {
  Tuple tuple;
  AddrKey l = AddrKey::of(local), r = AddrKey::of(remote);
  std::copy(l.bytes.begin(), l.bytes.end(), tuple.begin());
  std::copy(r.bytes.begin(), r.bytes.end(), tuple.begin() + 20);
  tuple[40] = static_cast<uint8_t>(key.local_port >> 8);
  tuple[41] = static_cast<uint8_t>(key.local_port);
  tuple[42] = static_cast<uint8_t>(key.peer_port >> 8);
  tuple[43] = static_cast<uint8_t>(key.peer_port);
  return tuple;
}

OpenParams Engine::open_params(const SockAddr& local, const SockAddr& remote,
                               const ConnectionKey& key) {
  Tuple tuple = tuple_of(local, remote, key);
  OpenParams p;
  p.local_port = key.local_port;
  p.remote_port = key.peer_port;
  p.iss = isn_->generate(now_, tuple);  // RFC 6528
  p.ts_offset = ts_offset_of(tuple);
  return p;
}

uint32_t Engine::ts_offset_of(const Tuple& tuple) const {
  // RFC 7323 5.4: a per-connection timestamp offset, from the reversed tuple.
  Tuple reversed;
  std::copy(tuple.begin() + 20, tuple.begin() + 40, reversed.begin());
  std::copy(tuple.begin(), tuple.begin() + 20, reversed.begin() + 20);
  std::copy(tuple.begin() + 42, tuple.end(), reversed.begin() + 40);
  std::copy(tuple.begin() + 40, tuple.begin() + 42, reversed.begin() + 42);
  return isn_->hash(reversed);
}

}  // namespace tou::engine
