// The simulated network: endpoints joined by one-way links, driven by a
// virtual-time event loop (picoquic's simulator loop, quiche's Pipe). The loop
// jumps straight to the next event, a datagram arrival or an endpoint deadline,
// so minutes of traffic take milliseconds, and runs are bounded in virtual time,
// events and iterations at one instant (a stuck endpoint is reported, never a hang).
//
// One loop iteration:
//   1. every endpoint's poll_transmit() is drained at the current time and each
//      datagram is handed to the link to its destination;
//   2. the `done` predicate is checked;
//   3. the earliest event runs: an arrival (on_datagram) before a deadline due at
//      the same instant (on_timer), endpoints in the order they were added.
//
//   sim::Rng rng(seed);
//   sim::Network net(rng);
//   auto a = net.add(&client), b = net.add(&server);
//   net.connect(a, b, LinkConfig{.delay = 10ms}, LinkConfig{.delay = 10ms});
//   sim::RunResult r = net.run({}, [&] { return client.finished(); });
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "sim/event_queue.hpp"
#include "sim/link.hpp"
#include "sim/rng.hpp"

namespace tou::sim {

using EndpointId = uint32_t;

// A datagram an endpoint wants sent: its size in the buffer it was given and
// where to. size == 0 means nothing to send.
struct Transmit {
  size_t size = 0;
  EndpointId to = 0;
};

// Anything that sends and receives datagrams: a tou::Connection with its
// application (see transfer.hpp) or a scripted test endpoint.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // One datagram from `from` arrived at `now`.
  virtual void on_datagram(Instant now, EndpointId from, std::span<const uint8_t> datagram) = 0;
  // Writes the next datagram to send now into `buf` (64 KiB); {0, _} when none.
  virtual Transmit poll_transmit(Instant now, std::span<uint8_t> buf) = 0;
  // When on_timer() should run; nullopt when the endpoint waits for nothing.
  // A deadline in the past runs at the current time.
  virtual std::optional<Instant> next_deadline() const = 0;
  virtual void on_timer(Instant now) = 0;
};

struct RunLimits {
  Instant max_time = kTimeZero + std::chrono::hours(1);  // virtual
  uint64_t max_events = 50'000'000;                      // arrivals + timers + datagrams sent
  uint64_t max_events_at_one_instant = 1'000'000;        // time must move on
};

enum class RunOutcome : uint8_t {
  kDone,        // the `done` predicate returned true
  kIdle,        // nothing in flight and no deadline: nothing can ever happen again
  kTimeLimit,   // the next event lies past RunLimits::max_time
  kEventLimit,  // RunLimits::max_events reached
  kStuck,       // max_events_at_one_instant events without time moving on
};
const char* to_string(RunOutcome outcome);

struct RunResult {
  RunOutcome outcome = RunOutcome::kIdle;
  Instant end{};        // virtual time when the run stopped
  uint64_t events = 0;  // total so far on this network
  // kDone and kIdle are normal ends; the others mean a limit was hit.
  bool hit_limit() const { return outcome != RunOutcome::kDone && outcome != RunOutcome::kIdle; }
};

// One line of the trace: what happened, when, between whom.
struct TraceEvent {
  enum class Kind : uint8_t { kSend, kArrive, kTimer, kNoRoute };
  Kind kind;
  Instant at;
  EndpointId endpoint;  // sender for kSend / kNoRoute, receiver for kArrive, owner for kTimer
  EndpointId peer;      // the other end (kTimer: same as endpoint)
  size_t size;          // datagram bytes (0 for kTimer)
  uint64_t digest;      // hash of the datagram bytes (0 for kTimer)
  SendOutcome link{};   // kSend: what the link did with it
  friend bool operator==(const TraceEvent&, const TraceEvent&) = default;
};
std::string to_string(const TraceEvent& event);

// A 64-bit digest of bytes (not cryptographic; for traces and fingerprints).
uint64_t digest(std::span<const uint8_t> bytes, uint64_t seed = 0);

class Network {
 public:
  // Every link draws from `rng`, which must outlive the network.
  explicit Network(Rng& rng);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Registers an endpoint (not owned; must outlive the network); ids count from 0.
  EndpointId add(Endpoint* endpoint);
  // Joins a and b with one link each way (replacing any previous one).
  void connect(EndpointId a, EndpointId b, const LinkConfig& a_to_b, const LinkConfig& b_to_a);

  // Runs until `done` returns true (checked after each event and its transmissions),
  // nothing is left to do, or a limit is hit. Can be called again to continue.
  RunResult run(const RunLimits& limits = {}, const std::function<bool()>& done = {});

  Instant now() const { return now_; }
  uint64_t events() const { return events_; }
  // The link from -> to; nullptr when there is none.
  const Link* link(EndpointId from, EndpointId to) const;
  // Datagrams addressed to an endpoint with no link to it.
  uint64_t no_route() const { return no_route_; }
  size_t in_flight() const { return in_flight_.size(); }

  // Every event goes to `trace` (optional), with the datagram's bytes (as sent
  // for kSend, as arrived for kArrive, empty for kTimer), and into trace_digest().
  using TraceSink = std::function<void(const TraceEvent&, std::span<const uint8_t>)>;
  void set_trace(TraceSink trace) { trace_ = std::move(trace); }
  // Running hash of every trace event so far: equal digests mean equal runs.
  uint64_t trace_digest() const { return trace_digest_; }

 private:
  struct Packet {
    EndpointId from;
    EndpointId to;
    std::vector<uint8_t> bytes;
  };
  struct LinkSlot {
    EndpointId from;
    EndpointId to;
    std::unique_ptr<Link> link;
  };

  Link* find_link(EndpointId from, EndpointId to);
  // Drains every endpoint's transmissions; false when the event limit was hit.
  bool flush(const RunLimits& limits);
  void record(const TraceEvent& event, std::span<const uint8_t> bytes);

  Rng& rng_;
  std::vector<Endpoint*> endpoints_;
  std::vector<LinkSlot> links_;
  EventQueue<Packet> in_flight_;
  std::vector<Arrival> arrivals_;  // scratch for Link::send
  std::vector<uint8_t> buf_;       // scratch for poll_transmit
  Instant now_{};
  uint64_t events_ = 0;
  uint64_t no_route_ = 0;
  TraceSink trace_;
  uint64_t trace_digest_ = 0;
};

}  // namespace tou::sim
