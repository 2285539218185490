// ReceiveCoalescing: when a worker sleeps to take a stream's datagrams in one
// batch, and when it must not.
#include "engine/receive_coalescing.hpp"

#include <gtest/gtest.h>

namespace tou::engine {
namespace {

constexpr Duration kWindow{1000};

Instant at_us(int64_t us) {
  return instant_from_us(us);
}

// One turn at `us` that served `datagrams` datagrams of windows `window`.
std::optional<Instant> turn(ReceiveCoalescing& c, int64_t us, int datagrams,
                            Duration window = kWindow,
                            std::optional<Instant> next_timer = std::nullopt) {
  for (int i = 0; i < datagrams; ++i) c.on_datagram(window);
  return c.end_turn(at_us(us), next_timer);
}

TEST(ReceiveCoalescing, TheFirstDatagramOfAStreamDoesNotWait) {
  ReceiveCoalescing c;
  EXPECT_EQ(turn(c, 0, 1), std::nullopt);
}

TEST(ReceiveCoalescing, ASecondWithinTheWindowSleepsForTheWindow) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  EXPECT_EQ(turn(c, 120, 1), at_us(1120));
}

TEST(ReceiveCoalescing, TheSleepNeverPassesTheNextTimer) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  EXPECT_EQ(turn(c, 120, 1, kWindow, at_us(600)), at_us(600));
  EXPECT_EQ(turn(c, 600, 4, kWindow, at_us(500)), std::nullopt) << "a timer already due";
}

TEST(ReceiveCoalescing, PollsWhileEveryPollFindsTheStream) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  ASSERT_EQ(turn(c, 120, 1), at_us(1120));
  EXPECT_TRUE(c.polling()) << "the next turn follows a sleep";
  EXPECT_EQ(turn(c, 1120, 8), at_us(2120)) << "a poll: no second datagram needed";
  EXPECT_EQ(turn(c, 2120, 8), at_us(3120));
  EXPECT_EQ(turn(c, 3120, 0), std::nullopt) << "a poll that finds nothing ends it";
  EXPECT_FALSE(c.polling());
  EXPECT_EQ(turn(c, 9000, 1), std::nullopt) << "and the next datagram waits for nothing";
}

TEST(ReceiveCoalescing, AnyOtherDatagramInTheTurnEndsIt) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  c.on_datagram(Duration{0});  // a handshake, a request, an unknown address
  EXPECT_EQ(turn(c, 120, 1), std::nullopt);
  EXPECT_EQ(turn(c, 240, 1), at_us(1240)) << "the stream alone again";
}

TEST(ReceiveCoalescing, TheTurnsSmallestWindowApplies) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  c.on_datagram(Duration{300});
  EXPECT_EQ(turn(c, 120, 1), at_us(420));
}

TEST(ReceiveCoalescing, SparseDatagramsNeverWait) {
  ReceiveCoalescing c;
  for (int64_t us = 0; us < 20'000; us += 1500) EXPECT_EQ(turn(c, us, 1), std::nullopt) << us;
}

TEST(ReceiveCoalescing, AFullBatchDoesNotWaitForMore) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  EXPECT_EQ(turn(c, 120, ReceiveCoalescing::kEnoughDatagrams), std::nullopt);
  EXPECT_EQ(turn(c, 240, ReceiveCoalescing::kEnoughDatagrams - 1), at_us(1240));
}

TEST(ReceiveCoalescing, ATurnWithoutDatagramsNeitherSleepsNorCounts) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  EXPECT_EQ(turn(c, 50, 0), std::nullopt) << "a timer or the program's pair";
  EXPECT_EQ(turn(c, 120, 1), at_us(1120)) << "the stream's previous datagram was at 0";
}

TEST(ReceiveCoalescing, AWorkerWithWorkWaitingDoesNotSleepNorCountTheNextTurnAPoll) {
  ReceiveCoalescing c;
  turn(c, 0, 1);
  c.on_datagram(kWindow);
  EXPECT_EQ(c.end_turn(at_us(120), std::nullopt, /*work_waiting=*/true), std::nullopt);
  EXPECT_FALSE(c.polling());
}

TEST(ReceiveCoalescing, DisabledItNeverSleepsNorPolls) {
  ReceiveCoalescing c;
  c.disable();
  for (int64_t us = 0; us < 2000; us += 120) {
    EXPECT_EQ(turn(c, us, 4), std::nullopt) << us;
    EXPECT_FALSE(c.polling());
  }
}

}  // namespace
}  // namespace tou::engine
