// Congestion control: properties the loss-based controllers share (NewReno and CUBIC; the
// matrix every registered controller passes is cc_matrix_test.cpp), then NewReno
// (RFC 5681 / RFC 3465) and CUBIC (RFC 9438) specifics. Time is
// virtual: a Pipe acknowledges one full window per round trip, spread evenly over the RTT.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cc/congestion_controller.hpp"
#include "cc/cubic.hpp"
#include "cc/newreno.hpp"

namespace tou {
namespace {

constexpr uint32_t kMss = 1460;
constexpr uint32_t kIw = 10 * kMss;  // RFC 6928
constexpr Duration kRtt = 100ms;

// Drives one controller with ACKs in virtual time. The sender is always cwnd-limited
// (bytes_in_flight = cwnd) unless a test says otherwise.
class Pipe {
 public:
  explicit Pipe(CongestionController& cc, Duration rtt = kRtt) : cc_(cc), rtt_(rtt) {}

  Instant now = kTimeZero + 1s;

  AckEvent ack_event(uint32_t bytes) const {
    AckEvent ack;
    ack.now = now;
    ack.bytes_acked = bytes;
    ack.bytes_in_flight = cc_.cwnd();
    ack.rtt = rtt_;
    ack.min_rtt = rtt_;
    ack.srtt = rtt_;
    return ack;
  }

  // Advances time by `dt` and acknowledges `bytes`.
  void ack(uint32_t bytes, Duration dt = 0us) {
    now += dt;
    cc_.on_ack(ack_event(bytes));
  }

  // One round trip: the window as it was at the start is acknowledged in ACKs of
  // `ack_bytes` (the last one may be shorter), evenly spaced so the last lands one RTT on.
  void round(uint32_t ack_bytes = kMss) {
    const uint32_t window = cc_.cwnd();
    const uint32_t acks = (window + ack_bytes - 1) / ack_bytes;
    const Instant start = now;
    uint32_t left = window;
    for (uint32_t i = 1; i <= acks; ++i) {
      now = start + rtt_ * i / acks;
      const uint32_t bytes = std::min(ack_bytes, left);
      left -= bytes;
      cc_.on_ack(ack_event(bytes));
    }
  }

  void rounds(int n, uint32_t ack_bytes = kMss) {
    for (int i = 0; i < n; ++i) round(ack_bytes);
  }

