#include "core/receive_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace tou {
namespace {

std::vector<uint8_t> bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return v;
}

std::vector<uint8_t> read_all(ReceiveBuffer& b) {
  std::vector<uint8_t> out(b.readable());
  EXPECT_EQ(b.read(out), out.size());
  return out;
}

using Ranges = std::vector<ByteRange>;

TEST(ReceiveBuffer, InOrder) {
  ReceiveBuffer b(100);
  EXPECT_EQ(b.window(), 100u);
  EXPECT_EQ(b.insert(0, bytes(10, 0)), 10u);
  EXPECT_EQ(b.insert(0, bytes(5, 10)), 5u);
  EXPECT_EQ(b.readable(), 15u);
  EXPECT_EQ(b.window(), 85u);
  EXPECT_TRUE(b.out_of_order().empty());
  EXPECT_EQ(read_all(b), bytes(15, 0));
  EXPECT_EQ(b.window(), 100u);
}

TEST(ReceiveBuffer, OutOfOrderFillsGap) {
  ReceiveBuffer b(100);
  EXPECT_EQ(b.insert(10, bytes(10, 10)), 0u);
  EXPECT_EQ(b.insert(30, bytes(5, 30)), 0u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 20}, {30, 35}}));
  EXPECT_EQ(b.out_of_order_bytes(), 15u);
  EXPECT_EQ(b.readable(), 0u);
  EXPECT_EQ(b.window(), 100u);  // held out-of-order bytes do not shrink the window
  EXPECT_EQ(b.insert(0, bytes(10, 0)), 20u);
  EXPECT_EQ(b.readable(), 20u);
  // The remaining range shifts with RCV.NXT.
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 15}}));
  EXPECT_EQ(b.insert(0, bytes(10, 20)), 15u);
  EXPECT_TRUE(b.out_of_order().empty());
  EXPECT_EQ(read_all(b), bytes(35, 0));
}

TEST(ReceiveBuffer, AdjacentRangesMerge) {
  ReceiveBuffer b(100);
  b.insert(20, bytes(10, 20));
  b.insert(10, bytes(10, 10));
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 30}}));
  b.insert(40, bytes(10, 40));
  b.insert(30, bytes(10, 30));
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 50}}));
  EXPECT_EQ(b.insert(0, bytes(10, 0)), 50u);
  EXPECT_EQ(read_all(b), bytes(50, 0));
}

TEST(ReceiveBuffer, OneSegmentBridgesSeveralRanges) {
  ReceiveBuffer b(100);
  b.insert(10, bytes(5, 10));
  b.insert(20, bytes(5, 20));
  b.insert(30, bytes(5, 30));
  b.insert(60, bytes(5, 60));
  EXPECT_EQ(b.insert(12, bytes(25, 12)), 0u);  // 12..37 covers 10..15, 20..25, 30..35
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 37}, {60, 65}}));
  EXPECT_EQ(b.insert(0, bytes(10, 0)), 37u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{23, 28}}));
}

TEST(ReceiveBuffer, FirstCopyWins) {
  ReceiveBuffer b(100);
  b.insert(10, bytes(10, 10));
  // An overlapping duplicate with different bytes: only the new part (20..25) is taken.
  std::vector<uint8_t> other(15, 0xee);
  EXPECT_EQ(b.insert(10, other), 0u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 25}}));
  // Same for a segment overlapping on both sides of a held range.
  std::vector<uint8_t> wide(30, 0xdd);
  EXPECT_EQ(b.insert(5, wide), 0u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{5, 35}}));
  EXPECT_EQ(b.insert(0, bytes(5, 0)), 35u);
  std::vector<uint8_t> expected = bytes(5, 0);
  expected.insert(expected.end(), 5, 0xdd);  // 5..10
  for (int i = 10; i < 20; ++i) expected.push_back(static_cast<uint8_t>(i));
  expected.insert(expected.end(), 5, 0xee);   // 20..25
  expected.insert(expected.end(), 10, 0xdd);  // 25..35
  EXPECT_EQ(read_all(b), expected);
}

TEST(ReceiveBuffer, ExactDuplicateOutOfOrder) {
  ReceiveBuffer b(100);
  EXPECT_EQ(b.insert(10, bytes(10, 10)), 0u);
  EXPECT_EQ(b.insert(10, bytes(10, 10)), 0u);
  EXPECT_EQ(b.insert(12, bytes(3, 12)), 0u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{10, 20}}));
  EXPECT_EQ(b.out_of_order_bytes(), 10u);
}

