// GSO trains and GRO batches (engine/gso.hpp) with fake buffers: which queued
// datagrams travel in one train, and how a coalesced buffer splits.
#include "engine/gso.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace tou::engine {
namespace {

// Datagrams of these lengths back to back from offset 0, all on route 1.
std::vector<QueuedDatagram> queue_of(const std::vector<size_t>& lengths, uint64_t route = 1) {
  std::vector<QueuedDatagram> q;
  size_t at = 0;
  for (size_t len : lengths) {
    q.push_back({at, len, route});
    at += len;
  }
  return q;
}

TEST(GsoTrain, EqualSegmentsOfOneRouteMakeOneTrain) {
  auto q = queue_of(std::vector<size_t>(10, 1472));
  EXPECT_EQ(gso_train_length(q), 10u);
}

TEST(GsoTrain, AShorterLastSegmentEndsTheTrain) {
  auto q = queue_of({1472, 1472, 1472, 600, 1472, 1472});
  EXPECT_EQ(gso_train_length(q), 4u);
  EXPECT_EQ(gso_train_length(std::span(q).subspan(4)), 2u);
}

TEST(GsoTrain, ALongerSegmentStartsANewTrain) {
  auto q = queue_of({600, 600, 1472, 1472});
  EXPECT_EQ(gso_train_length(q), 2u);
  EXPECT_EQ(gso_train_length(std::span(q).subspan(2)), 2u);
}

TEST(GsoTrain, AnotherRouteStartsANewTrain) {
  auto q = queue_of({1472, 1472, 1472});
  q[2].route = 2;
  EXPECT_EQ(gso_train_length(q), 2u);
}

TEST(GsoTrain, DatagramsNotBackToBackAreNotATrain) {
  auto q = queue_of({1472, 1472});
  q[1].offset += 8;
  EXPECT_EQ(gso_train_length(q), 1u);
}

TEST(GsoTrain, AtMostTheSegmentLimit) {
  auto q = queue_of(std::vector<size_t>(kMaxGsoSegments + 10, 100));
  EXPECT_EQ(gso_train_length(q), kMaxGsoSegments);
}

TEST(GsoTrain, AtMostOneIpDatagramOfBytes) {
  // 44 segments of 1472 bytes are 64,768 bytes; a 45th would pass 65,507.
  auto q = queue_of(std::vector<size_t>(60, 1472));
  size_t n = gso_train_length(q);
  EXPECT_EQ(n, kMaxGsoBytes / 1472);
  EXPECT_LE(n * 1472, kMaxGsoBytes);
  // A loopback-sized datagram goes alone.
  auto big = queue_of({65000, 65000});
  EXPECT_EQ(gso_train_length(big), 1u);
}

TEST(GsoTrain, EmptyAndSingle) {
  EXPECT_EQ(gso_train_length({}), 0u);
  auto q = queue_of({1472});
  EXPECT_EQ(gso_train_length(q), 1u);
}

// Splits buf with segment size `size` and returns the lengths seen, checking
// that the pieces cover the buffer in order.
std::vector<size_t> split(const std::vector<uint8_t>& buf, size_t size) {
  std::vector<size_t> lengths;
  const uint8_t* expect = buf.data();
  size_t n = for_each_gro_segment(std::span<const uint8_t>(buf), size, [&](auto seg) {
    EXPECT_EQ(seg.data(), expect);
    expect += seg.size();
    lengths.push_back(seg.size());
  });
  EXPECT_EQ(n, lengths.size());
  EXPECT_EQ(expect, buf.data() + buf.size());
  return lengths;
}

TEST(GroSplit, EqualSegmentsAndAShorterLast) {
  std::vector<uint8_t> buf(3 * 1472 + 500);
  std::iota(buf.begin(), buf.end(), uint8_t{0});
  EXPECT_EQ(split(buf, 1472), (std::vector<size_t>{1472, 1472, 1472, 500}));
}

TEST(GroSplit, ExactMultiple) {
  std::vector<uint8_t> buf(4 * 1000);
  EXPECT_EQ(split(buf, 1000), (std::vector<size_t>{1000, 1000, 1000, 1000}));
}

TEST(GroSplit, NotCoalescedIsOneDatagram) {
  std::vector<uint8_t> buf(1234);
  EXPECT_EQ(split(buf, 0), (std::vector<size_t>{1234}));
  EXPECT_EQ(split(buf, 1234), (std::vector<size_t>{1234}));
  EXPECT_EQ(split(buf, 5000), (std::vector<size_t>{1234}));
}

TEST(GroSplit, AnEmptyDatagramIsStillOneDatagram) {
  std::vector<uint8_t> buf;
  EXPECT_EQ(split(buf, 0), (std::vector<size_t>{0}));
}

}  // namespace
}  // namespace tou::engine
