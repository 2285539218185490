// SeqNum: modular comparison and arithmetic (RFC 9293 3.4), especially across 2^32.
#include "wire/seq_num.hpp"

#include <gtest/gtest.h>

namespace tou {
namespace {

constexpr uint32_t kMax = 0xffffffff;

TEST(SeqNumTest, OrdersNormally) {
  EXPECT_LT(SeqNum(1), SeqNum(2));
  EXPECT_LE(SeqNum(2), SeqNum(2));
  EXPECT_GT(SeqNum(3), SeqNum(2));
  EXPECT_GE(SeqNum(3), SeqNum(3));
  EXPECT_EQ(SeqNum(7), SeqNum(7));
  EXPECT_NE(SeqNum(7), SeqNum(8));
}

TEST(SeqNumTest, OrdersAcrossTheWrap) {
  const SeqNum before(kMax - 10);
  const SeqNum after(5);  // 16 past `before`, modulo 2^32
  EXPECT_LT(before, after);
  EXPECT_LE(before, after);
  EXPECT_GT(after, before);
  EXPECT_GE(after, before);
  EXPECT_LT(SeqNum(kMax), SeqNum(0));
  EXPECT_EQ(after - before, 16);
  EXPECT_EQ(before - after, -16);
}

TEST(SeqNumTest, AdditionWraps) {
  EXPECT_EQ((SeqNum(kMax) + 1).raw(), 0u);
  EXPECT_EQ((SeqNum(kMax - 1) + 5).raw(), 3u);
  EXPECT_EQ((SeqNum(2) - 5).raw(), kMax - 2);
  SeqNum s(kMax);
  s += 2;
  EXPECT_EQ(s.raw(), 1u);
}

TEST(SeqNumTest, DistanceIsSignedUpToHalfTheSpace) {
  EXPECT_EQ(SeqNum(0x7fffffff) - SeqNum(0), 0x7fffffff);
  EXPECT_GT(SeqNum(0x7fffffff), SeqNum(0));
  // At exactly 2^31 apart the order flips: the caller must keep windows below that.
  EXPECT_LT(SeqNum(0x80000000), SeqNum(0));
}

TEST(SeqNumTest, MinAndMaxAcrossTheWrap) {
  EXPECT_EQ(seq_max(SeqNum(kMax), SeqNum(3)), SeqNum(3));
  EXPECT_EQ(seq_min(SeqNum(kMax), SeqNum(3)), SeqNum(kMax));
  EXPECT_EQ(seq_max(SeqNum(10), SeqNum(20)), SeqNum(20));
}

TEST(SeqNumTest, InWindowAcrossTheWrap) {
  const SeqNum start(kMax - 1);  // window covers kMax-1, kMax, 0, 1
  EXPECT_TRUE(seq_in_window(SeqNum(kMax - 1), start, 4));
  EXPECT_TRUE(seq_in_window(SeqNum(kMax), start, 4));
  EXPECT_TRUE(seq_in_window(SeqNum(1), start, 4));
  EXPECT_FALSE(seq_in_window(SeqNum(2), start, 4));
  EXPECT_FALSE(seq_in_window(SeqNum(kMax - 2), start, 4));
  EXPECT_FALSE(seq_in_window(start, start, 0));
}

}  // namespace
}  // namespace tou
