#pragma once

#include "options.hpp"

namespace tou::perf {

// Serves clients until killed (or, with -1, until the first client's run
// ends). Returns the exit status.
int run_server(const Options& options);

}  // namespace tou::perf