 private:
  CongestionController& cc_;
  Duration rtt_;
};

CongestionConfig config() {
  CongestionConfig c;
  c.mss = kMss;
  c.initial_window_segments = 10;
  return c;
}

// ---------------------------------------------------------------------------------------
// Registry.

TEST(CcRegistry, NamesAreNewRenoCubicBbr) {
  EXPECT_EQ(congestion_controller_names(),
            (std::vector<std::string_view>{"newreno", "cubic", "bbr"}));
}

TEST(CcRegistry, UnknownNameGivesNullptr) {
  EXPECT_EQ(make_congestion_controller("vegas", config()), nullptr);
  EXPECT_EQ(make_congestion_controller("", config()), nullptr);
  EXPECT_EQ(make_congestion_controller("NewReno", config()), nullptr);  // names are exact
  EXPECT_EQ(make_congestion_controller("cubic ", config()), nullptr);
}

// ---------------------------------------------------------------------------------------
// Properties shared by the loss-based controllers (RFC 5681 windows: slow start,
// ssthresh, the loss window). BBR sets its window from its model instead.

std::string param_name(const ::testing::TestParamInfo<std::string_view>& param) {
  return std::string(param.param);
}

class CcCommon : public ::testing::TestWithParam<std::string_view> {
 protected:
  std::unique_ptr<CongestionController> make(const CongestionConfig& c = config()) {
    auto cc = make_congestion_controller(GetParam(), c);
    EXPECT_NE(cc, nullptr);
    return cc;
  }
};

INSTANTIATE_TEST_SUITE_P(LossBasedControllers, CcCommon,
                         ::testing::Values(std::string_view{"newreno"}, std::string_view{"cubic"}),
                         param_name);

TEST_P(CcCommon, NameRoundTrips) {
  EXPECT_EQ(make()->name(), GetParam());
}

TEST_P(CcCommon, StartsAtInitialWindowInSlowStart) {
  auto cc = make();
  EXPECT_EQ(cc->cwnd(), kIw);           // RFC 6928
  EXPECT_GE(cc->ssthresh(), 1u << 30);  // RFC 5681 3.1: "arbitrarily high"
  EXPECT_TRUE(cc->in_slow_start());
}

TEST_P(CcCommon, InitialWindowFollowsConfig) {
  CongestionConfig c;
  c.mss = 1000;
  c.initial_window_segments = 4;
  auto cc = make(c);
  EXPECT_EQ(cc->cwnd(), 4000u);
}

// TCP_CONGESTION on an open connection: the new controller takes the window over.
TEST_P(CcCommon, AdoptedWindowIsKeptAndGrowsInCongestionAvoidance) {
  auto cc = make();
  cc->adopt_window(40 * kMss, 20 * kMss);
  EXPECT_EQ(cc->cwnd(), 40 * kMss);
  EXPECT_EQ(cc->ssthresh(), 20 * kMss);
  EXPECT_FALSE(cc->in_slow_start());
  Pipe pipe(*cc);
  pipe.round();
  // Congestion avoidance: about one segment per round trip, not slow start's doubling.
  EXPECT_GT(cc->cwnd(), 40 * kMss);
  EXPECT_LT(cc->cwnd(), 43 * kMss);
}

TEST_P(CcCommon, AdoptedWindowIsAtLeastOneSegment) {
  auto cc = make();
  cc->adopt_window(0, 0);
  EXPECT_EQ(cc->cwnd(), kMss);
  EXPECT_EQ(cc->ssthresh(), 2 * kMss);
}

TEST_P(CcCommon, AckWithoutNewDataChangesNothing) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.ack(0, 10ms);
  EXPECT_EQ(cc->cwnd(), kIw);
}

TEST_P(CcCommon, SlowStartDoublesEveryRtt) {
  auto cc = make();
  Pipe pipe(*cc);
  for (int r = 1; r <= 6; ++r) {
    pipe.round();
    EXPECT_EQ(cc->cwnd(), kIw << r) << "round " << r;
  }
}

TEST_P(CcCommon, SlowStartDoublesEveryRttWithDelayedAcks) {
  // RFC 3465 2.2 with L = 2: an ACK for two segments opens the window by two.
  auto cc = make();
  Pipe pipe(*cc);
  for (int r = 1; r <= 6; ++r) {
    pipe.round(2 * kMss);
    EXPECT_EQ(cc->cwnd(), kIw << r) << "round " << r;
  }
}

TEST_P(CcCommon, StretchAckGrowsSlowStartByAtMostTwoSegments) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.ack(8 * kMss, 10ms);
  EXPECT_EQ(cc->cwnd(), kIw + 2 * kMss);  // RFC 3465 2.2, L = 2
}

TEST_P(CcCommon, SlowStartStopsAtSsthresh) {
  auto cc = make();
  Pipe pipe(*cc);
  cc->on_rto(pipe.now, kIw);  // cwnd = 1 MSS, ssthresh < IW
  const uint32_t ssthresh = cc->ssthresh();
  ASSERT_LT(ssthresh, kIw);
  while (cc->in_slow_start()) {
    pipe.ack(kMss, 1ms);
    ASSERT_LE(cc->cwnd(), ssthresh);
  }
  EXPECT_EQ(cc->cwnd(), ssthresh);
}

TEST_P(CcCommon, CongestionEventLeavesSlowStartWithCwndAtSsthresh) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  const uint32_t before = cc->cwnd();
  cc->on_congestion_event(pipe.now, before);
  EXPECT_LT(cc->cwnd(), before);
  EXPECT_EQ(cc->cwnd(), cc->ssthresh());
  EXPECT_FALSE(cc->in_slow_start());
  cc->on_recovery_end(pipe.now + kRtt);
  EXPECT_EQ(cc->cwnd(), cc->ssthresh());  // RFC 6582 3.2 step 3
}

TEST_P(CcCommon, SsthreshNeverBelowTwoSegments) {
  auto cc = make();
  Pipe pipe(*cc);
  cc->on_rto(pipe.now, kMss);
  pipe.ack(kMss, 10ms);  // cwnd = 2 MSS
  cc->on_congestion_event(pipe.now, kMss);
  EXPECT_EQ(cc->ssthresh(), 2 * kMss);  // RFC 5681 eq. 4 / RFC 9438 4.6
  EXPECT_EQ(cc->cwnd(), 2 * kMss);
}

