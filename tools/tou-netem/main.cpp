// tou-netem: a link emulator. Either a UDP proxy (--listen/--forward) or a link
// between two fresh network namespaces (--netns) so that the kernel's TCP can be
// measured on the same impaired link as tou. The impairment decisions are the
// simulator's (src/sim/impairment.hpp); see options.hpp for the command line.
//
//   tou-netem --listen 127.0.0.1:9000 --forward 127.0.0.1:7000 --loss 0.05 --delay 20
//   tou-netem --netns --delay 25 --loss 0.01 --wait-tcp 5201
//             --a 'iperf3 -s -1' --b 'iperf3 -c $TOU_NETEM_A -t 5'
//
// Exit status: proxy 0 (1 if it cannot start); netns B's status; 2 for a bad
// command line. The counters are printed to stderr when it ends.
#include <csignal>
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "event_loop.hpp"
#include "netns.hpp"
#include "options.hpp"
#include "proxy.hpp"
#include "stats.hpp"

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
const tou::netem::EventLoop* g_loop = nullptr;  // proxy mode: stopped by a signal

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  if (g_loop != nullptr) g_loop->stop();  // an eventfd write: async-signal-safe
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tou::netem;
  Options options;
  if (const int rc = parse_options(argc, argv, options); rc >= 0) return rc;

  RunSummary summary;
  int status = 0;
  try {
    install_signal_handlers();
    if (options.mode == Mode::kProxy) {
      EventLoop loop;
      g_loop = &loop;
      status = run_proxy(options, loop, summary);
      g_loop = nullptr;
      if (status != 0) return status;
    } else {
      status = run_netns(options, g_stop_signal, summary);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "tou-netem: {}\n", e.what());
    return 1;
  }
  fmt::print(stderr, "{}", format_counters(summary));
  if (!options.stats_json.empty() && !write_json_file(options.stats_json, summary)) {
    fmt::print(stderr, "tou-netem: cannot write {}\n", options.stats_json);
    if (status == 0) status = 1;
  }
  return status;
}
