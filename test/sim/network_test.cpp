// The network layer with scripted endpoints: exact timing, exact drop counts,
// impairment rates within statistical bounds, determinism and the loop's limits.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <set>

#include "scripted_endpoint.hpp"
#include "sim/data_pattern.hpp"
#include "sim/link.hpp"
#include "sim/network.hpp"
#include "sim/rng.hpp"

namespace tou::sim {
namespace {

using namespace std::chrono_literals;
using testing::id_of;
using testing::numbered;
using testing::ScriptedEndpoint;

Instant at_us(int64_t us) {
  return instant_from_us(us);
}

LinkConfig plain(Duration delay) {
  LinkConfig c;
  c.delay = delay;
  c.overhead_bytes = 0;
  return c;
}

// Two scripted endpoints a (0) and b (1) over one link each way.
struct Pair {
  explicit Pair(uint64_t seed, const LinkConfig& ab, const LinkConfig& ba = plain(10ms))
      : rng(seed), net(rng) {
    net.add(&a);
    net.add(&b);
    net.connect(0, 1, ab, ba);
  }
  RunResult run(RunLimits limits = {}) { return net.run(limits); }
  const LinkStats& ab_stats() const { return net.link(0, 1)->stats(); }

  Rng rng;
  Network net;
  ScriptedEndpoint a, b;
};

// Binomial bounds: |observed - n p| <= 5 sigma.
void expect_rate(uint64_t observed, uint64_t n, double p, const char* what) {
  const double mean = static_cast<double>(n) * p;
  const double sigma = std::sqrt(static_cast<double>(n) * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(observed), mean, 5 * sigma + 1) << what;
}

TEST(Network, DelayIsExactPerDirection) {
  Pair p(1, plain(10ms), plain(7ms));
  p.a.send_at(at_us(0), 1, numbered(0, 100));
  p.a.send_at(at_us(3000), 1, numbered(1, 100));
  p.a.send_at(at_us(3000), 1, numbered(2, 100));
  p.b.send_at(at_us(500), 0, numbered(3, 100));
  const RunResult r = p.run();
  EXPECT_EQ(r.outcome, RunOutcome::kIdle);
  ASSERT_EQ(p.b.received.size(), 3u);
  EXPECT_EQ(p.b.received[0].at, at_us(10000));
  EXPECT_EQ(p.b.received[1].at, at_us(13000));
  EXPECT_EQ(p.b.received[2].at, at_us(13000));
  EXPECT_EQ(id_of(p.b.received[1].bytes), 1u);  // same instant: sending order
  EXPECT_EQ(id_of(p.b.received[2].bytes), 2u);
  EXPECT_EQ(p.b.received[0].bytes, numbered(0, 100));
  EXPECT_EQ(p.b.received[0].from, 0u);
  ASSERT_EQ(p.a.received.size(), 1u);
  EXPECT_EQ(p.a.received[0].at, at_us(7500));
  EXPECT_EQ(r.end, at_us(13000));
}

TEST(Network, RateSerializationIsExact) {
  LinkConfig c = plain(5ms);
  c.rate_mbps = 100;  // 1250 bytes = 10000 bits = 100 us
  Pair p(1, c);
  for (uint32_t k = 0; k < 10; ++k) p.a.send_at(at_us(0), 1, numbered(k, 1250));
  p.a.send_at(at_us(2000), 1, numbered(10, 1250));  // after the link went idle
  p.a.send_at(at_us(2050), 1, numbered(11, 1250));  // behind number 10
  p.run();
  ASSERT_EQ(p.b.received.size(), 12u);
  for (int64_t k = 0; k < 10; ++k) EXPECT_EQ(p.b.received[k].at, at_us((k + 1) * 100 + 5000));
  EXPECT_EQ(p.b.received[10].at, at_us(2000 + 100 + 5000));
  EXPECT_EQ(p.b.received[11].at, at_us(2000 + 200 + 5000));
  EXPECT_EQ(p.ab_stats().max_queue, 10u);
}

TEST(Network, RateCountsOverheadAndFractionalTimesDoNotDrift) {
  LinkConfig c = plain(0ms);
  c.rate_mbps = 3;  // 1000 + 28 bytes = 8224 bits = 2741.33 us
  c.overhead_bytes = 28;
  Pair p(1, c);
  for (uint32_t k = 0; k < 300; ++k) p.a.send_at(at_us(0), 1, numbered(k, 1000));
  p.run();
  ASSERT_EQ(p.b.received.size(), 300u);
  // Exact finish of packet k: (k + 1) * 8224 / 3 us, rounded up to the microsecond clock.
  for (int64_t k = 0; k < 300; ++k) {
    const double exact = static_cast<double>((k + 1) * 8224) / 3.0;
    EXPECT_NEAR(static_cast<double>(to_us(p.b.received[k].at)), exact, 1.0) << k;
  }
}

TEST(Network, QueueIsDropTailAndCounts) {
  LinkConfig c = plain(1ms);
  c.rate_mbps = 1;  // 1250 bytes = 10 ms
  c.queue_packets = 5;
  Pair p(1, c);
  for (uint32_t k = 0; k < 20; ++k) p.a.send_at(at_us(0), 1, numbered(k, 1250));
  // At 25 ms packets 0 and 1 have left, 3 remain: two more fit, the third is dropped.
  for (uint32_t k = 20; k < 23; ++k) p.a.send_at(at_us(25000), 1, numbered(k, 1250));
  p.run();
  std::vector<uint32_t> ids;
  for (const auto& r : p.b.received) ids.push_back(id_of(r.bytes));
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 1, 2, 3, 4, 20, 21}));
  EXPECT_EQ(p.ab_stats().sent, 23u);
  EXPECT_EQ(p.ab_stats().dropped_queue, 16u);
  EXPECT_EQ(p.ab_stats().forwarded, 7u);
  EXPECT_EQ(p.ab_stats().max_queue, 5u);
  EXPECT_EQ(p.b.received.back().at, at_us(70000 + 1000));  // 7 packets back to back
}

