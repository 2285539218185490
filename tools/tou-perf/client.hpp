#pragma once

#include "options.hpp"

namespace tou::perf {

// Runs one measurement against a server and prints it. Returns the exit status.
int run_client(const Options& options);

}  // namespace tou::perf
