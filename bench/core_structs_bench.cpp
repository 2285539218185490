// Per-segment cost of the connection's data structures: the reassembler on the
// receive path and the retransmission queue on the send path.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/receive_buffer.hpp"
#include "core/recovery/sent_queue.hpp"

namespace tou {
namespace {

constexpr size_t kSegment = 1448;

// In-order segments, each read right away: the fast path.
void BM_ReceiveBufferInOrder(benchmark::State& state) {
  ReceiveBuffer buf(1 << 20);
  const std::vector<uint8_t> seg(kSegment, 0x5a);
  std::vector<uint8_t> out(kSegment);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.insert(0, seg));
    benchmark::DoNotOptimize(buf.read(out));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kSegment));
}
BENCHMARK(BM_ReceiveBufferInOrder);

// One segment in ten arrives one place late: it is held out of order, then the
// late one fills the gap and both become readable.
void BM_ReceiveBufferReordered(benchmark::State& state) {
  ReceiveBuffer buf(1 << 20);
  const std::vector<uint8_t> seg(kSegment, 0x5a);
  std::vector<uint8_t> out(2 * kSegment);
  // Arrival order within each group of ten (segment 5 overtaken by 6).
  constexpr std::array<size_t, 10> kOrder = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9};
  for (auto _ : state) {
    size_t rcv_nxt = 0;  // segments made readable in this group
    for (size_t k : kOrder) {
      rcv_nxt += buf.insert((k - rcv_nxt) * kSegment, seg) / kSegment;
      benchmark::DoNotOptimize(buf.read(out));
    }
  }
  state.SetItemsProcessed(state.iterations() * 10);
  state.SetBytesProcessed(state.iterations() * 10 * static_cast<int64_t>(kSegment));
}
BENCHMARK(BM_ReceiveBufferReordered);

// A flight of full segments, each sent `gap` after the previous one.
struct Flight {
  SentQueue q;
  SeqNum seq{0xfff00000u};
  Instant now = kTimeZero;
  void send(Duration gap) {
    now += gap;
    q.on_sent(seq, kSegment, now, false, false);
    seq += kSegment;
  }
};

// One segment sent and one acknowledged per iteration, with state.range(0)
// segments in flight.
void BM_SentQueueSendAck(benchmark::State& state) {
  const auto flight = static_cast<uint32_t>(state.range(0));
  Flight f;
  for (uint32_t i = 0; i < flight; ++i) f.send(0us);
  for (auto _ : state) {
    f.send(1us);
    benchmark::DoNotOptimize(f.q.on_cumulative_ack(f.q.front().end()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SentQueueSendAck)->Arg(16)->Arg(1024);

// A whole loss recovery per iteration, state.range(0) segments in flight and the
// first one lost: each ACK SACKs one more segment, then IsLost over the
// scoreboard, NextSeg and SetPipe. Items are ACKs: the time per ACK must stay flat
// from 64 to 16,384 segments (incremental SACK blocks and IsLost).
void BM_SentQueueSackRecovery(benchmark::State& state) {
  const auto flight = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    SentQueue q;
    for (uint32_t i = 0; i < flight; ++i) {
      q.on_sent(SeqNum(i * kSegment), kSegment, kTimeZero, false, false);
    }
    for (uint32_t i = 1; i < flight; ++i) {
      const std::array<SackBlock, 1> block = {
          SackBlock{SeqNum(kSegment), SeqNum((i + 1) * kSegment)}};
      q.on_sack(block);
      q.mark_losses(3, kSegment);
      if (auto lost = q.first_lost()) q.on_retransmitted(*lost, kTimeZero);
      benchmark::DoNotOptimize(q.pipe());
    }
    benchmark::DoNotOptimize(q.on_cumulative_ack(SeqNum(flight * kSegment)));
  }
  state.SetItemsProcessed(state.iterations() * (flight - 1));
}
BENCHMARK(BM_SentQueueSackRecovery)->Arg(64)->Arg(1024)->Arg(16384);

// RACK (RFC 8985 6.2 step 5) on every ACK of a steady flight of state.range(0) segments,
// one sent every microsecond: each iteration acknowledges the oldest, sends one more and
// runs RACK's loss detection with the delivered segment as RACK's. Items are ACKs: the
// time per ACK must stay flat from 64 to 16,384 segments (the walk in send-time order).
void BM_SentQueueRackPerAck(benchmark::State& state) {
  const auto flight = static_cast<uint32_t>(state.range(0));
  Flight f;
  for (uint32_t i = 0; i < flight; ++i) f.send(1us);
  size_t lost = 0;
  for (auto _ : state) {
    const Instant acked_sent = f.q.front().last_sent;
    const SeqNum acked_end = f.q.front().end();
    f.q.on_cumulative_ack(acked_end, f.now);
    f.send(1us);
    std::optional<Instant> next_due;
    lost += f.q.mark_rack_losses(f.now, acked_sent, acked_end, 10ms, &next_due);
    benchmark::DoNotOptimize(next_due);
  }
  benchmark::DoNotOptimize(lost);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SentQueueRackPerAck)->Arg(64)->Arg(1024)->Arg(16384);

}  // namespace
}  // namespace tou
