// Pacing by quanta: a paced sender releases about 1 ms of its pacing rate (at
// least 2 segments, at most 64 KiB) back to back, then waits for that quantum
// to drain at the rate, as Linux's TSO autosizing does. So the engine sends a
// quantum as one GSO train instead of waking once per segment.
//
// RTT 100 ms, cwnd 10 x 1460 in slow start: rate 2 x 14600 / 0.1 s = 292,000
// bytes/s, so a quantum is 2 segments (2920 bytes) and drains in 10 ms.
#include <utility>
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

TEST(Pacing, AQuantumOfSegmentsLeavesAtOnceThenWaitsForItToDrain) {
  ConnectionConfig config = ScriptTest::default_config();
  config.pacing = true;
  config.congestion_control = "newreno";
  ScriptTest t(config);
  t.conn().connect(t.now(), t.params());
  t.take();  // SYN
  t.at_ms(100);
  t.inject(seg().syn().seq(ScriptTest::kPeerIss).ack(ScriptTest::kIss + 1).mss(1460).win(65535));
  t.take();  // the handshake's ACK; SRTT is now 100 ms
  t.app_send(8 * 1460);
  // Step 1 ms at a time: record when segments leave and how many.
  std::vector<std::pair<int, size_t>> releases;  // (ms, segments)
  size_t seen = 0;
  for (int ms = 100; ms <= 140 && seen < 8; ++ms) {
    t.at_ms(ms);
    if (t.pending() > seen) releases.emplace_back(ms, t.pending() - seen);
    seen = t.pending();
  }
  ASSERT_EQ(releases.size(), 4u);
  EXPECT_EQ(releases[0].first, 100);  // the first quantum at once
  for (size_t i = 0; i < releases.size(); ++i) {
    EXPECT_EQ(releases[i].second, 2u) << "release " << i << " is one quantum";
    if (i > 0) {
      int gap = releases[i].first - releases[i - 1].first;
      EXPECT_GE(gap, 10) << "a quantum drains at the rate";
      EXPECT_LE(gap, 11);
    }
  }
}

// A wait set at a crawl is clamped to a second (as Linux's fq clamps a packet's delay):
// the rate may rise long before it ends. SRTT 50 s: NewReno paces 2 x 14600 / 50 s =
// 584 bytes/s, and a 2-segment quantum would drain in 5 s.
TEST(Pacing, AWaitSetAtACrawlIsClampedToASecond) {
  ConnectionConfig config = ScriptTest::default_config();
  config.pacing = true;
  config.congestion_control = "newreno";
  config.rtt.initial_rto = std::chrono::seconds(120);  // no SYN retransmission
  config.rtt.max_rto = std::chrono::seconds(120);
  ScriptTest t(config);
  t.conn().connect(t.now(), t.params());
  t.take();  // SYN
  t.at_ms(50'000);
  t.inject(seg().syn().seq(ScriptTest::kPeerIss).ack(ScriptTest::kIss + 1).mss(1460).win(65535));
  t.take();  // the handshake's ACK; SRTT is now 50 s
  t.app_send(4 * 1460);
  t.drain();
  EXPECT_EQ(t.pending(), 2u) << "the first quantum at once";
  t.at_ms(50'999);
  EXPECT_EQ(t.pending(), 2u);
  t.at_ms(51'000);
  EXPECT_EQ(t.pending(), 4u) << "the next one a second later, not 5 s";
}

}  // namespace
}  // namespace tou::script