TEST_P(CcCommon, RtoSetsLossWindowOfOneSegment) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  cc->on_rto(pipe.now, cc->cwnd());
  EXPECT_EQ(cc->cwnd(), kMss);  // RFC 5681 3.1 loss window
  EXPECT_TRUE(cc->in_slow_start());
  EXPECT_GE(cc->ssthresh(), 2 * kMss);
}

TEST_P(CcCommon, RepeatedRtoHoldsSsthresh) {
  // RFC 5681 3.1: a segment retransmitted by the timer again leaves ssthresh unchanged.
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  cc->on_rto(pipe.now, cc->cwnd());
  const uint32_t ssthresh = cc->ssthresh();
  cc->on_rto(pipe.now + 1s, kMss);
  cc->on_rto(pipe.now + 3s, kMss);
  EXPECT_EQ(cc->ssthresh(), ssthresh);
  EXPECT_EQ(cc->cwnd(), kMss);
  // Once new data is acknowledged, the next timeout recomputes it.
  pipe.ack(kMss, 4s);
  cc->on_rto(pipe.now + 1s, kMss);
  EXPECT_EQ(cc->ssthresh(), 2 * kMss);
}

TEST_P(CcCommon, RtoEndsRecoverySoRecoveryEndDoesNotReinflate) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  cc->on_congestion_event(pipe.now, cc->cwnd());
  cc->on_rto(pipe.now + 1s, cc->cwnd());
  cc->on_recovery_end(pipe.now + 2s);
  EXPECT_EQ(cc->cwnd(), kMss);
}

TEST_P(CcCommon, RecoveryEndWithoutRecoveryIsANoOp) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(2);
  cc->on_recovery_end(pipe.now);
  EXPECT_EQ(cc->cwnd(), 4 * kIw);
}

TEST_P(CcCommon, CongestionAvoidanceGrowsSlowerThanSlowStart) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(4);
  cc->on_congestion_event(pipe.now, cc->cwnd());
  cc->on_recovery_end(pipe.now);
  for (int r = 0; r < 20; ++r) {
    const uint32_t before = cc->cwnd();
    pipe.round();
    EXPECT_GT(cc->cwnd(), before) << "round " << r;
    EXPECT_LE(cc->cwnd(), before + before / 2) << "round " << r;  // RFC 9438 4.2: <= 1.5x
  }
}

TEST_P(CcCommon, IdleRestartClampsToInitialWindow) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  ASSERT_EQ(cc->cwnd(), 8 * kIw);
  cc->on_idle_restart(pipe.now + 5s);
  EXPECT_EQ(cc->cwnd(), kIw);  // RFC 5681 4.1: RW = min(IW, cwnd)
  EXPECT_TRUE(cc->in_slow_start());
  // A window already below IW is kept.
  cc->on_rto(pipe.now + 6s, kIw);
  cc->on_idle_restart(pipe.now + 20s);
  EXPECT_EQ(cc->cwnd(), kMss);
}

TEST_P(CcCommon, ApplicationLimitedAckDoesNotGrowWindow) {
  auto cc = make();
  Pipe pipe(*cc);
  AckEvent ack = pipe.ack_event(kMss);
  ack.app_limited = true;
  ack.bytes_in_flight = kIw / 2;  // cwnd >= 2 * FlightSize: window not validated
  cc->on_ack(ack);
  EXPECT_EQ(cc->cwnd(), kIw);
  ack.bytes_in_flight = kIw / 2 + 1;  // window more than half used: grows
  cc->on_ack(ack);
  EXPECT_EQ(cc->cwnd(), kIw + kMss);
}

TEST_P(CcCommon, ApplicationLimitedAckDoesNotGrowWindowInAvoidance) {
  auto cc = make();
  Pipe pipe(*cc);
  pipe.rounds(3);
  cc->on_congestion_event(pipe.now, cc->cwnd());
  cc->on_recovery_end(pipe.now);
  pipe.round();
  const uint32_t before = cc->cwnd();
  for (int i = 0; i < 1000; ++i) {
    pipe.now += 10ms;
    AckEvent ack = pipe.ack_event(kMss);
    ack.app_limited = true;
    ack.bytes_in_flight = 2 * kMss;
    cc->on_ack(ack);
  }
  EXPECT_EQ(cc->cwnd(), before);
}

