// A test endpoint for the network layer: sends datagrams at scripted times and
// records what arrives. Datagram k carries k in its first 4 bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "sim/network.hpp"

namespace tou::sim::testing {

inline std::vector<uint8_t> numbered(uint32_t id, size_t size) {
  std::vector<uint8_t> d(std::max<size_t>(size, 4));
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 7 + id);
  std::memcpy(d.data(), &id, 4);
  return d;
}

inline uint32_t id_of(std::span<const uint8_t> d) {
  uint32_t id = 0;
  std::memcpy(&id, d.data(), 4);
  return id;
}

class ScriptedEndpoint : public Endpoint {
 public:
  struct Received {
    Instant at;
    EndpointId from;
    std::vector<uint8_t> bytes;
  };

  // Sends `bytes` to `to` at time `at`.
  void send_at(Instant at, EndpointId to, std::vector<uint8_t> bytes) {
    script_.emplace(at, Outgoing{to, std::move(bytes)});
  }

  void on_datagram(Instant now, EndpointId from, std::span<const uint8_t> d) override {
    received.push_back({now, from, {d.begin(), d.end()}});
  }
  Transmit poll_transmit(Instant now, std::span<uint8_t> buf) override {
    if (script_.empty() || script_.begin()->first > now) return {};
    Outgoing o = std::move(script_.begin()->second);
    script_.erase(script_.begin());
    std::copy(o.bytes.begin(), o.bytes.end(), buf.begin());
    return {o.bytes.size(), o.to};
  }
  std::optional<Instant> next_deadline() const override {
    if (script_.empty()) return std::nullopt;
    return script_.begin()->first;
  }
  void on_timer(Instant) override { ++timers; }

  std::vector<Received> received;
  int timers = 0;

 private:
  struct Outgoing {
    EndpointId to;
    std::vector<uint8_t> bytes;
  };
  std::multimap<Instant, Outgoing> script_;  // equal times keep insertion order
};

}  // namespace tou::sim::testing