TEST(ReceiveBuffer, DataBeyondWindowTrimmed) {
  ReceiveBuffer b(100);
  EXPECT_EQ(b.insert(0, bytes(40, 0)), 40u);    // window 60
  EXPECT_EQ(b.insert(60, bytes(10, 100)), 0u);  // wholly past the window
  EXPECT_TRUE(b.out_of_order().empty());
  EXPECT_EQ(b.insert(50, bytes(30, 90)), 0u);  // 50..60 kept, 60..80 dropped
  EXPECT_EQ(b.out_of_order(), (Ranges{{50, 60}}));
  EXPECT_EQ(b.insert(0, bytes(70, 40)), 60u);  // in order, trimmed at the window too
  EXPECT_EQ(b.readable(), 100u);
  EXPECT_EQ(b.window(), 0u);
  EXPECT_EQ(b.insert(0, bytes(1, 0)), 0u);  // zero window
  EXPECT_EQ(read_all(b), bytes(100, 0));
}

TEST(ReceiveBuffer, EmptyInsert) {
  ReceiveBuffer b(10);
  EXPECT_EQ(b.insert(0, {}), 0u);
  EXPECT_EQ(b.insert(5, {}), 0u);
  EXPECT_TRUE(b.out_of_order().empty());
}

TEST(ReceiveBuffer, WrapAroundTheRing) {
  ReceiveBuffer b(10);
  EXPECT_EQ(b.insert(0, bytes(8, 0)), 8u);
  std::vector<uint8_t> out(5);
  EXPECT_EQ(b.read(out), 5u);
  EXPECT_EQ(out, bytes(5, 0));
  EXPECT_EQ(b.window(), 7u);  // bytes 5..7 readable at storage 5..7
  // Out of order and wrapping: offsets 2..6 (bytes 10..14) go to storage 0..4.
  EXPECT_EQ(b.insert(2, bytes(5, 10)), 0u);
  EXPECT_EQ(b.insert(0, bytes(2, 8)), 7u);  // storage 8, 9
  EXPECT_EQ(b.readable(), 10u);
  EXPECT_EQ(b.window(), 0u);
  EXPECT_EQ(read_all(b), bytes(10, 5));
  // In order and wrapping, from a head in the middle.
  EXPECT_EQ(b.insert(0, bytes(5, 0)), 5u);
  out.resize(3);
  EXPECT_EQ(b.read(out), 3u);               // head at 3, bytes 3, 4 readable
  EXPECT_EQ(b.insert(0, bytes(8, 5)), 8u);  // storage 5..9, then 0..2
  EXPECT_EQ(read_all(b), bytes(10, 3));
}

TEST(ReceiveBuffer, PartialReadsAndDiscard) {
  ReceiveBuffer b(16);
  b.insert(0, bytes(12, 0));
  std::vector<uint8_t> out(4);
  EXPECT_EQ(b.read(out), 4u);
  EXPECT_EQ(out, bytes(4, 0));
  EXPECT_EQ(b.discard(3), 3u);
  EXPECT_EQ(b.read(out), 4u);
  EXPECT_EQ(out, bytes(4, 7));
  EXPECT_EQ(b.discard(100), 1u);
  EXPECT_EQ(b.readable(), 0u);
  EXPECT_EQ(b.read(out), 0u);
}

TEST(ReceiveBuffer, ReadWhileOutOfOrderHeld) {
  ReceiveBuffer b(10);
  b.insert(0, bytes(6, 0));
  b.insert(8, bytes(2, 8));  // window 4: offsets 0..3, so 8.. is dropped
  EXPECT_TRUE(b.out_of_order().empty());
  b.insert(2, bytes(2, 8));  // absolute 8..9
  EXPECT_EQ(b.out_of_order(), (Ranges{{2, 4}}));
  std::vector<uint8_t> out(6);
  EXPECT_EQ(b.read(out), 6u);  // head moves; the held range keeps its place
  EXPECT_EQ(b.out_of_order(), (Ranges{{2, 4}}));
  EXPECT_EQ(b.insert(0, bytes(2, 6)), 4u);
  EXPECT_EQ(read_all(b), bytes(4, 6));
}

