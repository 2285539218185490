// The simulator's speed: how fast a seeded transfer over a simulated link runs
// in real time (both tou::Connection and the network layer), and how much
// virtual time that covers. Keeps the property tests' budget honest.
#include <benchmark/benchmark.h>

#include "sim/transfer.hpp"

namespace tou::sim {
namespace {

using namespace std::chrono_literals;

// Args: bytes each way, loss in permille.
void BM_SimTransfer(benchmark::State& state) {
  TransferOptions o;
  o.bytes_to_server = static_cast<uint64_t>(state.range(0));
  o.bytes_to_client = static_cast<uint64_t>(state.range(0));
  o.link.loss = static_cast<double>(state.range(1)) / 1000;
  o.link.rate_mbps = 100;
  o.link.delay = 10ms;
  uint64_t seed = 1;
  double virtual_seconds = 0;
  for (auto _ : state) {
    const TransferResult r = run_transfer(seed++, o);
    if (!r.ok) state.SkipWithError(r.failure.c_str());
    virtual_seconds += static_cast<double>(to_us(r.duration)) / 1e6;
    benchmark::DoNotOptimize(r.trace_digest);
  }
  state.SetBytesProcessed(state.iterations() * 2 * state.range(0));
  state.counters["virtual_s_per_run"] =
      benchmark::Counter(virtual_seconds / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_SimTransfer)
    ->Args({100'000, 0})
    ->Args({100'000, 50})
    ->Args({10'000'000, 0})
    ->Args({10'000'000, 10})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tou::sim
