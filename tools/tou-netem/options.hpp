// tou-netem's command line: the mode (UDP proxy or two network namespaces) and
// the impairments of each direction. "up" is towards the server: towards
// --forward in proxy mode, towards namespace A in --netns mode; "down" is the
// way back. A plain option (--loss) sets both directions; --up-loss and
// --down-loss override it for one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "address.hpp"
#include "base/time.hpp"
#include "sim/impairment.hpp"

namespace tou::netem {

// Everything one direction does to the packets that cross it.
struct DirectionConfig {
  sim::ImpairmentConfig impairment;
  Duration reorder_delay{std::chrono::milliseconds(10)};  // extra delay of a reordered packet
  double rate_mbps = 0;                                   // token bucket rate, 0 = unlimited
  size_t queue_packets = 1000;  // drop-tail limit of the rate limiter's queue, 0 = unlimited
};

enum class Mode : uint8_t { kProxy, kNetns };

struct Options {
  Mode mode = Mode::kProxy;
  DirectionConfig up;
  DirectionConfig down;
  uint64_t seed = 0;
  double duration_s = 0;   // 0 = until SIGINT/SIGTERM (proxy) or until B ends (netns)
  std::string stats_json;  // also write the counters here as JSON
  bool quiet = false;

  // Proxy mode.
  std::string listen;            // ADDR:PORT or [V6ADDR]:PORT
  std::string forward;           // ADDR:PORT or [V6ADDR]:PORT
  SocketAddress listen_address;  // both resolved by parse_options
  SocketAddress forward_address;

  // Netns mode.
  std::string command_a;  // runs in namespace A, in the background (a server)
  std::string command_b;  // runs in namespace B; its exit status is tou-netem's
  int mtu = 1500;
  int wait_tcp_port = 0;  // start B once something listens on this TCP port in A
};

// Parses argv. Returns -1 with `out` filled when the program should run, or an
// exit status: 0 after --help, 2 after printing a usage error.
int parse_options(int argc, char** argv, Options& out);

}  // namespace tou::netem
