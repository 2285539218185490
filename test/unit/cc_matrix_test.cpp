// The controller test matrix: properties EVERY registered controller has, run over
// congestion_controller_names() (as quiche runs its recovery tests over each controller).
// A Path drives one controller with the notifications loss recovery gives it: one AckEvent
// per ACK with a delivery-rate sample, over a bottleneck of a fixed rate and RTT.
// Then BBR's unit tests (draft-ietf-ccwg-bbr) that need no simulator.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "cc/bbr.hpp"
#include "cc/congestion_controller.hpp"
#include "cc/newreno.hpp"

namespace tou {
namespace {

constexpr uint32_t kMss = 1460;
constexpr uint32_t kIw = 10 * kMss;

CongestionConfig config() {
  CongestionConfig c;
  c.mss = kMss;
  c.initial_window_segments = 10;
  return c;
}

// A path of `rate` bytes/s and a fixed RTT. Each round sends min(cwnd, what the path
// carries in an RTT plus `queue` bytes) and acknowledges it one MSS per ACK, spread over
// the round; every ACK carries a rate sample as the sampler would compute it.
class Path {
 public:
  Path(CongestionController& cc, double rate, Duration rtt, uint32_t queue = 64 * kMss)
      : cc_(cc), rate_(rate), rtt_(rtt), queue_(queue) {}

  Instant now = kTimeZero + 1s;
  uint64_t delivered = 0;
  bool app_limited = false;  // the sender has less to send than cwnd allows
  uint32_t app_window = 0;   // what the application offers per round when app_limited
  // RTT samples include the standing queue: what is sent beyond the BDP, drained at the rate.
  bool queue_delay = false;
  // Every ACK of a round arrives at its end, at once (a receiver or middlebox that
  // aggregates them, as GRO and ACK decimation do).
  bool aggregate_acks = false;

  // One round trip; returns the bytes sent in it. `loss_every` > 0 marks every n-th
  // segment lost (reported in the ACK that would have carried it).
  uint64_t round(int loss_every = 0, bool in_recovery = false) {
    uint32_t window = cc_.cwnd();
    if (app_limited) window = std::min(window, app_window);
    const double bdp = rate_ * seconds(rtt_);
    const auto capacity = static_cast<uint32_t>(bdp) + queue_;
    const uint32_t sent = std::max<uint32_t>(std::min(window, capacity), kMss);
    // Delivery takes the longer of the RTT and the time the bottleneck needs.
    const Duration span =
        std::max(rtt_, Duration{static_cast<int64_t>(static_cast<double>(sent) / rate_ * 1e6)});
    const uint32_t acks = std::max<uint32_t>(sent / kMss, 1);
    Duration rtt = rtt_;
    if (queue_delay && sent > bdp) {
      rtt += Duration{static_cast<int64_t>((static_cast<double>(sent) - bdp) / rate_ * 1e6)};
    }
    const Instant start = now;
    const uint64_t prior = delivered;
    uint32_t in_flight = sent;
    uint64_t lost_so_far = 0;
    for (uint32_t i = 1; i <= acks; ++i) {
      now = start + (aggregate_acks ? span : span * i / acks);
      AckEvent ack;
      ack.now = now;
      ack.bytes_in_flight = in_flight;
      ack.rtt = rtt;
      ack.min_rtt = rtt_;
      ack.srtt = rtt_;
      ack.app_limited = app_limited;
      ack.in_recovery = in_recovery;
      const bool lost = loss_every > 0 && i % static_cast<uint32_t>(loss_every) == 0;
      in_flight -= kMss;
      ack.pipe = in_flight;
      if (lost) {
        ack.bytes_lost = kMss;
        lost_so_far += kMss;
      } else {
        delivered += kMss;
        ack.bytes_acked = kMss;
      }
      RateSample& rs = ack.rate;
      rs.has_prior = true;
      rs.prior_delivered = prior;
      rs.newly_delivered = lost ? 0 : kMss;
      rs.delivered = delivered - prior;
      rs.interval = now - start;
      rs.valid = rs.delivered > 0 && rs.interval >= rtt_;
      rs.rtt = rtt;
      rs.is_app_limited = app_limited;
      rs.tx_in_flight = sent;
      rs.lost = lost_so_far;
      cc_.on_ack(ack);
    }
    return sent;
  }

