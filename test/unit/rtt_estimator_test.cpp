// RFC 6298 arithmetic, worked by hand in microseconds (integer, rounded down).
#include "core/rtt_estimator.hpp"

#include <gtest/gtest.h>

namespace tou {
namespace {

TEST(RttEstimator, InitialRtoBeforeAnySample) {
  RttEstimator rtt;
  EXPECT_FALSE(rtt.has_sample());
  EXPECT_EQ(rtt.rto(), 1s);  // RFC 6298 (2.1)
  EXPECT_EQ(rtt.srtt(), 0us);
  EXPECT_EQ(rtt.min_rtt(), 0us);
}

TEST(RttEstimator, FirstSample) {
  RttEstimator rtt;
  rtt.on_sample(100ms);
  // (2.2): SRTT = R = 100 ms, RTTVAR = R/2 = 50 ms, RTO = 100 + max(1, 4*50) = 300 ms.
  EXPECT_TRUE(rtt.has_sample());
  EXPECT_EQ(rtt.srtt(), 100ms);
  EXPECT_EQ(rtt.rttvar(), 50ms);
  EXPECT_EQ(rtt.rto(), 300ms);
  EXPECT_EQ(rtt.latest(), 100ms);
  EXPECT_EQ(rtt.min_rtt(), 100ms);
}

TEST(RttEstimator, LaterSamples) {
  RttEstimator rtt;
  rtt.on_sample(100ms);
  rtt.on_sample(200ms);
  // (2.3): RTTVAR = 3/4 * 50000 + 1/4 * |100000 - 200000| = 37500 + 25000 = 62500
  //        SRTT = 7/8 * 100000 + 1/8 * 200000 = 87500 + 25000 = 112500
  //        RTO = 112500 + 4 * 62500 = 362500
  EXPECT_EQ(rtt.rttvar(), 62500us);
  EXPECT_EQ(rtt.srtt(), 112500us);
  EXPECT_EQ(rtt.rto(), 362500us);
  EXPECT_EQ(rtt.latest(), 200ms);
  EXPECT_EQ(rtt.min_rtt(), 100ms);

  rtt.on_sample(100ms);
  // RTTVAR = 3/4 * 62500 + 1/4 * |112500 - 100000| = 46875 + 3125 = 50000
  // SRTT = (7 * 112500 + 100000) / 8 = 887500 / 8 = 110937.5 -> 110937
  // RTO = 110937 + 200000 = 310937
  EXPECT_EQ(rtt.rttvar(), 50000us);
  EXPECT_EQ(rtt.srtt(), 110937us);
  EXPECT_EQ(rtt.rto(), 310937us);
}

TEST(RttEstimator, RttvarUsesTheOldSrtt) {
  // If SRTT were updated first, |SRTT - R| would be 7/8 * 800 ms instead of 800 ms.
  RttEstimator rtt;
  rtt.on_sample(200ms);   // SRTT 200 ms, RTTVAR 100 ms
  rtt.on_sample(1000ms);  // RTTVAR = 75000 + 800000/4 = 275000; SRTT = 200000 + 100000
  EXPECT_EQ(rtt.rttvar(), 275000us);
  EXPECT_EQ(rtt.srtt(), 300000us);
  EXPECT_EQ(rtt.rto(), 1400000us);
}

TEST(RttEstimator, ClampedToMinRto) {
  RttEstimator rtt({.floor = RttConfig::Floor::kRto});
  rtt.on_sample(10ms);  // 10 + 4 * 5 = 30 ms < 200 ms
  EXPECT_EQ(rtt.rto(), 200ms);

  RttEstimator rfc({.initial_rto = 1s, .min_rto = 1s, .floor = RttConfig::Floor::kRto});
  rfc.on_sample(100ms);  // RFC 6298 (2.4) floor
  EXPECT_EQ(rfc.rto(), 1s);
}

// Linux's floor (the default): RTO >= SRTT + min_rto, however small RTTVAR gets.
TEST(RttEstimator, MinRtoFloorsTheVarianceTermAsLinux) {
  RttEstimator rtt;
  rtt.on_sample(10ms);  // 10 + max(4 * 5, 200) ms
  EXPECT_EQ(rtt.rto(), 210ms);
  // A steady 200 ms path: RTTVAR decays to 0, the RTO stays 200 ms above SRTT
  // (RFC 6298 (2.4) alone would leave SRTT + 1 ms, one lost retransmission from a timeout).
  RttEstimator steady;
  for (int i = 0; i < 100; ++i) steady.on_sample(200ms);
  EXPECT_LT(steady.rttvar(), 1ms);
  EXPECT_EQ(steady.rto(), 400ms);
  RttEstimator rfc({.floor = RttConfig::Floor::kRto});
  for (int i = 0; i < 100; ++i) rfc.on_sample(200ms);
  EXPECT_EQ(rfc.rto(), 201ms);
}

TEST(RttEstimator, ClampedToMaxRto) {
  RttEstimator rtt;
  rtt.on_sample(50s);  // 50 + 4 * 25 = 150 s
  EXPECT_EQ(rtt.rto(), 60s);
}

TEST(RttEstimator, GranularityFloorsTheVarianceTerm) {
  RttEstimator rtt({.min_rto = 0us, .granularity = 10ms});
  rtt.on_sample(20ms);  // RTTVAR 10000: RTO = 20000 + max(10000, 40000)
  EXPECT_EQ(rtt.rto(), 60ms);
  // Constant samples: RTTVAR <- 3/4 RTTVAR: 7500, 5625, 4218, 3163, 2372.
  for (int i = 0; i < 4; ++i) rtt.on_sample(20ms);
  EXPECT_EQ(rtt.rttvar(), 3163us);
  EXPECT_EQ(rtt.rto(), 20000us + 4 * 3163us);
  rtt.on_sample(20ms);
  EXPECT_EQ(rtt.rttvar(), 2372us);
  EXPECT_EQ(rtt.rto(), 30ms);  // 4 * 2372 = 9488 < G = 10000
}

TEST(RttEstimator, BackoffDoublesAndCaps) {
  RttEstimator rtt;
  rtt.on_sample(100ms);  // RTO 300 ms
  rtt.backoff();
  EXPECT_EQ(rtt.backoff_count(), 1);
  EXPECT_EQ(rtt.rto(), 600ms);
  rtt.backoff();
  EXPECT_EQ(rtt.rto(), 1200ms);
  for (int i = 2; i < 7; ++i) rtt.backoff();
  EXPECT_EQ(rtt.backoff_count(), 7);
  EXPECT_EQ(rtt.rto(), 38400ms);  // 300 ms * 2^7
  rtt.backoff();
  EXPECT_EQ(rtt.rto(), 60s);  // 76.8 s capped, RFC 6298 (5.5) with (2.5)
  for (int i = 0; i < 100; ++i) rtt.backoff();
  EXPECT_EQ(rtt.backoff_count(), 108);
  EXPECT_EQ(rtt.rto(), 60s);
  // SRTT and RTTVAR are untouched by backoff.
  EXPECT_EQ(rtt.srtt(), 100ms);
  EXPECT_EQ(rtt.rttvar(), 50ms);
}

TEST(RttEstimator, BackoffBeforeAnySample) {
  RttEstimator rtt;
  rtt.backoff();
  EXPECT_EQ(rtt.rto(), 2s);
  rtt.backoff();
  EXPECT_EQ(rtt.rto(), 4s);
}

TEST(RttEstimator, NewSampleEndsBackoff) {
  RttEstimator rtt;
  rtt.on_sample(100ms);
  rtt.backoff();
  rtt.backoff();
  EXPECT_EQ(rtt.rto(), 1200ms);
  rtt.on_sample(100ms);  // RTTVAR 37500, SRTT 100000: RTO 100 + max(150, 200 floor) ms
  EXPECT_EQ(rtt.backoff_count(), 0);
  EXPECT_EQ(rtt.rto(), 300ms);
}

TEST(RttEstimator, MinRttAndLatest) {
  RttEstimator rtt;
  rtt.on_sample(80ms);
  rtt.on_sample(50ms);
  rtt.on_sample(90ms);
  EXPECT_EQ(rtt.min_rtt(), 50ms);
  EXPECT_EQ(rtt.latest(), 90ms);
}

TEST(RttEstimator, NegativeSampleCountsAsZero) {
  RttEstimator rtt;
  rtt.on_sample(-5ms);
  EXPECT_EQ(rtt.srtt(), 0us);
  EXPECT_EQ(rtt.rttvar(), 0us);
  EXPECT_EQ(rtt.rto(), 200ms);  // 0 + G = 1 ms, then the floor
}

}  // namespace
}  // namespace tou