TEST(Network, PartitionDropsWhatIsSentWhileDown) {
  LinkConfig c = plain(10ms);
  c.partitions = {{at_us(100000), at_us(200000)}, {at_us(250000), at_us(260000)}};
  Pair p(1, c, c);
  for (uint32_t k = 0; k <= 30; ++k) p.a.send_at(at_us(k * 10000), 1, numbered(k, 100));
  p.a.send_at(at_us(95000), 1, numbered(99, 100));  // in flight when the link goes down
  p.b.send_at(at_us(150000), 0, numbered(100, 100));
  p.run();
  std::set<uint32_t> got;
  for (const auto& r : p.b.received) got.insert(id_of(r.bytes));
  for (uint32_t k = 0; k <= 30; ++k) {
    const bool down = (k >= 10 && k < 20) || k == 25;
    EXPECT_EQ(got.count(k), down ? 0u : 1u) << k;
  }
  EXPECT_EQ(got.count(99), 1u);
  EXPECT_EQ(p.ab_stats().dropped_partition, 11u);
  EXPECT_TRUE(p.a.received.empty());
  EXPECT_EQ(p.net.link(1, 0)->stats().dropped_partition, 1u);
}

TEST(Network, JitterStaysInRangeAndNeverReorders) {
  LinkConfig c = plain(10ms);
  c.jitter = 5ms;
  Pair p(3, c);
  for (uint32_t k = 0; k < 2000; ++k) p.a.send_at(at_us(k * 500), 1, numbered(k, 100));
  p.run();
  ASSERT_EQ(p.b.received.size(), 2000u);
  Instant prev{};
  std::set<int64_t> extra;
  for (const auto& r : p.b.received) {
    const int64_t sent = id_of(r.bytes) * 500;
    const int64_t delay = to_us(r.at) - sent;
    EXPECT_GE(delay, 10000);
    EXPECT_LE(delay, 15000);  // FIFO holds it behind an earlier one, never past the range
    EXPECT_GE(r.at, prev);
    prev = r.at;
    extra.insert(delay);
  }
  for (size_t i = 0; i < p.b.received.size(); ++i) EXPECT_EQ(id_of(p.b.received[i].bytes), i);
  EXPECT_GT(extra.size(), 100u);  // delays really vary
}