TEST(ReceiveBuffer, SetCapacity) {
  ReceiveBuffer b(8);
  b.insert(0, bytes(6, 0));
  std::vector<uint8_t> out(5);
  b.read(out);
  b.insert(0, bytes(5, 6));  // wraps
  b.set_capacity(20);
  EXPECT_EQ(b.capacity(), 20u);
  EXPECT_EQ(b.window(), 14u);
  EXPECT_EQ(b.insert(0, bytes(14, 11)), 14u);
  EXPECT_EQ(read_all(b), bytes(20, 5));
  b.insert(0, bytes(3, 0));
  b.set_capacity(1);
  EXPECT_EQ(b.capacity(), 3u);  // never below readable()
  EXPECT_EQ(read_all(b), bytes(3, 0));
}

TEST(ReceiveBuffer, SetCapacityWithOutOfOrderData) {
  ReceiveBuffer b(10);
  b.insert(0, bytes(8, 0));
  std::vector<uint8_t> out(7);
  b.read(out);                // head at 7, byte 7 readable
  b.insert(4, bytes(4, 12));  // bytes 12..15 at storage 2..5
  b.set_capacity(30);
  EXPECT_EQ(b.window(), 29u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{4, 8}}));
  EXPECT_EQ(b.insert(0, bytes(4, 8)), 8u);
  EXPECT_EQ(read_all(b), bytes(9, 7));
  b.insert(2, bytes(3, 2));
  b.insert(20, bytes(5, 20));
  b.set_capacity(22);  // the second range is cut at the new window
  EXPECT_EQ(b.out_of_order(), (Ranges{{2, 5}, {20, 22}}));
  b.set_capacity(10);
  EXPECT_EQ(b.out_of_order(), (Ranges{{2, 5}}));
  EXPECT_EQ(b.insert(0, bytes(2, 0)), 5u);
  EXPECT_EQ(read_all(b), bytes(5, 0));
}

TEST(ReceiveBuffer, FreshBufferAllocatesNothing) {
  ReceiveBuffer b(1 << 20);
  EXPECT_EQ(b.allocated(), 0u);
  EXPECT_EQ(b.capacity(), size_t{1} << 20);
  EXPECT_EQ(b.window(), size_t{1} << 20);  // the advertised window is the limit
  EXPECT_EQ(b.insert(0, {}), 0u);
  EXPECT_EQ(b.insert(size_t{1} << 20, bytes(10, 0)), 0u);  // past the window: nothing stored
  EXPECT_EQ(b.allocated(), 0u);
}

TEST(ReceiveBuffer, SmallInsertAllocatesLittleAndDrainGivesItBack) {
  ReceiveBuffer b(1 << 20);
  EXPECT_EQ(b.insert(0, bytes(100, 0)), 100u);
  EXPECT_EQ(b.allocated(), ReceiveBuffer::kInitialAllocation);
  EXPECT_EQ(b.window(), (size_t{1} << 20) - 100);
  EXPECT_EQ(b.discard(40), 40u);
  EXPECT_EQ(b.allocated(), ReceiveBuffer::kInitialAllocation);  // kept while bytes remain
  EXPECT_EQ(read_all(b), bytes(60, 40));
  EXPECT_EQ(b.allocated(), 0u);  // idle: an idle connection holds no storage
  EXPECT_EQ(b.insert(0, bytes(1448, 100)), 1448u);
  EXPECT_EQ(b.allocated(), ReceiveBuffer::kInitialAllocation);
  // Held out of order, the storage stays even with nothing readable.
  EXPECT_EQ(b.insert(2000, bytes(10, 7)), 0u);
  EXPECT_EQ(read_all(b), bytes(1448, 100));
  EXPECT_EQ(b.allocated(), ReceiveBuffer::kInitialAllocation);
}

TEST(ReceiveBuffer, GrownStorageIsKeptWhenDrained) {
  ReceiveBuffer b(1 << 20);
  const size_t n = 3 * ReceiveBuffer::kInitialAllocation;
  EXPECT_EQ(b.insert(0, bytes(n, 0)), n);
  const size_t grown = b.allocated();
  EXPECT_GT(grown, ReceiveBuffer::kInitialAllocation);
  EXPECT_EQ(read_all(b), bytes(n, 0));
  EXPECT_EQ(b.allocated(), grown);  // a bulk receiver's storage stays for the next window
}

