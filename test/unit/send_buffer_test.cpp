#include "core/send_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace tou {
namespace {

std::vector<uint8_t> bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return v;
}

std::vector<uint8_t> copy(const SendBuffer& b, size_t offset, size_t n) {
  std::vector<uint8_t> out(n);
  b.copy_out(offset, out);
  return out;
}

TEST(SendBuffer, WriteCopyConsume) {
  SendBuffer b(16);
  EXPECT_EQ(b.capacity(), 16u);
  EXPECT_EQ(b.write(bytes(10, 0)), 10u);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.free_space(), 6u);
  EXPECT_EQ(copy(b, 0, 10), bytes(10, 0));
  EXPECT_EQ(copy(b, 3, 4), bytes(4, 3));
  b.consume(4);
  EXPECT_EQ(b.size(), 6u);
  EXPECT_EQ(copy(b, 0, 6), bytes(6, 4));
}

TEST(SendBuffer, WriteTakesOnlyFreeSpace) {
  SendBuffer b(8);
  EXPECT_EQ(b.write(bytes(5, 0)), 5u);
  EXPECT_EQ(b.write(bytes(5, 5)), 3u);
  EXPECT_EQ(b.free_space(), 0u);
  EXPECT_EQ(b.write(bytes(1, 0)), 0u);
  EXPECT_EQ(copy(b, 0, 8), bytes(8, 0));
}

TEST(SendBuffer, WrapAround) {
  SendBuffer b(10);
  b.write(bytes(8, 0));
  b.consume(6);                         // bytes 6, 7 at storage 6..7
  EXPECT_EQ(b.write(bytes(7, 8)), 7u);  // 8, 9 at storage 8..9, then 10..14 at 0..4
  EXPECT_EQ(b.size(), 9u);
  EXPECT_EQ(copy(b, 0, 9), bytes(9, 6));
  EXPECT_EQ(copy(b, 3, 5), bytes(5, 9));  // crosses the end of storage
  b.consume(5);
  EXPECT_EQ(copy(b, 0, 4), bytes(4, 11));
  EXPECT_EQ(b.write(bytes(6, 15)), 6u);
  EXPECT_EQ(copy(b, 0, 10), bytes(10, 11));
}

TEST(SendBuffer, ConsumeAll) {
  SendBuffer b(4);
  b.write(bytes(3, 0));
  b.consume(3);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.write(bytes(4, 7)), 4u);
  EXPECT_EQ(copy(b, 0, 4), bytes(4, 7));
}

TEST(SendBuffer, SetCapacityPreservesWrappedContent) {
  SendBuffer b(8);
  b.write(bytes(6, 0));
  b.consume(5);
  b.write(bytes(6, 6));  // wraps: 5..11
  b.set_capacity(32);
  EXPECT_EQ(b.capacity(), 32u);
  EXPECT_EQ(b.size(), 7u);
  EXPECT_EQ(copy(b, 0, 7), bytes(7, 5));
  EXPECT_EQ(b.write(bytes(25, 12)), 25u);
  EXPECT_EQ(copy(b, 0, 32), bytes(32, 5));
}

TEST(SendBuffer, ShrinkNeverBelowSize) {
  SendBuffer b(16);
  b.write(bytes(10, 0));
  b.set_capacity(4);
  EXPECT_EQ(b.capacity(), 10u);
  EXPECT_EQ(copy(b, 0, 10), bytes(10, 0));
  b.consume(6);
  b.set_capacity(5);
  EXPECT_EQ(b.capacity(), 5u);
  EXPECT_EQ(copy(b, 0, 4), bytes(4, 6));
}

TEST(SendBuffer, ZeroCapacity) {
  SendBuffer b(0);
  EXPECT_EQ(b.write(bytes(3, 0)), 0u);
  b.set_capacity(3);
  EXPECT_EQ(b.write(bytes(3, 0)), 3u);
}

TEST(SendBuffer, FreshBufferAllocatesNothing) {
  SendBuffer b(1 << 20);
  EXPECT_EQ(b.allocated(), 0u);
  EXPECT_EQ(b.capacity(), size_t{1} << 20);
  EXPECT_EQ(b.free_space(), size_t{1} << 20);
  EXPECT_EQ(b.write({}), 0u);
  EXPECT_EQ(b.allocated(), 0u);
}

TEST(SendBuffer, SmallWriteAllocatesLittleAndDrainGivesItBack) {
  SendBuffer b(1 << 20);
  EXPECT_EQ(b.write(bytes(100, 0)), 100u);
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);
  EXPECT_EQ(b.free_space(), (size_t{1} << 20) - 100);  // the limit, not the allocation
  b.consume(60);
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);  // kept while bytes remain
  b.consume(40);
  EXPECT_EQ(b.allocated(), 0u);  // idle: an idle connection holds no storage
  EXPECT_EQ(b.write(bytes(200, 3)), 200u);
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);
  EXPECT_EQ(copy(b, 0, 200), bytes(200, 3));
}