TEST(Network, IndependentLossRate) {
  LinkConfig c = plain(1ms);
  c.loss = 0.1;
  Pair p(11, c);
  const uint32_t n = 100000;
  for (uint32_t k = 0; k < n; ++k) p.a.send_at(at_us(k), 1, numbered(k, 40));
  p.run();
  const LinkStats& s = p.ab_stats();
  EXPECT_EQ(s.sent, n);
  EXPECT_EQ(s.dropped_loss + p.b.received.size(), n);
  expect_rate(s.dropped_loss, n, 0.1, "loss");
}

TEST(Network, GilbertElliottParametersGiveTheAverage) {
  for (double l : {0.0, 0.001, 0.01, 0.05, 0.3, 0.45, 0.5, 0.8, 1.0}) {
    const GilbertElliott ge = GilbertElliott::with_average_loss(l);
    EXPECT_NEAR(ge.average_loss(), l, 1e-12) << l;
    EXPECT_GE(ge.p, 0);
    EXPECT_LE(ge.p, 1);
    EXPECT_GE(ge.r, 0);
    EXPECT_LE(ge.r, 1);
  }
}

// P(lost | the previous datagram was lost) and the loss rate, for n datagrams
// sent `gap` apart over a link with the given loss model.
std::pair<double, double> loss_stats(uint64_t seed, LinkConfig c, uint32_t n, Duration gap) {
  Pair p(seed, c);
  for (uint32_t k = 0; k < n; ++k) p.a.send_at(kTimeZero + k * gap, 1, numbered(k, 8));
  RunLimits limits;
  limits.max_time = kTimeZero + n * gap + 1s;
  p.run(limits);
  std::vector<bool> lost(n, true);
  for (const auto& r : p.b.received) lost[id_of(r.bytes)] = false;
  uint64_t losses = 0, after_loss = 0, loss_after_loss = 0;
  for (uint32_t k = 0; k < n; ++k) {
    losses += lost[k];
    if (k > 0 && lost[k - 1]) {
      ++after_loss;
      loss_after_loss += lost[k];
    }
  }
  EXPECT_EQ(losses, p.ab_stats().dropped_loss);
  return {static_cast<double>(losses) / n,
          static_cast<double>(loss_after_loss) /
              static_cast<double>(std::max<uint64_t>(after_loss, 1))};
}

TEST(Network, BurstLossHasTheSameAverageButComesInBursts) {
  LinkConfig c = plain(1ms);
  c.loss = 0.05;
  c.burst_loss = true;
  const auto [rate, after_loss] = loss_stats(12, c, 200000, 1us);
  // Bursts make the count vary more than a binomial: allow +-15% of the mean.
  EXPECT_NEAR(rate, 0.05, 0.0075);
  // Independent loss would give P(loss | previous lost) = 5%; bursts give ~44%.
  EXPECT_GT(after_loss, 0.3);
}

