// The engine's view of a tou socket: a Socket (one that is not a listener:
// fresh, bound, connecting or connected, with its end of the socket pair and,
// once it has one, its Connection, the protocol core) or a Listener (its end
// of the listening socket's pair, its backlog and the connections waiting to
// be accepted).
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "core/connection.hpp"
#include "engine/address.hpp"
#include "engine/bridge.hpp"
#include "engine/engine.hpp"
#include "engine/event_loop.hpp"
#include "engine/timer_heap.hpp"

namespace tou::engine {

// What the engine watches on a connection's end of its pair, and on a
// listener's (read only for the program's last close: the filler that keeps
// the program's end unwritable, make_unwritable, stays).
constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
constexpr uint32_t kListenerEvents = EPOLLRDHUP | EPOLLET;

struct Socket final : EventLoop::Handler, Timer {
  enum class Phase : uint8_t { kFresh, kBound, kConnecting, kOpen };

  explicit Socket(Engine* e) : engine(e) {}
  void on_events(uint32_t events) override { engine->on_socket_events(*this, events); }
  void on_timer(Instant now) override { engine->on_socket_timer(*this, now); }

  Engine* engine;
  ino_t ino = 0;  // 0 until the program has a descriptor (half-open accepted connections)
  int domain = AF_INET;
  SocketOptions opts;
  Phase phase = Phase::kFresh;
  FdBridge bridge;
  std::unique_ptr<Connection> core;
  Endpoint* ep = nullptr;
  // The UDP addresses the connection's datagrams carry, except local's port
  // on a client connection: its TCP port (a connection that shares its UDP
  // port with another to the same peer has one of its own; client_ports.cpp).
  SockAddr local;
  SockAddr remote;
  ConnectionKey key;  // in ep->connections: remote, and the TCP ports
  // The names a TCP user expects (getsockname, getpeername, accept, TCP_INFO):
  // the addresses with the TCP ports, the same 4-tuple at both ends.
  SockAddr local_name() const { return local; }
  SockAddr remote_name() const {
    SockAddr a = remote;
    if (core) a.set_port(key.peer_port);
    return a;
  }
  bool in_demux = false;
  Listener* listener = nullptr;  // the listener, until handed over
  bool half_open = false;        // counted in listener->half_open
  int handoff_fd = -1;           // program-side end waiting to be handed over
  int app_fd_hint = -1;          // the program's descriptor number when it was made here
  bool reset_marked = false;     // mark_reset_for_app done while the bridge stays open
  int error = 0;                 // SO_ERROR
  bool shut_done = false;        // core.shutdown() after the program's SHUT_WR
  bool app_done = false;         // the program closed: core.close() or abort() done
  // tou_shutdown(SHUT_RD or SHUT_RDWR) was called: the program's end may hang
  // up without a close (FdBridge::app_read_shut() is what the pair shows).
  bool read_shut_by_call = false;
  bool dirty = false;
  bool dead = false;
  bool out_armed = false;              // EPOLLOUT asked for (only while the pair is full)
  std::array<uint8_t, 96> last_ack{};  // the datagram that acknowledged the peer's FIN
  size_t last_ack_len = 0;
  // The send batch's generation() when it last took payload views of the core's
  // send buffer (0: never): until that batch is flushed, the buffer must not change.
  uint64_t views_batch = 0;
  uint64_t inline_writes = 0;        // Engine::send_inline calls that took the bytes
  uint64_t inline_reads = 0;         // Engine::receive_inline waits that served datagrams
  uint64_t coalesced_datagrams = 0;  // taken in a turn after a coalescing sleep
  // A write left from the caller's thread since the last read's wait there:
  // a request or a response, so the next read likely waits for an answer.
  bool answer_awaited = false;
};

// A count that the listeners of one SO_REUSEPORT group share (listen.cpp):
// the half-open connections of every worker count against one backlog.
class SharedCount {
 public:
  SharedCount() : count_(std::make_shared<std::atomic<int>>(0)) {}
  void share(std::shared_ptr<std::atomic<int>> c) { count_ = std::move(c); }
  SharedCount& operator++() {
    ++*count_;
    return *this;
  }
  SharedCount& operator--() {
    --*count_;
    return *this;
  }
  operator int() const { return count_->load(std::memory_order_relaxed); }
  // Counts one more if that stays within `limit` (several workers admit into
  // one count: a load and an increment apart could overshoot it).
  bool try_acquire(int limit) {
    int cur = count_->load(std::memory_order_relaxed);
    while (cur < limit) {
      if (count_->compare_exchange_weak(cur, cur + 1)) return true;
    }
    return false;
  }
  // Counts one less if the count is above `floor`: the check and the decrement
  // are one step, so that two workers cannot both take the last one above it.
  bool try_release_above(int floor) {
    int cur = count_->load(std::memory_order_relaxed);
    while (cur > floor) {
      if (count_->compare_exchange_weak(cur, cur - 1)) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<std::atomic<int>> count_;
};

// What the kernel charges for one accept record, learnt from SIOCOUTQ before
// and after a record is sent; `mu` keeps another worker's record of the same
// listener from falling between the two looks.
struct RecordCharge {
  std::mutex mu;
  std::atomic<int> bytes{0};
  void raise(int b) {
    int cur = bytes.load();
    while (b > cur && !bytes.compare_exchange_weak(cur, b)) {
    }
  }
};

struct Listener final : EventLoop::Handler {
  explicit Listener(Engine* e) : engine(e) {}
  void on_events(uint32_t events) override { engine->on_listener_events(*this, events); }

  Engine* engine;
  ino_t ino = 0;
  int domain = AF_INET;
  SocketOptions opts;
  int efd = -1;  // the engine end of the listening socket's pair
  Endpoint* ep = nullptr;
  int backlog = 1;
  SharedCount half_open;
  std::optional<Instant> last_cookie_sent;  // cookies are checked for SynCookies::kLifetime
  // What the kernel charges for one unread accept record (shared by a group's
  // listeners, which write into one pair).
  std::shared_ptr<RecordCharge> record_charge = std::make_shared<RecordCharge>();
  int queued_records = -1;  // accept_queue() as of queued_at (-1: read it again)
  Instant queued_at{};
  std::deque<Socket*> ready;  // established, waiting for room in the pair
  uint64_t handed_over = 0;
  bool out_armed = false;  // EPOLLOUT asked for (only while the pair is full)
  bool dead = false;
};

}  // namespace tou::engine
