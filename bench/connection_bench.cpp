// The core's per-segment cost, so performance work has a number to move:
// a bulk transfer between two cores in memory (send and receive paths
// together), and the receive path alone on pre-built segments.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include "core/connection.hpp"

namespace tou {
namespace {

ConnectionConfig bench_config(uint16_t mss) {
  ConnectionConfig c;
  c.mss = mss;
  c.pacing = false;
  c.send_buffer = c.receive_buffer = 4 << 20;
  return c;
}

struct Pair {
  Connection client, server;
  Instant now{};
  std::array<uint8_t, 70000> buf{};
  uint64_t segments = 0;

  explicit Pair(uint16_t mss) : client(bench_config(mss)), server(bench_config(mss)) {
    client.connect(now, {.local_port = 1, .remote_port = 2, .iss = SeqNum(1), .ts_offset = 0});
    server.listen({.local_port = 2, .remote_port = 1, .iss = SeqNum(2), .ts_offset = 0});
    for (int i = 0; i < 4; ++i) shuttle();
  }
  // Moves every pending datagram across, one way and then the other.
  void shuttle() {
    while (size_t n = client.poll_transmit(now, buf)) {
      server.on_datagram(now, {buf.data(), n});
      ++segments;
    }
    while (size_t n = server.poll_transmit(now, buf)) {
      client.on_datagram(now, {buf.data(), n});
      ++segments;
    }
  }
};

void BM_BulkTransfer(benchmark::State& state) {
  uint16_t mss = static_cast<uint16_t>(state.range(0));
  Pair p(mss);
  std::vector<uint8_t> chunk(256 * 1024, 0x5a);
  std::vector<uint8_t> sink(1 << 20);
  uint64_t bytes = 0;
  for (auto _ : state) {
    size_t n = p.client.send(p.now, chunk);
    p.shuttle();
    while (size_t r = p.server.recv(p.now, sink)) bytes += r;
    p.now += std::chrono::microseconds(50);
    p.client.on_timer(p.now);
    p.server.on_timer(p.now);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["segments/s"] =
      benchmark::Counter(static_cast<double>(p.segments), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BulkTransfer)->Arg(1448)->Arg(8960)->Arg(65000);

// Receive path only: in-order data segments built once, fed to a fresh
// receiver, which reassembles, acknowledges and hands the bytes to recv().
void BM_ReceivePath(benchmark::State& state) {
  uint16_t mss = static_cast<uint16_t>(state.range(0));
  // As many segments as fit in half the receive window, so none is dropped.
  const size_t kSegments = std::min<size_t>(512, (2 << 20) / mss);
  Pair source(mss);
  std::vector<uint8_t> data(kSegments * mss, 0x33);
  std::vector<std::vector<uint8_t>> segments;
  source.client.send(source.now, data);
  std::array<uint8_t, 70000> buf;
  // Collect the flight with the receiver acknowledging, so the window keeps opening.
  for (int round = 0; round < 10000 && segments.size() < kSegments; ++round) {
    while (size_t n = source.client.poll_transmit(source.now, buf)) {
      segments.emplace_back(buf.begin(), buf.begin() + n);
      source.server.on_datagram(source.now, {buf.data(), n});
    }
    while (size_t n = source.server.poll_transmit(source.now, buf)) {
      source.client.on_datagram(source.now, {buf.data(), n});
    }
    std::vector<uint8_t> sink(1 << 20);
    while (source.server.recv(source.now, sink) > 0) {
    }
  }
  std::vector<uint8_t> sink(1 << 20);
  uint64_t bytes = 0, count = 0;
  for (auto _ : state) {
    Pair fresh(mss);  // same ISNs as the source pair, so the segments fit
    // Manual timing: only the receive path counts, not building the pair.
    auto start = std::chrono::steady_clock::now();
    for (const auto& s : segments) {
      fresh.server.on_datagram(fresh.now, s);
      while (fresh.server.poll_transmit(fresh.now, buf) > 0) {
      }
      bytes += fresh.server.recv(fresh.now, sink);
      ++count;
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["segments/s"] =
      benchmark::Counter(static_cast<double>(count), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReceivePath)->Arg(1448)->Arg(65000)->UseManualTime();

}  // namespace
}  // namespace tou