TEST_P(CcCommon, PacingRateIsTwiceWindowPerRttInSlowStartThenOnePointTwo) {
  auto cc = make();
  EXPECT_EQ(cc->pacing_rate(0us), std::nullopt);
  // 14600 bytes per 100 ms = 146000 B/s; x2 in slow start.
  EXPECT_EQ(cc->pacing_rate(100ms), 292000u);
  cc->on_congestion_event(kTimeZero, 2 * kIw);
  ASSERT_FALSE(cc->in_slow_start());
  const uint64_t expected = uint64_t{cc->cwnd()} * 1'000'000 * 12 / 10 / 100'000;
  EXPECT_EQ(cc->pacing_rate(100ms), expected);
}

TEST_P(CcCommon, SetMssBeforeDataRescalesInitialWindow) {
  auto cc = make();
  cc->set_mss(1200);
  EXPECT_EQ(cc->cwnd(), 12000u);
  Pipe pipe(*cc);
  pipe.ack(1200, 1ms);
  EXPECT_EQ(cc->cwnd(), 13200u);
  cc->set_mss(1000);  // after data: cwnd keeps its size in bytes
  EXPECT_EQ(cc->cwnd(), 13200u);
  cc->on_rto(pipe.now, cc->cwnd());
  EXPECT_EQ(cc->cwnd(), 1000u);
}

TEST_P(CcCommon, WindowStaysSaneOverALongLossyRun) {
  // A deterministic mix of rounds, losses, timeouts and idle periods.
  auto cc = make();
  Pipe pipe(*cc, 20ms);
  bool lost_once = false;
  for (int r = 1; r <= 3000; ++r) {
    if (r % 500 == 0) {
      cc->on_rto(pipe.now, cc->cwnd());
      lost_once = true;
    } else if (r % 37 == 5) {
      cc->on_congestion_event(pipe.now, cc->cwnd());
      cc->on_recovery_end(pipe.now + 20ms);
      lost_once = true;
    } else if (r % 301 == 0) {
      cc->on_idle_restart(pipe.now + 1s);
      pipe.now += 1s;
    }
    pipe.round(r % 3 == 0 ? 2 * kMss : kMss);
    ASSERT_GE(cc->cwnd(), kMss) << "round " << r;
    ASSERT_LE(cc->cwnd(), cc_detail::kMaxCwnd) << "round " << r;
    if (lost_once) {
      ASSERT_GE(cc->ssthresh(), 2 * kMss) << "round " << r;
    }
  }
}

TEST_P(CcCommon, WindowIsCappedInsteadOfOverflowing) {
  auto cc = make();
  Pipe pipe(*cc, 1ms);
  for (int i = 0; i < 1'000'000 && cc->cwnd() < cc_detail::kMaxCwnd; ++i) {
    pipe.ack(64 * 1024, 1us);
  }
  EXPECT_EQ(cc->cwnd(), cc_detail::kMaxCwnd);
  pipe.ack(64 * 1024, 1us);
  EXPECT_EQ(cc->cwnd(), cc_detail::kMaxCwnd);
}

// ---------------------------------------------------------------------------------------
// NewReno.

TEST(NewReno, CongestionEventHalvesFlightSize) {
  NewReno cc(config());
  cc.on_congestion_event(kTimeZero, 100 * kMss);  // RFC 5681 eq. 4
  EXPECT_EQ(cc.ssthresh(), 50 * kMss);
  EXPECT_EQ(cc.cwnd(), 50 * kMss);
}

TEST(NewReno, RtoSsthreshIsHalfFlightSize) {
  NewReno cc(config());
  cc.on_rto(kTimeZero, 40 * kMss);
  EXPECT_EQ(cc.ssthresh(), 20 * kMss);
  EXPECT_EQ(cc.cwnd(), kMss);
}

TEST(NewReno, AvoidanceGrowsExactlyOneSegmentPerRtt) {
  NewReno cc(config());
  Pipe pipe(cc);
  cc.on_congestion_event(pipe.now, 100 * kMss);
  cc.on_recovery_end(pipe.now);
  for (uint32_t r = 1; r <= 20; ++r) {
    pipe.round();
    EXPECT_EQ(cc.cwnd(), (50 + r) * kMss) << "round " << r;
  }
}

