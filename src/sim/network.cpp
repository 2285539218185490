#include "sim/network.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <fmt/format.h>

namespace tou::sim {

namespace {

constexpr size_t kMaxDatagram = 65536;

uint64_t mix(uint64_t h, uint64_t v) {
  return splitmix64(h ^ v);
}

const char* kind_name(TraceEvent::Kind kind) {
  switch (kind) {
    case TraceEvent::Kind::kSend:
      return "send";
    case TraceEvent::Kind::kArrive:
      return "arrive";
    case TraceEvent::Kind::kTimer:
      return "timer";
    case TraceEvent::Kind::kNoRoute:
      return "no-route";
  }
  return "?";
}

}  // namespace

const char* to_string(RunOutcome outcome) {
  switch (outcome) {
    case RunOutcome::kDone:
      return "done";
    case RunOutcome::kIdle:
      return "idle";
    case RunOutcome::kTimeLimit:
      return "virtual time limit";
    case RunOutcome::kEventLimit:
      return "event limit";
    case RunOutcome::kStuck:
      return "stuck (time does not advance)";
  }
  return "?";
}

std::string to_string(const TraceEvent& e) {
  std::string s = fmt::format("{:>12}us {:<8} {} {} {} bytes {:016x}", to_us(e.at),
                              kind_name(e.kind), e.endpoint, e.peer, e.size, e.digest);
  if (e.kind == TraceEvent::Kind::kSend) {
    s += fmt::format(" {}{}{}{}", to_string(e.link.fate), e.link.reordered ? " reordered" : "",
                     e.link.corrupted ? " corrupted" : "", e.link.duplicated ? " duplicated" : "");
  }
  return s;
}

uint64_t digest(std::span<const uint8_t> bytes, uint64_t seed) {
  uint64_t h = seed ^ (bytes.size() * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL + (h >> 29);
  }
  uint64_t tail = 0;
  for (; i < bytes.size(); ++i) tail = (tail << 8) | bytes[i];
  return splitmix64(h ^ tail);
}

Network::Network(Rng& rng) : rng_(rng), buf_(kMaxDatagram) {}
Network::~Network() = default;

EndpointId Network::add(Endpoint* endpoint) {
  assert(endpoint != nullptr);
  endpoints_.push_back(endpoint);
  return static_cast<EndpointId>(endpoints_.size() - 1);
}

void Network::connect(EndpointId a, EndpointId b, const LinkConfig& a_to_b,
                      const LinkConfig& b_to_a) {
  assert(a < endpoints_.size() && b < endpoints_.size());
  auto set = [this](EndpointId from, EndpointId to, const LinkConfig& config) {
    auto link = std::make_unique<Link>(config, rng_);
    for (LinkSlot& slot : links_) {
      if (slot.from == from && slot.to == to) {
        slot.link = std::move(link);
        return;
      }
    }
    links_.push_back(LinkSlot{from, to, std::move(link)});
  };
  set(a, b, a_to_b);
  set(b, a, b_to_a);
}

Link* Network::find_link(EndpointId from, EndpointId to) {
  for (LinkSlot& slot : links_) {
    if (slot.from == from && slot.to == to) return slot.link.get();
  }
  return nullptr;
}

const Link* Network::link(EndpointId from, EndpointId to) const {
  return const_cast<Network*>(this)->find_link(from, to);
}

void Network::record(const TraceEvent& e, std::span<const uint8_t> bytes) {
  trace_digest_ = mix(trace_digest_, static_cast<uint64_t>(e.kind));
  trace_digest_ = mix(trace_digest_, static_cast<uint64_t>(to_us(e.at)));
  trace_digest_ = mix(trace_digest_, (uint64_t{e.endpoint} << 32) | e.peer);
  trace_digest_ = mix(trace_digest_, e.size);
  trace_digest_ = mix(trace_digest_, e.digest);
  trace_digest_ = mix(trace_digest_, (uint64_t{static_cast<uint8_t>(e.link.fate)} << 3) |
                                         (uint64_t{e.link.reordered} << 2) |
                                         (uint64_t{e.link.corrupted} << 1) | e.link.duplicated);
  if (trace_) trace_(e, bytes);
}

bool Network::flush(const RunLimits& limits) {
  for (EndpointId id = 0; id < endpoints_.size(); ++id) {
    for (;;) {
      const Transmit t = endpoints_[id]->poll_transmit(now_, buf_);
      if (t.size == 0) break;
      assert(t.size <= buf_.size());
      if (++events_ > limits.max_events) return false;
      const std::span<const uint8_t> datagram(buf_.data(), t.size);
      const uint64_t d = digest(datagram);
      Link* link = find_link(id, t.to);
      if (link == nullptr) {
        ++no_route_;
        record({TraceEvent::Kind::kNoRoute, now_, id, t.to, t.size, d}, datagram);
        continue;
      }
      arrivals_.clear();
      const SendOutcome outcome = link->send(now_, datagram, arrivals_);
      record({TraceEvent::Kind::kSend, now_, id, t.to, t.size, d, outcome}, datagram);
      for (Arrival& a : arrivals_) in_flight_.push(a.at, Packet{id, t.to, std::move(a.bytes)});
    }
  }
  return true;
}

RunResult Network::run(const RunLimits& limits, const std::function<bool()>& done) {
  uint64_t at_this_instant = 0;
  auto result = [this](RunOutcome outcome) { return RunResult{outcome, now_, events_}; };
  for (;;) {
    if (!flush(limits)) return result(RunOutcome::kEventLimit);
    if (done && done()) return result(RunOutcome::kDone);

    // The earliest event: an arrival wins a tie with a deadline.
    std::optional<Instant> next;
    std::optional<EndpointId> timer_of;
    if (!in_flight_.empty()) next = in_flight_.top_time();
    for (EndpointId id = 0; id < endpoints_.size(); ++id) {
      const std::optional<Instant> d = endpoints_[id]->next_deadline();
      if (d && (!next || *d < *next)) {
        next = d;
        timer_of = id;
      }
    }
    if (!next) return result(RunOutcome::kIdle);
    const Instant at = std::max(*next, now_);
    if (at > limits.max_time) return result(RunOutcome::kTimeLimit);
    if (events_ >= limits.max_events) return result(RunOutcome::kEventLimit);
    at_this_instant = at == now_ ? at_this_instant + 1 : 0;
    if (at_this_instant > limits.max_events_at_one_instant) return result(RunOutcome::kStuck);
    now_ = at;
    ++events_;

    if (timer_of) {
      record({TraceEvent::Kind::kTimer, now_, *timer_of, *timer_of, 0, 0}, {});
      endpoints_[*timer_of]->on_timer(now_);
    } else {
      Packet p = in_flight_.pop();
      record({TraceEvent::Kind::kArrive, now_, p.to, p.from, p.bytes.size(), digest(p.bytes)},
             p.bytes);
      endpoints_[p.to]->on_datagram(now_, p.from, p.bytes);
    }
  }
}

}  // namespace tou::sim
