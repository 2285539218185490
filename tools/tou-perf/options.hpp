// tou-perf's command line (iperf3's, plus --rr, --crr, --connect-rate, --idle and --tcp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/socket_ops.hpp"
#include "protocol.hpp"

namespace tou::perf {

struct Options {
  bool server = false;
  bool one_off = false;  // -1: serve one client, then exit
  std::string host;      // -c host
  uint16_t port = 5201;
  int family = 0;       // AF_UNSPEC, or AF_INET / AF_INET6 for -4 / -6
  double seconds = 10;  // -t
  bool seconds_given = false;
  uint64_t bytes = 0;  // -n: total over the streams (0: time-based)
  int streams = 1;     // -P
  bool reverse = false;
  std::string cc;  // empty: the stack's default
  bool json = false;
  double interval = 1;  // 0: no interval lines
  uint32_t len = 128 * 1024;
  Mode mode = Mode::kBulk;
  uint32_t size = 1;  // --size (rr, crr)
  uint32_t idle = 0;  // --idle N: connections to open and hold
  bool kernel_tcp = false;
  bool progress = true;  // when stdout is a terminal

  const tools::SocketOps& ops() const {
    return kernel_tcp ? tools::kernel_tcp_ops() : tools::tou_ops();
  }
  // Wall-clock bound of the senders: -t, or with -n a generous limit.
  double time_limit() const { return bytes > 0 && !seconds_given ? 300 : seconds; }
};

// nullopt to run; otherwise the exit status (0 after --help, 2 for a bad command line).
std::optional<int> parse_options(int argc, char** argv, Options& out);

}  // namespace tou::perf