 private:
  static double seconds(Duration d) { return static_cast<double>(to_us(d)) / 1e6; }
  CongestionController& cc_;
  double rate_;
  Duration rtt_;
  uint32_t queue_;
};

std::string param_name(const ::testing::TestParamInfo<std::string_view>& param) {
  return std::string(param.param);
}

class CcMatrix : public ::testing::TestWithParam<std::string_view> {
 protected:
  std::unique_ptr<CongestionController> make(const CongestionConfig& c = config()) {
    auto cc = make_congestion_controller(GetParam(), c);
    EXPECT_NE(cc, nullptr);
    return cc;
  }
};

INSTANTIATE_TEST_SUITE_P(AllControllers, CcMatrix,
                         ::testing::ValuesIn(congestion_controller_names()), param_name);

TEST_P(CcMatrix, NameRoundTrips) {
  EXPECT_EQ(make()->name(), GetParam());
}

TEST_P(CcMatrix, StartsAtTheInitialWindow) {
  EXPECT_EQ(make()->cwnd(), kIw);  // RFC 6928
  CongestionConfig c;
  c.mss = 1000;
  c.initial_window_segments = 4;
  EXPECT_EQ(make(c)->cwnd(), 4000u);
}

TEST_P(CcMatrix, SetMssBeforeDataRescalesTheInitialWindow) {
  auto cc = make();
  cc->set_mss(1200);
  EXPECT_EQ(cc->cwnd(), 12000u);
}

TEST_P(CcMatrix, AckWithoutNewDataChangesNothing) {
  auto cc = make();
  AckEvent ack;
  ack.now = kTimeZero + 1s;
  ack.bytes_in_flight = kIw;
  ack.pipe = kIw;
  cc->on_ack(ack);
  EXPECT_EQ(cc->cwnd(), kIw);
}

TEST_P(CcMatrix, GrowsOnAnUncongestedPath) {
  // 100 Mbit/s, 40 ms: a BDP of ~342 segments, far above IW.
  auto cc = make();
  Path path(*cc, 12.5e6, 40ms);
  for (int r = 0; r < 5; ++r) path.round();
  EXPECT_GE(cc->cwnd(), 4 * kIw);
}

TEST_P(CcMatrix, RtoSetsTheLossWindowOfOneSegment) {
  auto cc = make();
  Path path(*cc, 12.5e6, 40ms);
  for (int r = 0; r < 4; ++r) path.round();
  cc->on_rto(path.now, cc->cwnd());
  EXPECT_EQ(cc->cwnd(), kMss);  // RFC 5681 3.1 / draft-ietf-ccwg-bbr 5.6.4.4
}

TEST_P(CcMatrix, RecoveryLowersTheWindowAndItsEndNeverRaisesItAboveTheStart) {
  auto cc = make();
  Path path(*cc, 2.5e6, 40ms, 20 * kMss);  // 20 Mbit/s, a 68-segment BDP
  // The queue shows in the RTT, so that the loss is congestion to BBR too (random loss,
  // without a queue, leaves its window alone: BbrSim.RandomLossDoesNotSlowStartup).
  path.queue_delay = true;
  for (int r = 0; r < 30; ++r) path.round();
  const uint32_t before = cc->cwnd();
  cc->on_congestion_event(path.now, before);
  EXPECT_LT(cc->cwnd(), before);
  path.round(10, /*in_recovery=*/true);
  cc->on_recovery_end(path.now);
  EXPECT_LE(cc->cwnd(), before);
  EXPECT_GE(cc->cwnd(), 2 * kMss);
}

TEST_P(CcMatrix, AdoptedWindowIsAtLeastOneSegment) {
  auto cc = make();
  cc->adopt_window(0, 0);
  EXPECT_EQ(cc->cwnd(), kMss);
  cc->adopt_window(40 * kMss, 20 * kMss);
  EXPECT_EQ(cc->cwnd(), 40 * kMss);
}

TEST_P(CcMatrix, PacingRateIsPositiveOnceTheRttIsKnown) {
  auto cc = make();
  EXPECT_EQ(cc->pacing_rate(0us), std::nullopt);
  ASSERT_TRUE(cc->pacing_rate(40ms));
  EXPECT_GT(*cc->pacing_rate(40ms), 0u);
  Path path(*cc, 2.5e6, 40ms);
  for (int r = 0; r < 20; ++r) path.round();
  ASSERT_TRUE(cc->pacing_rate(40ms));
  // Never slower than half the path, never absurdly faster (at most 4x: Startup's 2.77).
  EXPECT_GE(*cc->pacing_rate(40ms), 2.5e6 / 2);
  EXPECT_LE(*cc->pacing_rate(40ms), 4 * 2.5e6 + 2.0 * cc->cwnd() / 0.040);
}

TEST_P(CcMatrix, WindowStaysSaneOverALongLossyRun) {
  // A deterministic mix of clean and lossy rounds, recoveries, timeouts and idle periods.
  auto cc = make();
  Path path(*cc, 2.5e6, 20ms, 30 * kMss);
  for (int r = 1; r <= 2000; ++r) {
    if (r % 500 == 0) {
      cc->on_rto(path.now, cc->cwnd());
    } else if (r % 37 == 5) {
      cc->on_congestion_event(path.now, cc->cwnd());
      path.round(7, true);
      cc->on_recovery_end(path.now);
    } else if (r % 301 == 0) {
      path.now += 1s;
      cc->on_idle_restart(path.now);
    }
    path.round(r % 3 == 0 ? 50 : 0);
    ASSERT_GE(cc->cwnd(), kMss) << "round " << r;
    ASSERT_LE(cc->cwnd(), cc_detail::kMaxCwnd) << "round " << r;
  }
  // And the window is of the path's order, not collapsed or runaway: the path carries
  // ~34 segments per RTT plus a 30-segment queue.
  EXPECT_GE(cc->cwnd(), 2 * kMss);
  EXPECT_LE(cc->cwnd(), 1000 * kMss);
}

TEST_P(CcMatrix, ApplicationLimitedRoundsDoNotRunTheWindowAway) {
  // RFC 7661 / draft 5.5.5: an application that uses a tenth of the window does not
  // validate a larger one.
  auto cc = make();
  Path path(*cc, 12.5e6, 40ms);
  for (int r = 0; r < 3; ++r) path.round();
  const uint32_t before = cc->cwnd();
  path.app_limited = true;
  path.app_window = 4 * kMss;
  for (int r = 0; r < 200; ++r) path.round();
  EXPECT_LE(cc->cwnd(), std::max(before, 4u * kIw));
}

// ---------------------------------------------------------------------------------------
// BBR alone.

TEST(Bbr, StartsInStartupAndLeavesWhenTheBandwidthStopsGrowing) {
  Bbr bbr(config());
  EXPECT_EQ(bbr.state(), Bbr::State::kStartup);
  Path path(bbr, 2.5e6, 40ms, 200 * kMss);  // 20 Mbit/s, a deep queue
  int rounds = 0;
  while (bbr.state() == Bbr::State::kStartup && rounds < 30) {
    path.round();
    ++rounds;
  }
  EXPECT_LE(rounds, 12);
  EXPECT_TRUE(bbr.full_bw_reached());
  EXPECT_NEAR(bbr.max_bw(), 2.5e6, 0.1 * 2.5e6);
  EXPECT_NEAR(to_us(bbr.min_rtt()), 40'000, 1);
}

// Rounds whose every sample is invalid (intervals under a min_rtt that a reordered
// SYN-ACK stretched) say nothing of growth: Startup does not end on the first sample, the
// SYN-ACK's one byte, however many such rounds pass.
TEST(Bbr, RoundsWithoutAValidSampleDoNotEndStartup) {
  Bbr bbr(config());
  Instant now = kTimeZero + 1s;
  uint64_t delivered = 0;
  auto ack = [&](uint64_t bytes, bool valid) {
    AckEvent ev;
    ev.now = now;
    ev.rtt = 34ms;
    ev.min_rtt = 34ms;
    ev.srtt = 34ms;
    ev.bytes_acked = static_cast<uint32_t>(bytes);
    RateSample& rs = ev.rate;
    rs.has_prior = true;
    rs.prior_delivered = delivered;  // each ACK ends the round the last one began
    delivered += bytes;
    rs.newly_delivered = bytes;
    rs.delivered = bytes;
    rs.valid = valid;
    rs.interval = valid ? 34ms : 20ms;
    rs.rtt = 34ms;
    bbr.on_ack(ev);
    now += 34ms;
  };
  ack(1, true);  // the SYN-ACK: 1 byte in 34 ms
  ASSERT_GT(bbr.max_bw(), 0);
  for (int i = 0; i < 10; ++i) ack(10 * kMss, false);
  EXPECT_EQ(bbr.state(), Bbr::State::kStartup);
  EXPECT_FALSE(bbr.full_bw_reached());
}

TEST(Bbr, ApplicationLimitedSamplesDoNotLowerTheBandwidthEstimate) {
  Bbr bbr(config());
  Path path(bbr, 2.5e6, 40ms, 200 * kMss);
  for (int r = 0; r < 40; ++r) path.round();
  const double estimate = bbr.max_bw();
  ASSERT_GT(estimate, 0.8 * 2.5e6);
  // Many ProbeBW cycles' worth of slow, application-limited rounds (5.5.5): the filter
  // does not take them, so max_bw holds.
  path.app_limited = true;
  path.app_window = 4 * kMss;
  for (int r = 0; r < 400; ++r) path.round();
  EXPECT_EQ(bbr.max_bw(), estimate);
  // The same rates from a path that is that slow (not app-limited) do lower it: a path
  // that only carries four segments per round trip.
  Bbr control(config());
  Path fast(control, 2.5e6, 40ms, 200 * kMss);
  for (int r = 0; r < 40; ++r) fast.round();
  Path slow(control, 4 * kMss / 0.040, 40ms, 0);
  slow.now = fast.now;
  slow.delivered = fast.delivered;
  for (int r = 0; r < 400; ++r) slow.round();
  EXPECT_LT(control.max_bw(), 0.5 * estimate);
}

// 5.5.9 with Linux's bound (tcp_bbr.c, bbr_extra_acked_max_us): what ACK
// aggregation adds to the window is at most 100 ms of the estimated bandwidth. A
// path that acknowledges each round in one burst and queues whatever is sent
// would otherwise double the window every round (the excess is bounded only by
// the window itself).
TEST(Bbr, AckAggregationAddsAtMostAHundredMillisecondsOfBandwidth) {
  Bbr bbr(config());
  Path path(bbr, 2.5e6, 40ms, 1u << 30);  // 20 Mbit/s, a queue that never fills
  path.aggregate_acks = true;
  for (int r = 0; r < 60; ++r) path.round();
  ASSERT_TRUE(bbr.full_bw_reached());
  // The largest cwnd gain (ProbeBW_UP's) times the BDP, the allowance, and the two
  // segments BBRQuantizationBudget adds while probing up.
  const double bdp = bbr.max_bw() * 0.040;
  EXPECT_LE(bbr.cwnd(), Bbr::kProbeUpCwndGain * bdp + 0.100 * bbr.max_bw() + 2 * kMss)
      << "max_bw " << bbr.max_bw();
}

TEST(Bbr, ProbeRttHoldsTheWindowAtHalfABdpThenRestoresIt) {
  Bbr bbr(config());
  Path path(bbr, 2.5e6, 40ms, 200 * kMss);
  for (int r = 0; r < 40; ++r) path.round();
  const uint32_t before = bbr.cwnd();
  // 5 s without a lower RTT sample: ProbeRTT (5.3.4.4).
  while (bbr.state() != Bbr::State::kProbeRtt && path.now < kTimeZero + 20s) path.round();
  ASSERT_EQ(bbr.state(), Bbr::State::kProbeRtt);
  EXPECT_EQ(bbr.probe_rtt_count(), 1u);
  EXPECT_LE(bbr.cwnd(), std::max<uint32_t>(static_cast<uint32_t>(0.5 * 2.5e6 * 0.040) + kMss,
                                           Bbr::kMinPipeSegments * kMss));
  while (bbr.state() == Bbr::State::kProbeRtt && path.now < kTimeZero + 30s) path.round();
  EXPECT_NE(bbr.state(), Bbr::State::kProbeRtt);
  EXPECT_GE(bbr.cwnd(), before / 2);
}

TEST(Bbr, HeavyLossInProbeBwSetsInflightHi) {
  Bbr bbr(config());
  Path path(bbr, 2.5e6, 40ms, 20 * kMss);
  path.queue_delay = true;
  for (int r = 0; r < 60; ++r) path.round();
  ASSERT_TRUE(bbr.full_bw_reached());
  // 10% loss while probing into the queue: inflight_hi bounds the flight (5.5.10.2).
  for (int r = 0; r < 300 && bbr.inflight_hi() > cc_detail::kMaxCwnd; ++r) path.round(10);
  EXPECT_LE(bbr.inflight_hi(), cc_detail::kMaxCwnd);
  EXPECT_LE(bbr.cwnd(), bbr.inflight_hi() + 2 * kMss);
}

// tou's deviation from 5.5.10: the same 10% loss on a path with no standing queue (every
// RTT sample at min_rtt) is random loss, not congestion: no bound, bw holds.
TEST(Bbr, HeavyLossWithoutAQueueSetsNoBound) {
  Bbr bbr(config());
  Path path(bbr, 2.5e6, 40ms, 20 * kMss);
  for (int r = 0; r < 60; ++r) path.round();
  ASSERT_TRUE(bbr.full_bw_reached());
  const double estimate = bbr.bw();
  for (int r = 0; r < 100; ++r) path.round(10);
  EXPECT_GT(bbr.inflight_hi(), cc_detail::kMaxCwnd);
  EXPECT_GE(bbr.bw(), 0.8 * estimate);
}

}  // namespace
}  // namespace tou
