// UDP proxy mode: datagrams from clients to --listen go through the up pipe to
// --forward; replies come back through the down pipe. Each distinct client
// address gets its own upstream socket (as behind a NAT), so the server sees
// one peer per client.
#pragma once

#include "event_loop.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace tou::netem {

// Runs until `loop.stop()` or --duration; fills `summary`. Returns 0, or 1 when
// the sockets cannot be set up (the reason is printed).
int run_proxy(const Options& options, EventLoop& loop, RunSummary& summary);

}  // namespace tou::netem