TEST(Network, TimedBurstsTransitionProbabilities) {
  const TimedBursts t = TimedBursts::with_average_loss(0.05, 20ms);
  EXPECT_DOUBLE_EQ(t.loss_in_bad, 0.5);
  EXPECT_DOUBLE_EQ(t.share_bad, 0.1);
  EXPECT_DOUBLE_EQ(t.bad_after(true, Duration{0}), 1.0);
  EXPECT_DOUBLE_EQ(t.bad_after(false, Duration{0}), 0.0);
  EXPECT_NEAR(t.bad_after(true, 3600s), 0.1, 1e-12);
  EXPECT_NEAR(t.bad_after(false, 3600s), 0.1, 1e-12);
  // tau = 20 ms * 0.9 = 18 ms: after one tau, Bad stays Bad with pi + (1 - pi) / e.
  EXPECT_NEAR(t.bad_after(true, 18ms), 0.1 + 0.9 / std::exp(1.0), 1e-9);
}

// Bursts that last a time: a dense sender sees them as runs of losses, a
// sender one datagram per second meets a fresh state each time, as on a real
// path; the per-datagram chain keeps that sender in Bad across the idle time.
TEST(Network, TimedBurstsLastATimeNotADatagramCount) {
  LinkConfig c = plain(1ms);
  c.loss = 0.05;
  c.burst_loss = true;
  c.burst_duration = 20ms;
  const auto [dense_rate, dense_after] = loss_stats(21, c, 200000, 100us);
  EXPECT_NEAR(dense_rate, 0.05, 0.0075);
  EXPECT_GT(dense_after, 0.3);  // 200 datagrams per burst, half of them lost
  const auto [sparse_rate, sparse_after] = loss_stats(22, c, 20000, 1s);
  EXPECT_NEAR(sparse_rate, 0.05, 0.0075);
  EXPECT_LT(sparse_after, 0.1);    // independent: 5%
  c.burst_duration = Duration{0};  // the per-datagram chain, same sparse sender
  const auto [ge_rate, ge_after] = loss_stats(22, c, 20000, 1s);
  EXPECT_NEAR(ge_rate, 0.05, 0.0125);
  EXPECT_GT(ge_after, 0.3);
}

TEST(Network, DuplicationRateAndCopies) {
  LinkConfig c = plain(2ms);
  c.duplicate = 0.1;
  Pair p(13, c);
  const uint32_t n = 50000;
  for (uint32_t k = 0; k < n; ++k) p.a.send_at(at_us(k * 10), 1, numbered(k, 64));
  p.run();
  const LinkStats& s = p.ab_stats();
  EXPECT_EQ(p.b.received.size(), n + s.duplicated);
  EXPECT_EQ(s.forwarded, n + s.duplicated);
  expect_rate(s.duplicated, n, 0.1, "duplicate");
  uint64_t copies = 0;
  for (size_t i = 1; i < p.b.received.size(); ++i) {
    const auto& x = p.b.received[i - 1];
    const auto& y = p.b.received[i];
    if (id_of(x.bytes) == id_of(y.bytes)) {
      ++copies;
      EXPECT_EQ(x.bytes, y.bytes);
      EXPECT_EQ(x.at, y.at);
    }
  }
  EXPECT_EQ(copies, s.duplicated);
}

TEST(Network, ReorderedDatagramsAreOvertaken) {
  LinkConfig c = plain(10ms);
  c.reorder = 0.2;
  c.reorder_delay = 3ms;
  Pair p(14, c);
  const uint32_t n = 20000;
  for (uint32_t k = 0; k < n; ++k) p.a.send_at(at_us(k * 1000), 1, numbered(k, 64));
  p.run();
  const LinkStats& s = p.ab_stats();
  expect_rate(s.reordered, n, 0.2, "reorder");
  ASSERT_EQ(p.b.received.size(), n);
  uint64_t late = 0, overtaken = 0;
  uint32_t highest = 0;
  for (const auto& r : p.b.received) {
    const uint32_t id = id_of(r.bytes);
    const int64_t delay = to_us(r.at) - int64_t{id} * 1000;
    EXPECT_TRUE(delay == 10000 || delay == 13000) << delay;
    late += delay == 13000;
    if (id < highest) ++overtaken;
    highest = std::max(highest, id);
  }
  EXPECT_EQ(late, s.reordered);
  EXPECT_GT(overtaken, s.reordered * 9 / 10);  // all but those followed by another late one
}