TEST(NewReno, AvoidanceCountsBytesNotAcks) {
  // RFC 3465 2.1: a window's worth of bytes in odd-sized ACKs still adds exactly one SMSS;
  // delayed ACKs do not slow avoidance down.
  NewReno cc(config());
  Pipe pipe(cc);
  cc.on_congestion_event(pipe.now, 20 * kMss);  // cwnd = 10 MSS = 14600
  pipe.ack(5000, 1ms);
  pipe.ack(5000, 1ms);
  pipe.ack(4599, 1ms);
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  pipe.ack(1, 1ms);  // 14600 bytes acknowledged
  EXPECT_EQ(cc.cwnd(), 11 * kMss);
  pipe.rounds(4, 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 15 * kMss);
}

TEST(NewReno, BytesPastSsthreshCountTowardAvoidance) {
  NewReno cc(config());
  Pipe pipe(cc);
  cc.on_rto(pipe.now, 10 * kMss);  // ssthresh = 5 MSS, cwnd = 1 MSS
  pipe.ack(2 * kMss, 1ms);
  pipe.ack(kMss, 1ms);  // cwnd = 4 MSS
  ASSERT_EQ(cc.cwnd(), 4 * kMss);
  pipe.ack(2 * kMss, 1ms);  // one MSS reaches ssthresh, one MSS is left over
  EXPECT_EQ(cc.cwnd(), 5 * kMss);
  EXPECT_FALSE(cc.in_slow_start());
  pipe.ack(4 * kMss - 1, 1ms);
  EXPECT_EQ(cc.cwnd(), 5 * kMss);
  pipe.ack(1, 1ms);  // 1 + 4 MSS = cwnd bytes in avoidance
  EXPECT_EQ(cc.cwnd(), 6 * kMss);
}

TEST(NewReno, AvoidanceAfterIdleRestartCountsFromZero) {
  NewReno cc(config());
  Pipe pipe(cc);
  cc.on_congestion_event(pipe.now, 20 * kMss);  // cwnd = ssthresh = 10 MSS = IW
  pipe.ack(9 * kMss, 1ms);
  cc.on_idle_restart(pipe.now + 10s);
  EXPECT_EQ(cc.cwnd(), kIw);
  pipe.ack(9 * kMss, 10s);
  EXPECT_EQ(cc.cwnd(), kIw);  // the counter restarted: 9 MSS < cwnd
}

// ---------------------------------------------------------------------------------------
// CUBIC.

// Slow-starts a CUBIC controller to `segments` (a power of two times IW) and takes a loss.
void cubic_after_loss(Pipe& pipe, Cubic& cc, uint32_t segments) {
  while (cc.cwnd() < segments * kMss) pipe.round();
  ASSERT_EQ(cc.cwnd(), segments * kMss);
  cc.on_congestion_event(pipe.now, cc.cwnd());
  cc.on_recovery_end(pipe.now);
}

double cubic_k(double w_max_segments, double cwnd_epoch_segments) {
  return std::cbrt((w_max_segments - cwnd_epoch_segments) / Cubic::kC);  // RFC 9438 eq. 2
}

TEST(Cubic, CongestionEventReducesToSevenTenths) {
  Cubic cc(config());
  Pipe pipe(cc);
  pipe.rounds(3);  // 80 segments
  cc.on_congestion_event(pipe.now, cc.cwnd());
  EXPECT_EQ(cc.ssthresh(), 56 * kMss);  // RFC 9438 4.6: beta_cubic = 0.7
  EXPECT_EQ(cc.cwnd(), 56 * kMss);
  EXPECT_DOUBLE_EQ(cc.w_max(), 80.0 * kMss);  // 4.7 without fast convergence: W_max = cwnd
  EXPECT_DOUBLE_EQ(cc.cwnd_prior(), 80.0 * kMss);
  EXPECT_FALSE(cc.epoch_start().has_value());
}

