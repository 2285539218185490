// Two real cores joined by an in-memory pipe (quiche's Pipe): each datagram
// takes `one_way` to cross, and a test may drop any datagram it likes or look at
// each one (`tap`). The full simulator lives in test/sim; this checks the core
// end to end with exact control.
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/connection.hpp"

namespace tou {

struct Pipe {
  ConnectionConfig config;
  Connection client{config};
  Connection server{config};
  Instant now{};
  // Return false to drop: (from_client, index of datagram overall).
  std::function<bool(bool, uint64_t)> keep = [](bool, uint64_t) { return true; };
  // Sees every datagram sent, kept or not: (from_client, bytes).
  std::function<void(bool, std::span<const uint8_t>)> tap;
  uint64_t sent = 0;
  Duration one_way = std::chrono::milliseconds(5);
  Duration max_step{0};  // 0: step() jumps to the next event, however far
  struct InFlight {
    Instant at;
    bool to_server;
    std::vector<uint8_t> bytes;
  };
  std::vector<InFlight> flights;

  explicit Pipe(ConnectionConfig c) : config(c), client(c), server(c) {}

  void flush(Connection& from, bool from_client) {
    std::array<uint8_t, 70000> buf;
    while (size_t n = from.poll_transmit(now, buf)) {
      if (tap) tap(from_client, std::span<const uint8_t>(buf.data(), n));
      if (keep(from_client, sent++)) {
        flights.push_back({now + one_way, from_client, {buf.begin(), buf.begin() + n}});
      }
    }
  }
  // Advances to the next event; false when nothing is left to do.
  bool step() {
    flush(client, true);
    flush(server, false);
    std::optional<Instant> next;
    for (auto& f : flights) next = next ? std::min(*next, f.at) : f.at;
    for (Connection* c : {&client, &server}) {
      if (auto d = c->next_deadline()) next = next ? std::min(*next, *d) : *d;
    }
    // A test that acts at times of its own (a reader that reads at a rate) caps each step.
    if (max_step > Duration::zero()) next = next ? std::min(*next, now + max_step) : now + max_step;
    if (!next) return false;
    now = std::max(now, *next);
    std::vector<InFlight> due;
    std::erase_if(flights, [&](InFlight& f) {
      if (f.at > now) return false;
      due.push_back(std::move(f));
      return true;
    });
    for (auto& f : due) (f.to_server ? server : client).on_datagram(now, f.bytes);
    for (Connection* c : {&client, &server}) {
      if (auto d = c->next_deadline(); d && *d <= now) c->on_timer(now);
    }
    return true;
  }
};

}  // namespace tou
