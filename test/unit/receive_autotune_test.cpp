// The growth rule of receive buffer autotuning (core/receive_autotune.hpp), as
// Linux's tcp_rcv_space_adjust and tcp_rcv_rtt_update compute it.
#include "core/receive_autotune.hpp"

#include <gtest/gtest.h>

namespace tou {
namespace {

constexpr size_t kInitial = 64 * 1024;
constexpr size_t kLimit = 4 << 20;
constexpr uint16_t kMss = 1000;

Instant ms(int64_t v) {
  return instant_from_us(v * 1000);
}

// Started at 0 ms with a 10 ms round trip measured from a timestamp echo.
ReceiveAutotune started() {
  ReceiveAutotune a;
  a.start(ms(0), {.initial = kInitial, .limit = kLimit, .mss = kMss});
  a.on_data(ms(1), kMss, std::chrono::milliseconds(10), 0, SeqNum(1), SeqNum(1 + kInitial));
  return a;
}

TEST(ReceiveAutotune, FirstSpaceIsFiveSegmentsAtMostHalfTheInitialWindow) {
  ReceiveAutotune a;
  a.start(ms(0), {.initial = kInitial, .limit = kLimit, .mss = kMss});
  EXPECT_EQ(a.space(), 5u * kMss);
  ReceiveAutotune big_mss;
  big_mss.start(ms(0), {.initial = kInitial, .limit = kLimit, .mss = 65000});
  EXPECT_EQ(big_mss.space(), kInitial / 2);
}

TEST(ReceiveAutotune, NothingGrowsBeforeAnRttSample) {
  ReceiveAutotune a;
  a.start(ms(0), {.initial = kInitial, .limit = kLimit, .mss = kMss});
  EXPECT_EQ(a.on_consumed(ms(500), 1 << 20, kInitial), kInitial);
  EXPECT_FALSE(a.rtt());
}

TEST(ReceiveAutotune, GrowsOncePerRoundTripToTwiceTheConsumptionPlusHeadroom) {
  ReceiveAutotune a = started();
  EXPECT_EQ(a.on_consumed(ms(5), 30'000, kInitial), kInitial) << "within the round trip";
  // copied 30000 > space 5000: rcvwin = 2 * 30000 + 16 * 1000 = 76000, plus twice
  // rcvwin * (30000 - 5000) / 5000 = 2 * 380000 for a sender still growing.
  EXPECT_EQ(a.on_consumed(ms(10), 0, kInitial), 836'000u);
  EXPECT_EQ(a.space(), 30'000u);
  // The next round trip consumed no more than the last: no growth.
  EXPECT_EQ(a.on_consumed(ms(20), 30'000, 836'000), 836'000u);
  // A sender that doubled: 2 * 60000 + 16000 = 136000, plus 2 * 136000 * 30000 / 30000.
  EXPECT_EQ(a.on_consumed(ms(30), 60'000, 136'000), 408'000u);
  // Never shrinks, never past the limit.
  EXPECT_EQ(a.on_consumed(ms(40), 1000, 836'000), 836'000u);
  EXPECT_EQ(a.on_consumed(ms(50), 3'000'000, 836'000), kLimit);
}

TEST(ReceiveAutotune, OutOfOrderDataGrowsTheBufferToTwiceTheSpaceAndTheExtent) {
  ReceiveAutotune a = started();  // space 5000
  EXPECT_EQ(a.on_out_of_order(20'000, kInitial), kInitial) << "2 * (5000 + 20000) < 64 KiB";
  EXPECT_EQ(a.on_out_of_order(60'000, kInitial), 130'000u);
  EXPECT_EQ(a.on_out_of_order(8 << 20, kInitial), kLimit);
}

TEST(ReceiveAutotune, StopEndsGrowth) {
  ReceiveAutotune a = started();
  a.stop();
  EXPECT_FALSE(a.enabled());
  EXPECT_EQ(a.on_consumed(ms(50), 1 << 20, kInitial), kInitial);
  EXPECT_EQ(a.on_out_of_order(1 << 20, kInitial), kInitial);
}

TEST(ReceiveAutotune, TimestampRttTakesSmallerSamplesAtOnceAndLargerByAnEighth) {
  ReceiveAutotune a = started();
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(10));
  a.on_data(ms(2), kMss, std::chrono::milliseconds(18), 0, SeqNum(2000), SeqNum(70000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(11));
  a.on_data(ms(3), kMss, std::chrono::milliseconds(4), 0, SeqNum(3000), SeqNum(70000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(4));
  // A larger sample while the program has bytes unread: the reader held the sender.
  a.on_data(ms(3), kMss, std::chrono::milliseconds(50), 1, SeqNum(3000), SeqNum(70000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(4));
  // A short segment (less than a full one seen before) may answer a slow program.
  a.on_data(ms(4), 100, std::chrono::milliseconds(1), 0, SeqNum(3100), SeqNum(70000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(4));
}

TEST(ReceiveAutotune, WithoutTimestampsTheRttIsTheTimeToReceiveOneWindow) {
  ReceiveAutotune a;
  a.start(ms(0), {.initial = kInitial, .limit = kLimit, .mss = kMss});
  a.on_data(ms(0), kMss, std::nullopt, 0, SeqNum(1000), SeqNum(5000));  // measures to 5000
  a.on_data(ms(3), kMss, std::nullopt, 0, SeqNum(4000), SeqNum(9000));
  EXPECT_FALSE(a.rtt());
  a.on_data(ms(7), kMss, std::nullopt, 0, SeqNum(5000), SeqNum(9000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(7));
  a.on_data(ms(20), kMss, std::nullopt, 0, SeqNum(9000), SeqNum(12000));
  EXPECT_EQ(a.rtt(), std::chrono::milliseconds(7)) << "a window-based sample only lowers it";
}

}  // namespace
}  // namespace tou
