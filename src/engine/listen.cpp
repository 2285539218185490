// A listener served by every worker: one UDP socket per worker, bound to the
// listener's address in a SO_REUSEPORT group. The kernel picks a group's
// socket by a hash of the datagram's addresses, so every segment of one peer
// reaches the same worker, which makes, serves and hands over (through its
// own copy of the listening descriptor's engine end) the connections of the
// peers it is given. The accept queue is the kernel's, shared: every worker
// writes its accept records into the same socket pair.
//
// The group must not change while connections use it: the kernel would give
// some peers' segments to another socket, whose worker does not know them. So
// a member with no references left (its listener closed, its connections
// gone) stays bound, idle, until every member of the group is idle; then all
// close. The first socket is the one the program bound (SO_REUSEPORT is set
// on it at listen(), so that a later bind() elsewhere still finds the port
// taken).
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/high_fd.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

struct PortGroup {
  std::atomic<int> busy{0};  // members with references
  std::shared_ptr<std::atomic<int>> half_open = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<RecordCharge> record_charge = std::make_shared<RecordCharge>();
  std::mutex mu;
  std::vector<Engine*> members;  // the workers with a socket in the group

  void add(Engine* e) {
    std::lock_guard g(mu);
    if (std::find(members.begin(), members.end(), e) == members.end()) members.push_back(e);
  }
  void close_idle_members() {
    std::lock_guard g(mu);
    for (Engine* e : members) e->post_close_idle();
  }
};

void share_group_counts(Listener& l, const std::shared_ptr<PortGroup>& group) {
  l.half_open.share(group->half_open);
  l.record_charge = group->record_charge;
}

