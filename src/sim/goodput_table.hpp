// The README's goodput table: bulk transfers over a 100 Mbit/s, 50 ms RTT link
// with a one-BDP drop-tail queue, for each congestion controller and loss rate.
// `tou-sim --table` prints it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/time.hpp"

namespace tou::sim {

// The names congestion_controller_names() lists, as strings.
std::vector<std::string> registered_controllers();

struct GoodputTableOptions {
  uint64_t seed = 1;
  int runs = 1;                 // seeds seed .. seed + runs - 1, averaged
  uint64_t bytes = 20'000'000;  // client -> server; nothing back
  double rate_mbps = 100;
  Duration delay{std::chrono::milliseconds(25)};  // one way
  std::vector<double> losses{0, 0.001, 0.01, 0.05};
  // Every controller in the registry, in its order.
  std::vector<std::string> congestion_controls = registered_controllers();
};

struct GoodputCell {
  std::string congestion_control;
  double loss = 0;
  double mbps = 0;      // mean goodput, connect() to the last byte read
  double fraction = 0;  // of the link rate
  int failures = 0;     // runs that did not complete cleanly
};

// Drop-tail queue of one bandwidth-delay product, in datagrams of MSS + headers.
size_t bdp_packets(double rate_mbps, Duration rtt);

std::vector<GoodputCell> measure_goodput(const GoodputTableOptions& options);
// A markdown table, one row per loss rate, two columns per controller.
std::string goodput_markdown(const GoodputTableOptions& options,
                             const std::vector<GoodputCell>& cells);

}  // namespace tou::sim
