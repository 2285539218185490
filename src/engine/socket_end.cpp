// How a connection ends on the engine's side: it leaves the demultiplexer at CLOSED,
// the program's end of the pair sees end-of-file or the reset, a connection
// in TIME-WAIT whose program is gone is reduced to core::TimeWait, and what
// it held (its Socket, its endpoint's reference, a tombstone with its error
// for the program's later calls) is released.
#include <algorithm>
#include <cassert>
#include <memory>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {
constexpr size_t kMaxTombstones = 4096;  // in the process, over all workers
constexpr size_t kMinTombstonesPerWorker = 256;
}  // namespace

void Engine::finish_if_done(Socket& s) {
  Connection& c = *s.core;
  if (c.state() == TcpState::kClosed) {
    // The connection is over: its peer's address may start a new one at once
    // (a SYN from it must reach the listener, not this CLOSED core, which
    // would refuse it), even while the program still reads what is left.
    leave_demux(s);
    // Closed cleanly (the peer's FIN, then our last ACK or an RST in TIME-WAIT)
    // with received bytes not yet delivered: the program reads them first, as
    // from a kernel socket that reached CLOSED.
    bool undelivered = c.readable() > 0;
    if (s.error == 0 && s.bridge.open() && undelivered) return;
    // Reset (or timed out) with received bytes not yet delivered: the
    // program reads them first, then the error, as from a kernel socket
    // (tcp_recvmsg returns queued data before sk_err). Its writes fail now.
    if (s.error != 0 && s.bridge.open() && undelivered && !s.bridge.app_hung_up() &&
        !s.bridge.deliver_before_error(c, now_)) {
      if (!s.bridge.writes_refused()) {
        // The mark goes in while the engine end still reads.
        if (s.error == ECONNRESET && s.ino != 0)
          s.reset_marked = mark_reset_for_app(s.ino, s.app_fd_hint);
        s.bridge.refuse_writes();
      }
      return;
    }
    destroy_socket(s, s.error);
    return;
  }
  std::optional<TimeWait> reduced;
  if (c.state() == TcpState::kTimeWait && !s.bridge.open() && s.in_demux) {
    reduced = TimeWait::of(c, {s.last_ack.data(), s.last_ack_len});
  }
  if (reduced) {
    // Keep only what TIME-WAIT needs (RFC 9293 3.4.2): the final ACK to repeat.
    auto tw = std::make_unique<TimeWaitEntry>();
    tw->engine = this;
    tw->ep = s.ep;
    tw->remote = s.remote;
    tw->local = s.local;
    tw->key = s.key;
    tw->state = *reduced;
    loop_.timers().schedule(*tw, tw->state.expires());
    ++s.ep->refs;
    s.ep->time_wait[s.key] = std::move(tw);
    destroy_socket(s, 0);
  }
}

// The program's end sees the connection's end: end-of-file, or ECONNRESET
// when bytes are still unread here (see mark_reset_for_app, which makes
// it so for a reset). The exact error stays in a tombstone for SO_ERROR and
// tou_recv.
void Engine::close_bridge(Socket& s, int error) {
  if (!s.bridge.open()) return;
  bool in_pair = false;
  if (s.reset_marked) {
    in_pair = error == ECONNRESET;
    if (!in_pair) s.bridge.discard_input();  // reported already (tou_send took it)
  } else if (error == ECONNRESET && s.ino != 0) {
    in_pair = mark_reset_for_app(s.ino, s.app_fd_hint);
  }
  loop_.remove(s.bridge.fd());
  s.bridge.close();
  if (s.ino != 0) {
    if (auto it = sockets_.find(s.ino); it != sockets_.end() && it->second == &s)
      sockets_.erase(it);
    std::shared_ptr<tou_info> info;
    if (s.core) {
      info = std::make_shared<tou_info>();
      get_connection_info(&s, *info);
    }
    add_tombstone(s.ino, error, s.local, false, std::move(info), in_pair);
  }
}

void Engine::leave_demux(Socket& s) {
  if (!s.in_demux) return;
  if (s.ep->last_connection == &s) s.ep->last_connection = nullptr;
  s.ep->connections.erase(s.key);
  s.in_demux = false;
}

void Engine::destroy_socket(Socket& s, int error) {
  if (s.dead) return;
  leave_demux(s);
  if (s.listener != nullptr) {
    Listener& l = *s.listener;
    if (s.half_open) --l.half_open;
    l.ready.erase(std::remove(l.ready.begin(), l.ready.end(), &s), l.ready.end());
    s.listener = nullptr;
  }
  if (s.handoff_fd >= 0) {
    ::close(s.handoff_fd);
    s.handoff_fd = -1;
  }
  // The program may still hold its descriptor after its end of the pair
  // closed (SHUT_WR and end-of-file): TCP_INFO shows the final state then.
  if (!s.bridge.open() && s.core && s.ino != 0) {
    if (auto it = tombstones_.find(s.ino); it != tombstones_.end() && it->second.info) {
      get_connection_info(&s, *it->second.info);
    }
  }
  close_bridge(s, error);
  report_end(s);
  loop_.timers().cancel(s);
  if (s.ep != nullptr) {
    Endpoint* ep = s.ep;
    s.ep = nullptr;
    release_endpoint(*ep);
  }
  bury(s);
  cv_.notify_all();
}

void Engine::bury(Socket& s) {
  s.dead = true;
  if (s.dirty) {  // freed at the end of this iteration: never serviced after that
    std::erase(dirty_, &s);
    s.dirty = false;
  }
  all_sockets_.erase(&s);
  dead_sockets_.emplace_back(&s);
}

void Engine::add_tombstone(ino_t ino, int error, const SockAddr& local, bool listener,
                           std::shared_ptr<tou_info> info, bool error_in_pair) {
  auto [it, inserted] = tombstones_.insert_or_assign(
      ino, Tombstone{error, local, listener, std::move(info), error_in_pair});
  if (inserted) tombstone_order_.push_back(ino);
  // The bound is the process's: each of N workers keeps 1/N of it.
  const size_t cap = std::max<size_t>(
      kMaxTombstones / static_cast<size_t>(std::max(1, workers::count())), kMinTombstonesPerWorker);
  while (tombstone_order_.size() > cap) {
    ino_t gone = tombstone_order_.front();
    tombstone_order_.pop_front();
    if (tombstones_.erase(gone) != 0 && !sockets_.contains(gone) && !listeners_.contains(gone))
      workers::forget(gone, this);
  }
}

void Engine::release_endpoint(Endpoint& ep) {
  if (--ep.refs > 0) return;
  assert(ep.connections.empty() && ep.time_wait.empty() && ep.listener == nullptr);
  if (ep.group != nullptr && !idle_in_group(ep)) return;
  close_endpoint(ep);
}

void Engine::close_endpoint(Endpoint& ep) {
  // Datagrams queued for this socket (a final RST or ACK) leave before it
  // closes: the batch holds its descriptor number, which may be reused.
  flush_sends();
  ep.dead = true;
  leave_pool(ep);
  loop_.remove(ep.sock.fd());
  if (ep.bound_explicitly) {
    auto it = bound_.find(AddrKey::of(ep.local));
    if (it != bound_.end() && it->second == &ep) bound_.erase(it);
  }
  ep.sock.close();
  endpoints_.erase(&ep);
  dead_endpoints_.emplace_back(&ep);
}

}  // namespace tou::engine