int Engine::prepare_group(ino_t ino, GroupSpec& out) {
  std::lock_guard g(mu_);
  if (Listener* l = find_listener(ino)) {  // listen() again (group null: made with one worker)
    out = GroupSpec{l->ep->group, l->ep->local, l->domain, l->opts};
    return 0;
  }
  Socket* s = find_socket(ino);
  if (s == nullptr) return tombstones_.contains(ino) ? EINVAL : ENOTSOCK;
  if (int err = listen_endpoint(*s); err != 0) return err;
  Endpoint& ep = *s->ep;
  if (ep.group == nullptr) {
    int one = 1;
    if (::setsockopt(ep.sock.fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return errno;
    ep.group = std::make_shared<PortGroup>();
    ep.group->busy = 1;
    ep.group->add(this);
  }
  out = GroupSpec{ep.group, ep.local, s->domain, s->opts};
  return 0;
}

int Engine::join_group(const GroupSpec& spec) {
  std::lock_guard g(mu_);
  if (auto it = bound_.find(AddrKey::of(spec.local)); it != bound_.end()) {
    Endpoint& ep = *it->second;
    if (ep.group != spec.group) return EADDRINUSE;
    if (ep.listener == nullptr) {
      hold_endpoint(ep);  // a member from an earlier listener
      ep.joining = true;
    }
    return 0;
  }
  Endpoint* ep = nullptr;
  if (int err = open_endpoint(spec.domain, spec.opts, &spec.local, ep, true); err != 0) return err;
  ep->refs = 1;
  ep->bound_explicitly = true;
  ep->group = spec.group;
  ep->joining = true;
  ++spec.group->busy;
  spec.group->add(this);
  if (ep->wildcard) ep->sock.enable_pktinfo();
  bound_[AddrKey::of(ep->local)] = ep;
  return 0;
}

void Engine::leave_group(const GroupSpec& spec) {
  std::lock_guard g(mu_);
  auto it = bound_.find(AddrKey::of(spec.local));
  if (it == bound_.end() || it->second->group != spec.group || it->second->listener != nullptr)
    return;
  it->second->joining = false;
  release_endpoint(*it->second);
}

int Engine::listener_fd(ino_t ino) {
  std::lock_guard g(mu_);
  Listener* l = find_listener(ino);
  return l != nullptr && l->efd >= 0 ? move_high(::fcntl(l->efd, F_DUPFD_CLOEXEC, 0)) : -1;
}

void Engine::add_shadow_listener(ino_t ino, int efd, const GroupSpec& spec, int backlog) {
  std::lock_guard g(mu_);
  if (Listener* l = find_listener(ino); l != nullptr && l->ep->group == spec.group) {
    l->backlog = backlog;  // listen() again: the new backlog
    ::close(efd);
    return;
  }
  auto it = bound_.find(AddrKey::of(spec.local));
  if (it == bound_.end() || it->second->group != spec.group || it->second->listener != nullptr) {
    ::close(efd);
    return;
  }
  Endpoint& ep = *it->second;
  ep.joining = false;
  auto owned = std::make_unique<Listener>(this);
  Listener& l = *owned;
  l.ino = ino;
  l.domain = spec.domain;
  l.opts = spec.opts;
  l.ep = &ep;  // takes join_group()'s reference
  l.backlog = backlog;
  share_group_counts(l, spec.group);
  l.efd = efd;
  if (loop_.add(efd, kListenerEvents, &l) != 0) {
    ::close(efd);
    release_endpoint(ep);
    return;
  }
  ep.listener = &l;
  listeners_[ino] = owned.release();  // not in the registry: the first worker answers for it
}

void Engine::add_listener_stats(ino_t ino, tou_listener_info& info) {
  std::lock_guard g(mu_);
  Listener* l = find_listener(ino);
  if (l == nullptr) return;
  const EndpointStats& st = l->ep->stats;
  info.datagrams_received += st.datagrams_received;
  info.malformed += st.malformed;
  info.syn_received += st.syn_received;
  info.syn_dropped += st.syn_dropped;
  info.resets_sent += st.resets_sent;
  info.handed_over += l->handed_over;
  info.accept_queue += static_cast<uint32_t>(l->ready.size());  // (the pair's queue is shared)
  info.syn_cookies_sent += st.syn_cookies_sent;
  info.syn_cookies_validated += st.syn_cookies_validated;
  info.syn_cookies_rejected += st.syn_cookies_rejected;
  info.half_open_evicted += st.half_open_evicted;
  info.accept_overflows += st.accept_overflows;
  info.resets_suppressed += st.resets_suppressed;
  info.time_wait_acks_suppressed += st.time_wait_acks_suppressed;
}

bool Engine::listener_options(ino_t ino, SocketOptions& out) {
  std::lock_guard g(mu_);
  Listener* l = find_listener(ino);
  if (l == nullptr || l->ep->group == nullptr) return false;
  out = l->opts;
  return true;
}

void Engine::set_listener_options(ino_t ino, const SocketOptions& opts) {
  std::lock_guard g(mu_);
  if (Listener* l = find_listener(ino)) l->opts = opts;
}

void Engine::reap_closed_listener(const SockAddr& addr) {
  std::lock_guard g(mu_);
  reap_locked(addr);
}

// A listener on this address whose program closed it a moment ago, before the
// I/O thread noticed: close it now, as close() would have in a kernel.
void Engine::reap_locked(const SockAddr& addr) {
  auto it = bound_.find(AddrKey::of(addr));
  if (it == bound_.end() || it->second->listener == nullptr) return;
  Listener& old = *it->second->listener;
  pollfd p{old.efd, POLLIN, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0) {
    now_ = tick();
    close_listener(old);
  }
}

void Engine::hold_endpoint(Endpoint& ep) {
  if (ep.refs++ == 0 && ep.idle) {
    ep.idle = false;
    ++ep.group->busy;
  }
}

bool Engine::idle_in_group(Endpoint& ep) {
  if (!ep.idle) {
    ep.idle = true;
    if (ep.group->busy.fetch_sub(1) == 1) {
      ep.group->close_idle_members();  // this worker's too, at its next turn
    }
  }
  return false;
}

void Engine::close_idle_members() {
  std::lock_guard g(mu_);
  close_idle_locked();
}

void Engine::close_idle_locked() {
  std::vector<Endpoint*> idle;
  for (Endpoint* ep : endpoints_) {
    if (ep->idle && ep->refs == 0 && ep->group->busy == 0) idle.push_back(ep);
  }
  for (Endpoint* ep : idle) close_endpoint(*ep);
}

bool Engine::holds_address(const SockAddr& addr) {
  std::lock_guard g(mu_);
  return bound_.contains(AddrKey::of(addr));
}

bool Engine::export_fresh(ino_t ino, FreshSocket& out) {
  std::lock_guard g(mu_);
  Socket* s = find_socket(ino);
  if (s == nullptr || s->core || s->ep != nullptr || !s->bridge.open()) return false;
  loop_.remove(s->bridge.fd());
  out.efd = s->bridge.release();
  out.domain = s->domain;
  out.opts = s->opts;
  out.app_fd_hint = s->app_fd_hint;
  sockets_.erase(ino);
  s->ino = 0;
  bury(*s);
  return true;
}

void Engine::import_fresh(ino_t ino, const FreshSocket& in) {
  std::lock_guard g(mu_);
  auto s = std::make_unique<Socket>(this);
  s->domain = in.domain;
  s->opts = in.opts;
  s->local = SockAddr::any(in.domain);
  s->app_fd_hint = in.app_fd_hint;
  s->bridge.reset(in.efd);
  s->ino = ino;
  if (loop_.add(in.efd, EPOLLIN | EPOLLRDHUP | EPOLLET, s.get()) != 0) return;  // closes it
  sockets_[ino] = s.get();
  tombstones_.erase(ino);
  workers::record(ino, this);
  all_sockets_.insert(s.release());
  // The program may have closed its end meanwhile: look at it once.
  pollfd p{in.efd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) == 1) {
    Socket& moved = *sockets_[ino];
    moved.bridge.on_events(static_cast<uint32_t>(p.revents));
    mark_dirty(moved);
    loop_.wake();
  }
}

// --- Across the workers (interface.cpp) ---

int listen_on_workers(Engine& owner, int fd, ino_t ino, int backlog) {
  if (workers::count() < 2) return owner.listen(fd, ino, backlog);
  GroupSpec spec;
  if (int err = owner.prepare_group(ino, spec); err != 0) return err;
  if (spec.group == nullptr) return owner.listen(fd, ino, backlog);
  // The owner listens first, so that its socket (the one the program bound)
  // answers at once; the other members drop SYNs while they join.
  if (int err = owner.listen(fd, ino, backlog); err != 0) return err;
  for (int i = 0; i < workers::count(); ++i) {
    Engine* w = workers::at(i);
    if (w == &owner || w->join_group(spec) != 0) continue;
    int efd = owner.listener_fd(ino);
    if (efd < 0) {
      w->leave_group(spec);
      continue;
    }
    w->add_shadow_listener(ino, efd, spec, std::clamp(backlog, 1, kMaxBacklog));
  }
  return 0;
}

void add_group_listener_stats(Engine& owner, ino_t ino, tou_listener_info& info) {
  for (int i = 0; i < workers::count(); ++i) {
    if (Engine* w = workers::at(i); w != &owner) w->add_listener_stats(ino, info);
  }
}

void share_listener_options(Engine& owner, ino_t ino) {
  SocketOptions opts;
  if (workers::count() < 2 || !owner.listener_options(ino, opts)) return;
  for (int i = 0; i < workers::count(); ++i) {
    if (Engine* w = workers::at(i); w != &owner) w->set_listener_options(ino, opts);
  }
}

int bind_on_workers(Engine*& owner, ino_t ino, const SockAddr& addr) {
  const int n = workers::count();
  for (int i = 0; i < n; ++i) workers::at(i)->reap_closed_listener(addr);
  for (int i = 0; i < n; ++i) workers::at(i)->close_idle_members();
  // SO_REUSEADDR may take over an endpoint of another worker's: the socket
  // moves there first.
  for (int i = 0; i < n; ++i) {
    Engine* w = workers::at(i);
    if (w == owner || !w->holds_address(addr)) continue;
    Engine::FreshSocket fresh;
    if (owner->export_fresh(ino, fresh)) {
      w->import_fresh(ino, fresh);
      owner = w;
    }
    break;
  }
  return owner->bind(ino, addr);
}

}  // namespace tou::engine