TEST(Network, CorruptionFlipsExactlyTheConfiguredBits) {
  for (int bits : {1, 3}) {
    LinkConfig c = plain(1ms);
    c.corrupt = 0.05;
    c.corrupt_bits = bits;
    Pair p(15, c);
    const uint32_t n = 40000;
    for (uint32_t k = 0; k < n; ++k) p.a.send_at(at_us(k * 10), 1, numbered(k, 200));
    p.run();
    ASSERT_EQ(p.b.received.size(), n);  // nothing lost or reordered: arrival k is datagram k
    uint64_t corrupted = 0;
    for (uint32_t k = 0; k < n; ++k) {
      const std::vector<uint8_t> original = numbered(k, 200);
      const std::vector<uint8_t>& got = p.b.received[k].bytes;
      int diff = 0;
      for (size_t i = 0; i < original.size(); ++i) {
        diff += std::popcount(static_cast<uint8_t>(original[i] ^ got[i]));
      }
      if (diff != 0) {
        ++corrupted;
        EXPECT_EQ(diff, bits);
      }
    }
    EXPECT_EQ(corrupted, p.ab_stats().corrupted) << bits;
    expect_rate(p.ab_stats().corrupted, n, 0.05, "corrupt");
  }
}

// Every impairment at once; the trace of two runs with one seed must match.
std::vector<TraceEvent> traced_run(uint64_t seed) {
  LinkConfig c;
  c.delay = 8ms;
  c.jitter = 3ms;
  c.rate_mbps = 20;
  c.queue_packets = 30;
  c.loss = 0.05;
  c.burst_loss = true;
  c.duplicate = 0.05;
  c.reorder = 0.1;
  c.corrupt = 0.05;
  c.partitions = {{at_us(50000), at_us(60000)}};
  Pair p(seed, c, c);
  std::vector<TraceEvent> trace;
  p.net.set_trace([&trace](const TraceEvent& e, std::span<const uint8_t>) { trace.push_back(e); });
  for (uint32_t k = 0; k < 3000; ++k) {
    p.a.send_at(at_us(k * 37), 1, numbered(k, 100 + k % 1300));
    p.b.send_at(at_us(k * 53), 0, numbered(k, 60));
  }
  p.run();
  EXPECT_EQ(p.net.trace_digest() != 0, true);
  return trace;
}

TEST(Network, SameSeedGivesTheSameTrace) {
  const auto t1 = traced_run(77);
  const auto t2 = traced_run(77);
  const auto t3 = traced_run(78);
  ASSERT_GT(t1.size(), 6000u);
  EXPECT_EQ(t1, t2);
  EXPECT_NE(t1, t3);
}

TEST(Network, MoreThanTwoEndpointsAndNoRoute) {
  Rng rng(1);
  Network net(rng);
  ScriptedEndpoint a, b, c;
  net.add(&a);
  net.add(&b);
  net.add(&c);
  net.connect(0, 1, plain(5ms), plain(5ms));
  net.connect(0, 2, plain(20ms), plain(1ms));
  a.send_at(at_us(0), 1, numbered(1, 10));
  a.send_at(at_us(0), 2, numbered(2, 10));
  c.send_at(at_us(0), 0, numbered(3, 10));
  b.send_at(at_us(0), 2, numbered(4, 10));  // no link b -> c
  net.run();
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].at, at_us(5000));
  ASSERT_EQ(c.received.size(), 1u);
  EXPECT_EQ(c.received[0].at, at_us(20000));
  ASSERT_EQ(a.received.size(), 1u);
  EXPECT_EQ(a.received[0].at, at_us(1000));
  EXPECT_EQ(a.received[0].from, 2u);
  EXPECT_EQ(net.no_route(), 1u);
}