TEST(ReceiveBuffer, OutOfOrderInsertAllocatesUpToItsEnd) {
  ReceiveBuffer b(1 << 20);
  EXPECT_EQ(b.insert(50'000, bytes(10, 0)), 0u);
  EXPECT_EQ(b.allocated(), 65'536u);
  EXPECT_EQ(b.out_of_order(), (Ranges{{50'000, 50'010}}));
  EXPECT_EQ(b.window(), size_t{1} << 20);
  ReceiveBuffer odd(100'000);  // the allocation stops at the limit
  EXPECT_EQ(odd.insert(70'000, bytes(10, 0)), 0u);
  EXPECT_EQ(odd.allocated(), 100'000u);
}

// Absolute stream byte p is uint8_t(p): bytes(n, p) is the stream from p.
TEST(ReceiveBuffer, GrowthAcrossTheWrapKeepsInOrderAndOutOfOrderBytes) {
  constexpr size_t kInit = ReceiveBuffer::kInitialAllocation;
  ReceiveBuffer b(1 << 20);
  EXPECT_EQ(b.insert(0, bytes(kInit - 1000, 0)), kInit - 1000);
  std::vector<uint8_t> out(kInit - 2000);
  EXPECT_EQ(b.read(out), out.size());  // head at kInit - 2000, 1000 bytes readable
  size_t rcv_nxt = kInit - 1000;
  // Out of order, one range before the end of storage, one across it.
  EXPECT_EQ(b.insert(500, bytes(300, static_cast<uint8_t>(rcv_nxt + 500))), 0u);
  EXPECT_EQ(b.insert(900, bytes(2000, static_cast<uint8_t>(rcv_nxt + 900))), 0u);
  EXPECT_EQ(b.allocated(), kInit);
  // Past the storage: doubles, laying the ring out from RCV.NXT.
  EXPECT_EQ(b.insert(kInit, bytes(100, static_cast<uint8_t>(rcv_nxt + kInit))), 0u);
  EXPECT_EQ(b.allocated(), 2 * kInit);
  EXPECT_EQ(b.out_of_order(), (Ranges{{500, 800}, {900, 2900}, {kInit, kInit + 100}}));
  EXPECT_EQ(b.readable(), 1000u);
  // Fill the gaps: everything comes out in order.
  EXPECT_EQ(b.insert(0, bytes(500, static_cast<uint8_t>(rcv_nxt))), 800u);
  rcv_nxt += 800;
  EXPECT_EQ(b.out_of_order(), (Ranges{{100, 2100}, {kInit - 800, kInit - 700}}));
  EXPECT_EQ(b.insert(0, bytes(kInit, static_cast<uint8_t>(rcv_nxt))), kInit);
  EXPECT_TRUE(b.out_of_order().empty());
  EXPECT_EQ(b.allocated(), 2 * kInit);
  EXPECT_EQ(read_all(b), bytes(1000 + 800 + kInit, static_cast<uint8_t>(kInit - 2000)));
}

// A whole window received in segments, the application reading a little behind
// and one segment in eight arriving late: the storage doubles up to the limit,
// once per size, and every byte comes out in order.
TEST(ReceiveBuffer, GrowsOncePerSizeUpToTheLimit) {
  constexpr size_t kCapacity = 1 << 20, kSeg = 1448;
  ReceiveBuffer b(kCapacity);
  size_t rcv_nxt = 0, read_pos = 0, growths = 0, last = 0;
  std::vector<uint8_t> output;
  std::vector<uint8_t> out(kSeg / 2);
  for (size_t seg = 0; rcv_nxt < 4 * kCapacity; seg += 2) {
    // Segments seg + 1 then seg: the first is held out of order.
    const size_t late = seg * kSeg, early = late + kSeg;
    b.insert(early - rcv_nxt, bytes(kSeg, static_cast<uint8_t>(early)));
    rcv_nxt += b.insert(late - rcv_nxt, bytes(kSeg, static_cast<uint8_t>(late)));
    ASSERT_EQ(rcv_nxt, early + kSeg);
    ASSERT_TRUE(b.out_of_order().empty());
    const size_t n = b.read(out);  // reads half of what arrives: the backlog grows
    output.insert(output.end(), out.begin(), out.begin() + n);
    read_pos += n;
    if (b.window() < 4 * kSeg) {  // the window closes: the application catches up
      std::vector<uint8_t> rest = read_all(b);
      output.insert(output.end(), rest.begin(), rest.end());
      read_pos += rest.size();
    }
    ASSERT_LE(b.allocated(), kCapacity);
    if (b.allocated() != last) {
      ++growths;
      last = b.allocated();
    }
  }
  EXPECT_EQ(b.allocated(), kCapacity);
  EXPECT_EQ(growths, 1u + std::countr_zero(kCapacity / ReceiveBuffer::kInitialAllocation));
  ASSERT_EQ(output.size(), read_pos);
  EXPECT_EQ(output, bytes(read_pos, 0));
}

// A limit lowered a little at each read (SO_RCVBUF lowered on an open
// connection, the buffer following the program down) reallocates only when the
// storage is twice the limit: a few times, not once per read.
TEST(ReceiveBuffer, LimitLoweredAsTheProgramReadsReallocatesLogarithmically) {
  ReceiveBuffer b(1 << 20);
  std::vector<uint8_t> data(600'000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i % 253);
  ASSERT_EQ(b.insert(0, data), data.size());
  ASSERT_EQ(b.allocated(), size_t{1} << 20);
  std::vector<uint8_t> got, chunk(10'000);
  size_t reallocations = 0, last = b.allocated();
  while (b.readable() > 0) {
    got.insert(got.end(), chunk.begin(), chunk.begin() + b.read(chunk));
    b.set_capacity(std::max<size_t>(b.readable(), 4096));
    EXPECT_LT(b.allocated(), ReceiveBuffer::kGiveBackFactor * b.capacity() + 1);
    if (b.allocated() != last) ++reallocations;
    last = b.allocated();
  }
  EXPECT_EQ(got, data);
  EXPECT_LE(reallocations, 8u);
  EXPECT_EQ(b.allocated(), 0u) << "empty: freed";
}

TEST(ReceiveBuffer, SetCapacityBelowAllocationGivesStorageBack) {
  ReceiveBuffer b(1 << 20);
  b.insert(0, bytes(40'000, 0));
  b.insert(45'000, bytes(1000, static_cast<uint8_t>(85'000)));
  EXPECT_EQ(b.allocated(), 131'072u);
  b.set_capacity(50'000);  // the out-of-order range now lies past the window
  EXPECT_TRUE(b.out_of_order().empty());
  EXPECT_EQ(b.allocated(), 50'000u);
  EXPECT_EQ(read_all(b), bytes(40'000, 0));
  b.set_capacity(20'000);
  EXPECT_EQ(b.allocated(), 0u);  // empty: freed, allocated again on the next insert
  b.set_capacity(1 << 20);
  EXPECT_EQ(b.allocated(), 0u);
  EXPECT_EQ(b.insert(0, bytes(10, 1)), 10u);
  EXPECT_EQ(b.allocated(), ReceiveBuffer::kInitialAllocation);
  EXPECT_EQ(read_all(b), bytes(10, 1));
}

TEST(ReceiveBuffer, TooManyRangesDropsNewOnes) {
  const size_t n = ReceiveBuffer::kMaxOutOfOrderRanges;
  ReceiveBuffer b(4 * n);
  const uint8_t x = 1;
  for (size_t i = 0; i < n; ++i) b.insert(2 * i + 1, {&x, 1});
  EXPECT_EQ(b.out_of_order().size(), n);
  EXPECT_EQ(b.insert(2 * n + 1, {&x, 1}), 0u);  // a new range: dropped
  EXPECT_EQ(b.out_of_order().size(), n);
  EXPECT_EQ(b.insert(2, {&x, 1}), 0u);  // joins two ranges: accepted
  EXPECT_EQ(b.out_of_order().size(), n - 1);
  EXPECT_EQ(b.out_of_order()[0], (ByteRange{1, 4}));
  EXPECT_EQ(b.insert(0, {&x, 1}), 4u);  // in order: always accepted
}

// The stream is cut into segments at random points, with extra segments of random
// overlapping ranges (duplicates); they arrive in random order, with reads in
// between. Rounds repeat (like retransmissions) until the whole stream is read. A
// bitmap model checks every return value and the out-of-order ranges; a byte that
// the buffer already holds is sent corrupted in later copies, so the result only
// matches when the first copy wins.
TEST(ReceiveBuffer, RandomPermutationsReassemble) {
  for (uint32_t seed = 1; seed <= 1200; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const size_t capacity = 8 + rng() % 512;
    const size_t total = 1 + rng() % (3 * capacity);
    const size_t max_seg = 1 + rng() % std::max<size_t>(capacity / 3, 1);
    std::vector<uint8_t> stream(total);
    for (auto& x : stream) x = static_cast<uint8_t>(rng());

    struct Seg {
      size_t begin, end;
    };
    std::vector<Seg> segs;
    for (size_t at = 0; at < total;) {
      const size_t len = std::min<size_t>(1 + rng() % max_seg, total - at);
      segs.push_back({at, at + len});
      at += len;
    }
    const size_t extras = rng() % (segs.size() + 1);
    for (size_t i = 0; i < extras; ++i) {
      const size_t b = rng() % total;
      segs.push_back({b, std::min(total, b + 1 + rng() % max_seg)});
    }

    ReceiveBuffer buf(capacity);
    std::vector<bool> have(total, false);  // held out of order (absolute positions)
    size_t rcv_nxt = 0;                    // absolute
    size_t read_pos = 0;                   // absolute, bytes read by the application
    std::vector<uint8_t> output;
    for (int round = 0; read_pos < total; ++round) {
      ASSERT_LT(round, 1000);
      std::shuffle(segs.begin(), segs.end(), rng);
      for (const Seg& s : segs) {
        if (s.end <= rcv_nxt) continue;  // the connection trims what is below RCV.NXT
        const size_t begin = std::max(s.begin, rcv_nxt);
        std::vector<uint8_t> payload(stream.begin() + begin, stream.begin() + s.end);
        for (size_t i = begin; i < s.end; ++i) {
          if (have[i]) payload[i - begin] ^= 0xff;
        }
        const size_t window_end = rcv_nxt + buf.window();
        for (size_t i = begin; i < std::min(s.end, window_end); ++i) have[i] = true;
        size_t expect_nxt = rcv_nxt;
        while (expect_nxt < total && have[expect_nxt]) ++expect_nxt;
        ASSERT_EQ(buf.insert(begin - rcv_nxt, payload), expect_nxt - rcv_nxt);
        rcv_nxt = expect_nxt;
        ASSERT_EQ(buf.readable(), rcv_nxt - read_pos);

        Ranges expect_ooo;
        for (size_t i = rcv_nxt; i < total; ++i) {
          if (!have[i]) continue;
          if (!expect_ooo.empty() && expect_ooo.back().end == i - rcv_nxt) {
            ++expect_ooo.back().end;
          } else {
            expect_ooo.push_back({i - rcv_nxt, i - rcv_nxt + 1});
          }
        }
        ASSERT_EQ(buf.out_of_order(), expect_ooo);

        if (rng() % 3 == 0) {
          std::vector<uint8_t> out(rng() % (capacity + 1));
          const size_t n = buf.read(out);
          ASSERT_EQ(n, std::min(out.size(), rcv_nxt - read_pos));
          output.insert(output.end(), out.begin(), out.begin() + n);
          read_pos += n;
        }
      }
      std::vector<uint8_t> out(buf.readable());
      buf.read(out);
      output.insert(output.end(), out.begin(), out.end());
      read_pos += out.size();
    }
    ASSERT_EQ(output, stream);
    ASSERT_TRUE(buf.out_of_order().empty());
  }
}

// As RandomPermutationsReassemble, with limits above kInitialAllocation so the
// storage grows while the ring wraps and out-of-order ranges are held. The
// out-of-order ranges are checked on a sample of inserts (the check is O(window)).
TEST(ReceiveBuffer, RandomReassemblyWhileGrowing) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const size_t capacity = ReceiveBuffer::kInitialAllocation + 1 + rng() % 120'000;
    const size_t total = 1 + rng() % (3 * capacity);
    const size_t max_seg = 1 + rng() % (capacity / 8);
    std::vector<uint8_t> stream(total);
    for (auto& x : stream) x = static_cast<uint8_t>(rng());

    struct Seg {
      size_t begin, end;
    };
    std::vector<Seg> segs;
    for (size_t at = 0; at < total;) {
      const size_t len = std::min<size_t>(1 + rng() % max_seg, total - at);
      segs.push_back({at, at + len});
      at += len;
    }
    const size_t extras = rng() % (segs.size() / 4 + 1);
    for (size_t i = 0; i < extras; ++i) {
      const size_t b = rng() % total;
      segs.push_back({b, std::min(total, b + 1 + rng() % max_seg)});
    }

    ReceiveBuffer buf(capacity);
    std::vector<bool> have(total, false);
    size_t rcv_nxt = 0, read_pos = 0, growths = 0, last = 0;
    std::vector<uint8_t> output;
    for (int round = 0; read_pos < total; ++round) {
      ASSERT_LT(round, 1000);
      std::shuffle(segs.begin(), segs.end(), rng);
      for (const Seg& s : segs) {
        if (s.end <= rcv_nxt) continue;
        const size_t begin = std::max(s.begin, rcv_nxt);
        std::vector<uint8_t> payload(stream.begin() + begin, stream.begin() + s.end);
        for (size_t i = begin; i < s.end; ++i) {
          if (have[i]) payload[i - begin] ^= 0xff;
        }
        const size_t window_end = rcv_nxt + buf.window();
        for (size_t i = begin; i < std::min(s.end, window_end); ++i) have[i] = true;
        size_t expect_nxt = rcv_nxt;
        while (expect_nxt < total && have[expect_nxt]) ++expect_nxt;
        ASSERT_EQ(buf.insert(begin - rcv_nxt, payload), expect_nxt - rcv_nxt);
        rcv_nxt = expect_nxt;
        ASSERT_EQ(buf.readable(), rcv_nxt - read_pos);
        ASSERT_LE(buf.allocated(), capacity);
        if (buf.allocated() != last) {
          ++growths;
          last = buf.allocated();
        }

        if (rng() % 16 == 0) {
          Ranges expect_ooo;
          const size_t scan_end = std::min(total, rcv_nxt + buf.window());
          for (size_t i = rcv_nxt; i < scan_end; ++i) {
            if (!have[i]) continue;
            if (!expect_ooo.empty() && expect_ooo.back().end == i - rcv_nxt) {
              ++expect_ooo.back().end;
            } else {
              expect_ooo.push_back({i - rcv_nxt, i - rcv_nxt + 1});
            }
          }
          ASSERT_EQ(buf.out_of_order(), expect_ooo);
        }

        if (rng() % 3 == 0) {
          std::vector<uint8_t> out(rng() % (capacity + 1));
          const size_t n = buf.read(out);
          ASSERT_EQ(n, std::min(out.size(), rcv_nxt - read_pos));
          output.insert(output.end(), out.begin(), out.begin() + n);
          read_pos += n;
        }
      }
      std::vector<uint8_t> out(buf.readable());
      buf.read(out);
      output.insert(output.end(), out.begin(), out.end());
      read_pos += out.size();
    }
    ASSERT_EQ(output, stream);
    ASSERT_TRUE(buf.out_of_order().empty());
    // The first allocation, then doublings up to the limit.
    ASSERT_LE(growths, std::bit_width((capacity - 1) / ReceiveBuffer::kInitialAllocation) + 1);
  }
}

// readable_spans() shows the in-order bytes in place, across the ring's wrap,
// and discard() frees them as read() would.
TEST(ReceiveBuffer, ReadableSpansAcrossWrap) {
  const size_t cap = ReceiveBuffer::kInitialAllocation;
  ReceiveBuffer buf(cap);
  std::vector<uint8_t> stream(3 * cap);
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<uint8_t>(i * 7);
  size_t in = 0, out = 0;
  while (out < stream.size()) {
    size_t n = std::min(buf.window(), stream.size() - in);
    n = std::min<size_t>(n, 5000);
    in += buf.insert(0, std::span(stream).subspan(in, n));
    auto spans = buf.readable_spans();
    ASSERT_EQ(spans[0].size() + spans[1].size(), buf.readable());
    std::vector<uint8_t> got(spans[0].begin(), spans[0].end());
    got.insert(got.end(), spans[1].begin(), spans[1].end());
    ASSERT_TRUE(std::equal(got.begin(), got.end(), stream.begin() + out));
    size_t take = std::min<size_t>(got.size(), 3000);
    ASSERT_EQ(buf.discard(take), take);
    ASSERT_LE(buf.allocated(), cap);  // the ring wraps, never grows
    out += take;
  }
  auto none = buf.readable_spans();
  EXPECT_TRUE(none[0].empty() && none[1].empty());
  EXPECT_EQ(buf.allocated(), 0u);  // drained: given back
}

}  // namespace
}  // namespace tou
