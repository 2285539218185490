// --netns mode: two fresh network namespaces, A and B, each with a TUN device
// (tou0, IFF_TUN | IFF_NO_PI) addressed 10.201.0.1/24 in A and 10.201.0.2/24 in
// B. Every IP packet between them crosses tou-netem's pipes (up: B -> A, down:
// A -> B), so the kernel's own TCP runs over the emulated link. Command A runs
// in the background in A, command B in B; tou-netem waits for B, stops A,
// deletes both namespaces (on every exit path it controls, signals included)
// and exits with B's status.
#pragma once

#include <csignal>

#include "options.hpp"
#include "stats.hpp"

namespace tou::netem {

inline constexpr const char* kAddressA = "10.201.0.1";
inline constexpr const char* kAddressB = "10.201.0.2";
inline constexpr int kPrefixLength = 24;
inline constexpr const char* kTunName = "tou0";

// Runs the whole --netns session; fills `summary`. Returns B's exit status (128 +
// signal when B was killed), 124 when --duration ran out, 128 + N when
// `stop_signal` became N, 1 when the namespaces cannot be set up.
int run_netns(const Options& options, const volatile std::sig_atomic_t& stop_signal,
              RunSummary& summary);

}  // namespace tou::netem