// An endpoint whose deadline never moves: the loop must give up, not spin.
class StuckEndpoint : public Endpoint {
 public:
  void on_datagram(Instant, EndpointId, std::span<const uint8_t>) override {}
  Transmit poll_transmit(Instant, std::span<uint8_t>) override { return {}; }
  std::optional<Instant> next_deadline() const override { return at_us(1000); }
  void on_timer(Instant) override {}
};

// Two endpoints bouncing a datagram forever.
class PingPong : public Endpoint {
 public:
  explicit PingPong(EndpointId peer, bool start) : peer_(peer), pending_(start) {}
  void on_datagram(Instant, EndpointId, std::span<const uint8_t>) override { pending_ = true; }
  Transmit poll_transmit(Instant, std::span<uint8_t> buf) override {
    if (!pending_) return {};
    pending_ = false;
    buf[0] = 1;
    return {1, peer_};
  }
  std::optional<Instant> next_deadline() const override { return std::nullopt; }
  void on_timer(Instant) override {}

 private:
  EndpointId peer_;
  bool pending_;
};

TEST(Network, LoopLimitsAreReported) {
  {
    Rng rng(1);
    Network net(rng);
    StuckEndpoint s;
    net.add(&s);
    RunLimits limits;
    limits.max_events_at_one_instant = 1000;
    const RunResult r = net.run(limits);
    EXPECT_EQ(r.outcome, RunOutcome::kStuck);
    EXPECT_TRUE(r.hit_limit());
    EXPECT_EQ(r.end, at_us(1000));
  }
  {
    Rng rng(1);
    Network net(rng);
    PingPong a(1, true), b(0, false);
    net.add(&a);
    net.add(&b);
    net.connect(0, 1, plain(10ms), plain(10ms));
    RunLimits limits;
    limits.max_time = at_us(1'000'000);
    RunResult r = net.run(limits);
    EXPECT_EQ(r.outcome, RunOutcome::kTimeLimit);
    EXPECT_EQ(r.end, at_us(1'000'000));  // the arrival at 1 s is the last one run
    limits.max_time = at_us(100'000'000);
    limits.max_events = r.events + 500;
    r = net.run(limits);  // continues where it stopped
    EXPECT_EQ(r.outcome, RunOutcome::kEventLimit);
  }
  {
    Rng rng(1);
    Network net(rng);
    ScriptedEndpoint a;
    net.add(&a);
    int calls = 0;
    const RunResult r = net.run({}, [&calls] { return ++calls == 1; });
    EXPECT_EQ(r.outcome, RunOutcome::kDone);
    EXPECT_FALSE(r.hit_limit());
  }
}

TEST(Rng, ReproducibleAndUnbiased) {
  Rng a(5), b(5), c(6);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(a.next(), c.next());
  std::array<int, 7> counts{};
  for (int i = 0; i < 70000; ++i) ++counts[a.below(7)];
  for (int n : counts) EXPECT_NEAR(n, 10000, 500);
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    const Duration d = a.duration_upto(3us);
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), 3);
  }
  EXPECT_FALSE(a.chance(0));
  EXPECT_TRUE(a.chance(1));
}

TEST(DataPattern, FillAndCheckAgreeAtAnyOffset) {
  DataPattern p(99);
  std::vector<uint8_t> whole(1000);
  p.fill(0, whole);
  for (uint64_t off : {0, 1, 7, 8, 9, 500, 993}) {
    std::vector<uint8_t> part(1000 - off);
    p.fill(off, part);
    EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<long>(off)));
    EXPECT_FALSE(p.mismatch(off, part));
    EXPECT_EQ(p.at(off), whole[off]);
    if (part.size() > 5) {
      part[5] ^= 0x10;
      EXPECT_EQ(p.mismatch(off, part), 5u);
    }
  }
  DataPattern q(100);
  EXPECT_TRUE(q.mismatch(0, whole));
}

}  // namespace
}  // namespace tou::sim
