// The engine's view of a tou socket: a Stream (a socket that is fresh, bound,
// connecting or connected, with its protocol core and its end of the socket
// pair) or a Listener (its end of the listening socket's pair, its backlog and
// the connections waiting to be accepted).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "core/connection.hpp"
#include "engine/address.hpp"
#include "engine/bridge.hpp"
#include "engine/engine.hpp"
#include "engine/event_loop.hpp"
#include "engine/timer_heap.hpp"

namespace tou::engine {

struct Stream final : EventLoop::Handler, Timer {
  enum class Phase : uint8_t { kFresh, kBound, kConnecting, kOpen };

  explicit Stream(Engine* e) : engine(e) {}
  void on_events(uint32_t events) override { engine->on_stream_events(*this, events); }
  void on_timer(Instant now) override { engine->on_stream_timer(*this, now); }

  Engine* engine;
  ino_t ino = 0;  // 0 until the program has a descriptor (half-open accepted flows)
  int domain = AF_INET;
  SocketOptions opts;
  Phase phase = Phase::kFresh;
  StreamBridge bridge;
  std::unique_ptr<Connection> core;
  Endpoint* ep = nullptr;
  SockAddr local;
  SockAddr remote;
  AddrKey key;  // remote's key in ep->flows
  bool in_flows = false;
  Listener* listener = nullptr;  // the listener, until handed over
  bool half_open = false;        // counted in listener->half_open
  int handoff_fd = -1;           // program-side end waiting to be handed over
  int app_fd_hint = -1;          // the program's descriptor number when it was made here
  bool reset_marked = false;     // mark_reset_for_app done while the bridge stays open
  int error = 0;                 // SO_ERROR
  bool shut_done = false;        // core.shutdown() after the program's SHUT_WR
  bool app_done = false;         // the program closed: core.close() or abort() done
  bool dirty = false;
  bool dead = false;
  bool out_armed = false;              // EPOLLOUT asked for (only while the pair is full)
  std::array<uint8_t, 96> last_ack{};  // the datagram that acknowledged the peer's FIN
  size_t last_ack_len = 0;
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
  int half_open = 0;
  std::optional<Instant> last_cookie_sent;  // cookies are checked for SynCookies::kLifetime
  int record_charge = 0;                    // what the kernel charges for one unread accept record
  std::deque<Stream*> ready;                // established, waiting for room in the pair
  uint64_t handed_over = 0;
  bool out_armed = false;  // EPOLLOUT asked for (only while the pair is full)
  bool dead = false;
};

}  // namespace tou::engine
