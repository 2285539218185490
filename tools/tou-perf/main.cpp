// tou-perf: iperf3 for tou, and the same workloads over the kernel's TCP.
//
//   tou-perf -s [-p port] [-1] [--tcp]
//   tou-perf -c host [-t secs | -n bytes] [-P n] [-R] [--cc NAME] [--json]
//   tou-perf -c host --rr [--size N]      request/response latency and rate
//   tou-perf -c host --crr [--size N]     connect/request/response/close rate
//   tou-perf -c host --connect-rate       blocking connect + close in a loop
//   tou-perf -c host --idle N             N idle connections: fds and KiB each
//
// Exit status: 0 on success, 1 when the run failed, 2 for a bad command line.
#include <signal.h>

#include <fmt/format.h>

#include "client.hpp"
#include "options.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  tou::perf::Options options;
  if (auto status = tou::perf::parse_options(argc, argv, options)) return *status;
  ::signal(SIGPIPE, SIG_IGN);  // a vanished peer is an error return, not a signal
  try {
    return options.server ? tou::perf::run_server(options) : tou::perf::run_client(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tou-perf: {}\n", e.what());
    return 1;
  }
}