TEST(SendBuffer, GrownStorageIsKeptWhenDrained) {
  SendBuffer b(1 << 20);
  EXPECT_EQ(b.write(bytes(3 * SendBuffer::kInitialAllocation, 0)),
            3 * SendBuffer::kInitialAllocation);
  const size_t grown = b.allocated();
  EXPECT_GT(grown, SendBuffer::kInitialAllocation);
  b.consume(b.size());
  EXPECT_EQ(b.allocated(), grown);  // a bulk sender's storage stays for the next writes
}

TEST(SendBuffer, LargeFirstWriteAllocatesItsSizeRounded) {
  SendBuffer b(1 << 20);
  EXPECT_EQ(b.write(bytes(100'000, 0)), 100'000u);
  EXPECT_EQ(b.allocated(), 131'072u);
  EXPECT_EQ(copy(b, 0, 100'000), bytes(100'000, 0));
}

TEST(SendBuffer, AllocationNeverExceedsCapacity) {
  SendBuffer small(100);
  EXPECT_EQ(small.write(bytes(10, 0)), 10u);
  EXPECT_EQ(small.allocated(), 100u);
  SendBuffer odd(100'000);  // not a power of two: the last growth stops at the limit
  for (size_t i = 0; i < 100; ++i)
    EXPECT_EQ(odd.write(bytes(1000, static_cast<uint8_t>(i))), 1000u);
  EXPECT_EQ(odd.free_space(), 0u);
  EXPECT_EQ(odd.allocated(), 100'000u);
}

TEST(SendBuffer, GrowthAcrossTheWrapKeepsContent) {
  constexpr size_t kInit = SendBuffer::kInitialAllocation;
  SendBuffer b(1 << 20);
  std::deque<uint8_t> model;
  uint8_t next = 0;
  auto write = [&](size_t n) {
    std::vector<uint8_t> data(n);
    for (auto& x : data) x = next++;
    ASSERT_EQ(b.write(data), n);
    model.insert(model.end(), data.begin(), data.end());
  };
  auto consume = [&](size_t n) {
    b.consume(n);
    model.erase(model.begin(), model.begin() + n);
  };
  write(kInit - 1000);
  consume(kInit - 2000);  // head near the end of storage
  write(5000);            // wraps: 1000 bytes at the end, 4000 at the start
  EXPECT_EQ(b.allocated(), kInit);
  write(kInit);  // does not fit: doubles, laying the ring out in order
  EXPECT_EQ(b.allocated(), 2 * kInit);
  ASSERT_EQ(b.size(), model.size());
  EXPECT_EQ(copy(b, 0, b.size()), std::vector<uint8_t>(model.begin(), model.end()));

  // Keep the ring wrapping while filling to the limit: one doubling per size,
  // ending exactly at the capacity.
  size_t growths = 1;
  size_t last = b.allocated();
  while (b.free_space() > 0) {
    write(std::min<size_t>(3000, b.free_space()));
    if (b.free_space() > 0) consume(1000);  // head_ moves on, so each growth meets a wrapped ring
    if (b.allocated() != last) {
      EXPECT_EQ(b.allocated(), std::min<size_t>(2 * last, b.capacity()));
      last = b.allocated();
      ++growths;
    }
    ASSERT_LE(b.allocated(), b.capacity());
    ASSERT_GE(b.allocated(), b.size());
  }
  EXPECT_EQ(b.allocated(), b.capacity());
  EXPECT_EQ(growths, static_cast<size_t>(std::countr_zero((size_t{1} << 20) / kInit)));
  EXPECT_EQ(copy(b, 0, b.size()), std::vector<uint8_t>(model.begin(), model.end()));
}

TEST(SendBuffer, SetCapacityBelowAllocationGivesStorageBack) {
  SendBuffer b(1 << 20);
  b.write(bytes(40'000, 0));
  EXPECT_EQ(b.allocated(), 65'536u);
  b.consume(39'000);
  b.set_capacity(50'000);
  EXPECT_EQ(b.allocated(), 50'000u);
  EXPECT_EQ(copy(b, 0, 1000), bytes(1000, static_cast<uint8_t>(39'000)));
  b.consume(1000);
  b.set_capacity(20'000);
  EXPECT_EQ(b.allocated(), 0u);  // empty: freed, allocated again on the next write
  b.set_capacity(1 << 20);
  EXPECT_EQ(b.allocated(), 0u);  // raising the limit allocates nothing
  EXPECT_EQ(b.write(bytes(10, 1)), 10u);
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);
  EXPECT_EQ(copy(b, 0, 10), bytes(10, 1));
}

TEST(SendBuffer, RandomAgainstDeque) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    SendBuffer b(1 + rng() % 64);
    std::deque<uint8_t> model;
    uint8_t next = 0;
    for (int step = 0; step < 200; ++step) {
      switch (rng() % 4) {
        case 0:
        case 1: {
          std::vector<uint8_t> data(rng() % 40);
          for (auto& x : data) x = next++;
          const size_t taken = b.write(data);
          ASSERT_EQ(taken, std::min(data.size(), b.capacity() - model.size()));
          model.insert(model.end(), data.begin(), data.begin() + taken);
          next = static_cast<uint8_t>(next - (data.size() - taken));
          break;
        }
        case 2: {
          const size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
          b.consume(n);
          model.erase(model.begin(), model.begin() + n);
          break;
        }
        case 3:
          if (rng() % 8 == 0) b.set_capacity(rng() % 96);
          break;
      }
      ASSERT_EQ(b.size(), model.size());
      ASSERT_GE(b.capacity(), b.size());
      if (!model.empty()) {
        const size_t off = rng() % model.size();
        const size_t n = rng() % (model.size() - off + 1);
        ASSERT_EQ(copy(b, off, n),
                  std::vector<uint8_t>(model.begin() + off, model.begin() + off + n));
      }
    }
  }
}

// As RandomAgainstDeque, with limits large enough that the storage grows while
// the ring wraps; storage stays between size() and capacity().
TEST(SendBuffer, RandomGrowthAgainstDeque) {
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    SendBuffer b(20'000 + rng() % 150'000);
    std::deque<uint8_t> model;
    uint8_t next = 0;
    size_t growths = 0;
    size_t last = 0;
    for (int step = 0; step < 300; ++step) {
      if (rng() % 3 != 0) {
        std::vector<uint8_t> data(rng() % 12'000);
        for (auto& x : data) x = next++;
        const size_t taken = b.write(data);
        ASSERT_EQ(taken, std::min(data.size(), b.capacity() - model.size()));
        model.insert(model.end(), data.begin(), data.begin() + taken);
        next = static_cast<uint8_t>(next - (data.size() - taken));
      } else {
        const size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
        b.consume(n);
        model.erase(model.begin(), model.begin() + n);
      }
      ASSERT_EQ(b.size(), model.size());
      ASSERT_GE(b.allocated(), b.size());
      ASSERT_LE(b.allocated(), b.capacity());
      if (b.allocated() != last) {
        ++growths;
        last = b.allocated();
      }
      if (!model.empty()) {
        const size_t off = rng() % model.size();
        const size_t n = rng() % (model.size() - off + 1);
        ASSERT_EQ(copy(b, off, n),
                  std::vector<uint8_t>(model.begin() + off, model.begin() + off + n));
      }
    }
    // The first allocation, then doublings up to the limit.
    const size_t max_growths =
        std::bit_width((b.capacity() - 1) / SendBuffer::kInitialAllocation) + 1;
    ASSERT_LE(growths, max_growths);
  }
}

// Zero-copy writes land where write() would put them, across the ring's wrap.
TEST(SendBuffer, WritableSpansCommitAcrossWrap) {
  SendBuffer b(SendBuffer::kInitialAllocation);
  auto data = bytes(SendBuffer::kInitialAllocation, 1);
  ASSERT_EQ(b.write(std::span(data).first(1000)), 1000u);
  b.consume(900);  // 100 held, starting at index 900
  size_t written = 100;
  std::deque<uint8_t> expect(data.begin() + 900, data.begin() + 1000);
  for (int round = 0; round < 3; ++round) {
    auto spans = b.writable_spans(SIZE_MAX);
    size_t room = spans[0].size() + spans[1].size();
    ASSERT_EQ(room, b.free_space());
    size_t n = std::min<size_t>(room, 5000);
    for (size_t i = 0; i < n; ++i) {
      uint8_t v = static_cast<uint8_t>(written + i);
      (i < spans[0].size() ? spans[0][i] : spans[1][i - spans[0].size()]) = v;
      expect.push_back(v);
    }
    b.commit(n);
    written += n;
    ASSERT_EQ(b.size(), expect.size());
    ASSERT_EQ(copy(b, 0, b.size()), std::vector<uint8_t>(expect.begin(), expect.end()));
    b.consume(3000);
    expect.erase(expect.begin(), expect.begin() + 3000);
  }
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);
}

// The first zero-copy write allocates no more than write() would, and a full
// buffer offers nothing.
TEST(SendBuffer, WritableSpansAllocateLazily) {
  SendBuffer b(1 << 20);
  EXPECT_EQ(b.allocated(), 0u);
  auto spans = b.writable_spans(1 << 20);
  EXPECT_EQ(b.allocated(), SendBuffer::kInitialAllocation);
  EXPECT_EQ(spans[0].size(), SendBuffer::kInitialAllocation);
  EXPECT_TRUE(spans[1].empty());
  EXPECT_EQ(b.writable_spans(10)[0].size(), 10u);
  SendBuffer full(100);
  full.write(bytes(100, 0));
  auto none = full.writable_spans(100);
  EXPECT_TRUE(none[0].empty() && none[1].empty());
}

}  // namespace
}  // namespace tou