TEST(Cubic, RtoSetsOneSegmentAndSsthreshSevenTenths) {
  Cubic cc(config());
  Pipe pipe(cc);
  pipe.rounds(3);
  cc.on_rto(pipe.now, cc.cwnd());
  EXPECT_EQ(cc.cwnd(), kMss);           // RFC 9438 4.8
  EXPECT_EQ(cc.ssthresh(), 56 * kMss);  // as in 4.6
}

TEST(Cubic, KMatchesRfcFormula) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 1280);
  pipe.ack(kMss, 1ms);  // first avoidance ACK opens the epoch
  ASSERT_TRUE(cc.epoch_start().has_value());
  // K = cbrt(W_max * (1 - beta) / C) = cbrt(1280 * 0.3 / 0.4) = cbrt(960), about 9.87 s.
  EXPECT_NEAR(cc.k_seconds(), std::cbrt(1280 * (1 - Cubic::kBeta) / Cubic::kC), 1e-3);
  EXPECT_NEAR(cc.k_seconds(), 9.8648, 1e-3);
  EXPECT_NEAR(cc.w_cubic(0us), 0.7 * cc.w_max(), kMss);  // W_cubic(0) = cwnd_epoch
}

TEST(Cubic, FollowsConcaveThenConvexCurveBackToWmaxAtK) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 1280);
  const double w_max = cc.w_max();
  pipe.ack(kMss, 1ms);
  const Instant epoch = *cc.epoch_start();
  const double k = cc.k_seconds();

  std::vector<double> t;  // seconds since the epoch, at the end of each round
  std::vector<double> w;  // cwnd in segments then
  double reached_w_max_at = -1;
  while (t.empty() || t.back() < k + 4) {
    pipe.round();
    t.push_back(static_cast<double>(to_us(pipe.now - epoch)) / 1e6);
    w.push_back(static_cast<double>(cc.cwnd()) / kMss);
    // The window tracks W_cubic(t): the target is W_cubic(t + RTT) and each round closes
    // most of the gap, so cwnd lands within a segment of the curve.
    EXPECT_NEAR(w.back(), cc.w_cubic(pipe.now - epoch) / kMss, 1.0) << "t = " << t.back();
    if (reached_w_max_at < 0 && w.back() * kMss >= w_max) reached_w_max_at = t.back();
  }
  // Back at W_max at about t = K.
  EXPECT_NEAR(reached_w_max_at, k, 0.3);

  // Concave, then convex: per-round growth shrinks toward K, then grows again.
  auto growth_around = [&](double at) {
    size_t i = 1;
    while (i + 1 < t.size() && t[i] < at) ++i;
    return w[i] - w[i - 1];
  };
  EXPECT_GT(growth_around(1.0), growth_around(4.0));
  EXPECT_GT(growth_around(4.0), growth_around(k));
  EXPECT_LT(growth_around(k), growth_around(k + 2.0));
  EXPECT_LT(growth_around(k + 2.0), growth_around(k + 4.0));
  EXPECT_LT(growth_around(k), 1.0);  // the plateau around W_max
  // Below W_max before K, above it after.
  EXPECT_LT(w[static_cast<size_t>(k * 0.5 / 0.1)] * kMss, w_max);
  EXPECT_GT(w.back() * kMss, w_max);
}

TEST(Cubic, RenoFriendlyRegionDominatesAtSmallBdp) {
  // W_max = 20 segments, RTT 1 ms: K = cbrt(15) ~ 2.47 s = 2470 RTTs, while Reno grows
  // by alpha_cubic per RTT, so after 100 RTTs the window is Reno's, far above W_cubic.
  Cubic cc(config());
  Pipe pipe(cc, 1ms);
  cubic_after_loss(pipe, cc, 20);
  pipe.ack(kMss, 1ms);
  const Instant epoch = *cc.epoch_start();
  pipe.rounds(100);
  const double cubic_only = cc.w_cubic(pipe.now - epoch + 1ms);
  EXPECT_LT(cubic_only, 20.0 * kMss);
  EXPECT_GT(cc.cwnd(), 3 * cubic_only);
  EXPECT_NEAR(cc.cwnd(), cc.w_est(), 1.0);  // the window is W_est (RFC 9438 4.3)
  // From 14 segments at alpha = 0.53 per RTT up to cwnd_prior = 20 (about 11 RTTs), then
  // one segment per RTT (alpha = 1): roughly 14 + 6 + 89 = 109 segments.
  EXPECT_NEAR(static_cast<double>(cc.cwnd()) / kMss, 109, 3);
}

