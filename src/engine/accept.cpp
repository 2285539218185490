// Accepting: a listener's connection, once established, is handed over to the
// program through the listener's accept queue (a record with the program's
// end of a new socket pair, sent over the listener's own pair), in order, as
// the queue takes them; and a listener is closed with what it still held.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/high_fd.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

void Engine::hand_over(Socket& s) {
  Listener& l = *s.listener;
  if (s.half_open) --l.half_open;  // (a cookie's connection never was)
  s.half_open = false;
  s.phase = Socket::Phase::kOpen;
  int app = -1, eng = -1;
  if (make_pair(false, true, app, eng) != 0) {
    s.core->abort(now_);  // no descriptors left: refuse the connection
    return;
  }
  // Both ends are the engine's until accept() takes the program's.
  app = move_high(app);
  eng = move_high(eng);
  s.bridge.reset(eng);
  if (s.opts.receive_buffer_locked)  // the listener's SO_RCVBUF (make_pair made it deep)
    size_pair(eng, receive_split(s.opts.receive_buffer, true).pair_bytes);
  loop_.add(eng, kSocketEvents, &s);
  struct stat st;
  ::fstat(app, &st);
  s.ino = st.st_ino;
  sockets_[s.ino] = &s;
  tombstones_.erase(s.ino);
  workers::record(s.ino, this);
  const SockAddr remote_name = s.remote_name();
  bind_name(app, FdKind::kConnection, s.local_name(), &remote_name);
  s.handoff_fd = app;
  l.ready.push_back(&s);
  flush_handoffs(l);
}

void Engine::flush_handoffs(Listener& l) {
  while (!l.ready.empty() && l.efd >= 0) {
    Socket& s = *l.ready.front();
    // No other worker's record between the two looks (listen.cpp).
    std::unique_lock charge_lock(l.record_charge->mu);
    int before = unread_by_peer(l.efd);
    int err = send_accept(l.efd, s.handoff_fd, s.local_name(), s.remote_name());
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!l.out_armed) {  // EPOLLOUT resumes
        loop_.modify(l.efd, kListenerEvents | EPOLLOUT, &l);
        l.out_armed = true;
      }
      return;
    }
    int after = err == 0 ? unread_by_peer(l.efd) : 0;
    charge_lock.unlock();
    l.ready.pop_front();
    ::close(s.handoff_fd);
    s.handoff_fd = -1;
    s.listener = nullptr;
    if (err != 0) {
      s.core->abort(now_);
      mark_dirty(s);
      continue;
    }
    // The kernel's charge for one record: accept_queue() divides by it.
    if (after > before) l.record_charge->raise(after - before);
    ++l.handed_over;
    l.queued_records = -1;  // accept_backlog() reads the queue again
  }
}

void Engine::on_listener_events(Listener& l, uint32_t events) {
  if (l.dead) return;
  if (events & EPOLLOUT) {
    loop_.modify(l.efd, kListenerEvents, &l);
    l.out_armed = false;
    flush_handoffs(l);
  }
  if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
    // The last holder of the listening descriptor closed it: the filler, then
    // end-of-file.
    char drain[4096];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = ::recv(l.efd, drain, sizeof drain, MSG_DONTWAIT);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_listener(l);
      return;
    }
  }
}

int Engine::accept_queue(const Listener& l) const {
  // Records the program has not read yet, from the bytes the kernel still
  // charges to our end (SIOCOUTQ): no message back is needed per accept().
  int charged = unread_by_peer(l.efd);
  if (charged <= 0) return 0;
  const int record = l.record_charge->bytes;
  if (record <= 0) return 1;
  return (charged + record - 1) / record;
}

void Engine::close_listener(Listener& l) {
  // Connections not yet accepted are reset, as a kernel's TCP does.
  std::vector<Socket*> orphans;
  for (auto& [key, s] : l.ep->connections) {
    if (s->listener == &l) orphans.push_back(s);
  }
  for (Socket* s : orphans) {
    s->core->abort(now_);
    if (s->half_open) --l.half_open;
    s->half_open = false;
    s->listener = nullptr;
    mark_dirty(*s);
  }
  l.ready.clear();
  l.dead = true;
  loop_.remove(l.efd);
  ::close(l.efd);
  l.efd = -1;
  listeners_.erase(l.ino);
  add_tombstone(l.ino, 0, l.ep->local, true);
  l.ep->listener = nullptr;
  Endpoint* ep = l.ep;
  l.ep = nullptr;
  release_endpoint(*ep);
  dead_listeners_.emplace_back(&l);
}

}  // namespace tou::engine
