// Wire format throughput: parse (checksum verify + header/options decode) and
// emit (encode + checksum) of a full-MSS segment and of a near-64 KiB loopback
// segment, and the bare checksum. Reported as bytes/s of segment.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "wire/segment.hpp"

namespace tou {
namespace {

SegmentHeader data_header() {
  SegmentHeader h;
  h.src_port = 40000;
  h.dst_port = 5001;
  h.seq = SeqNum(123456789);
  h.ack = SeqNum(987654321);
  h.flags = flags::kAck | flags::kPsh;
  h.window = 502;
  h.options.timestamps = Timestamps{1000, 2000};
  return h;
}

std::vector<uint8_t> payload_of(size_t n) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 131 + 7);
  return p;
}

// Arg: payload bytes. 1448 = 1500-byte MTU minus IP, TCP and a timestamp option;
// 65000 leaves room for headers inside one maximal UDP datagram (65507).
void BM_Emit(benchmark::State& state) {
  const SegmentHeader h = data_header();
  const auto payload = payload_of(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> out(h.wire_size() + payload.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(emit_segment(h, payload, out));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_Emit)->Arg(1448)->Arg(65000);

void BM_Parse(benchmark::State& state) {
  const SegmentHeader h = data_header();
  const auto payload = payload_of(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> seg(h.wire_size() + payload.size());
  emit_segment(h, payload, seg);
  for (auto _ : state) {
    ParseResult r = parse_segment(seg);
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * seg.size()));
}
BENCHMARK(BM_Parse)->Arg(1448)->Arg(65000);

void BM_Checksum(benchmark::State& state) {
  const auto seg = payload_of(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(segment_checksum(seg));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * seg.size()));
}
BENCHMARK(BM_Checksum)->Arg(20)->Arg(1480)->Arg(65000);

}  // namespace
}  // namespace tou