TEST(Cubic, RenoFriendlyAlphaIsThreeTimesOneMinusBetaOverOnePlusBeta) {
  EXPECT_NEAR(Cubic::kAlpha, 3 * 0.3 / 1.7, 1e-12);
  Cubic cc(config());
  Pipe pipe(cc, 1ms);
  cubic_after_loss(pipe, cc, 20);
  const double w_est_start = 14.0 * kMss;
  pipe.round();  // one window: W_est += alpha_cubic segments
  EXPECT_NEAR(cc.w_est() - w_est_start, Cubic::kAlpha * kMss, 0.05 * kMss);
}

TEST(Cubic, FastConvergenceLowersWmax) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 1280);
  pipe.rounds(10);  // still below W_max
  const double cwnd = cc.cwnd();
  ASSERT_LT(cwnd, cc.w_max());
  cc.on_congestion_event(pipe.now, cc.cwnd());
  // RFC 9438 4.7: W_max = cwnd * (1 + beta) / 2 when cwnd < W_max.
  EXPECT_NEAR(cc.w_max(), cwnd * 0.85, 1.0);
  EXPECT_NEAR(cc.ssthresh(), cwnd * 0.7, 1.0);
  // K for the next epoch uses the lowered W_max and cwnd_epoch = ssthresh = 0.7 * cwnd.
  const double w_max = cc.w_max();
  const double cwnd_epoch = cc.ssthresh();
  cc.on_recovery_end(pipe.now);
  pipe.ack(kMss, 1ms);
  EXPECT_NEAR(cc.k_seconds(), cubic_k(w_max / kMss, cwnd_epoch / kMss), 1e-9);
}

TEST(Cubic, NoFastConvergenceAboveWmax) {
  Cubic cc(config());
  Pipe pipe(cc, 10ms);
  cubic_after_loss(pipe, cc, 80);
  while (cc.cwnd() <= cc.w_max() + kMss) pipe.round();
  const double cwnd = cc.cwnd();
  cc.on_congestion_event(pipe.now, cc.cwnd());
  EXPECT_NEAR(cc.w_max(), cwnd, 1.0);  // RFC 9438 4.7: W_max = cwnd
}

TEST(Cubic, FirstEpochAfterRtoHasKZero) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 1280);
  pipe.rounds(5);
  cc.on_rto(pipe.now, cc.cwnd());
  const uint32_t ssthresh = cc.ssthresh();
  while (!cc.epoch_start()) pipe.ack(2 * kMss, 1ms);
  // The epoch opens when slow start reaches ssthresh, so cwnd_epoch = ssthresh.
  EXPECT_EQ(cc.k_seconds(), 0.0);                               // RFC 9438 4.8
  EXPECT_DOUBLE_EQ(cc.w_max(), static_cast<double>(ssthresh));  // W_max = cwnd_epoch
}

TEST(Cubic, ApplicationLimitedTimeIsNotPartOfT) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 640);
  pipe.ack(kMss, 1ms);
  const Instant epoch = *cc.epoch_start();
  const uint32_t cwnd = cc.cwnd();
  for (int i = 0; i < 100; ++i) {  // 10 s of application-limited ACKs
    pipe.now += 100ms;
    AckEvent ack = pipe.ack_event(kMss);
    ack.app_limited = true;
    ack.bytes_in_flight = kMss;
    cc.on_ack(ack);
  }
  EXPECT_EQ(cc.cwnd(), cwnd);
  EXPECT_EQ(*cc.epoch_start(), epoch + 10s);  // RFC 9438 5.8
}

TEST(Cubic, IdleRestartClosesEpoch) {
  Cubic cc(config());
  Pipe pipe(cc);
  cubic_after_loss(pipe, cc, 640);
  pipe.rounds(3);
  ASSERT_TRUE(cc.epoch_start().has_value());
  const double w_max = cc.w_max();
  cc.on_idle_restart(pipe.now + 30s);
  EXPECT_EQ(cc.cwnd(), kIw);
  EXPECT_FALSE(cc.epoch_start().has_value());
  EXPECT_DOUBLE_EQ(cc.w_max(), w_max);
}

}  // namespace
}  // namespace tou
