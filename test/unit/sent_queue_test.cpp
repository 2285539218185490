#include "core/recovery/sent_queue.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <vector>

namespace tou {
namespace {

constexpr uint32_t kMss = 1000;
constexpr int kDupThresh = 3;  // RFC 6675 DupThresh

Instant at_ms(int64_t ms) {
  return instant_from_us(ms * 1000);
}

// Segment k (1-based, as in the RFC's examples) is [base + (k-1)*1000, base + k*1000).
SeqNum seg_begin(SeqNum base, int k) {
  return base + static_cast<uint32_t>(k - 1) * kMss;
}
SeqNum seg_end(SeqNum base, int k) {
  return seg_begin(base, k) + kMss;
}
SackBlock segs(SeqNum base, int first, int last) {
  return {seg_begin(base, first), seg_end(base, last)};
}

// Sends segments 1..n of kMss bytes, segment k at time k ms.
SentQueue sent_segments(SeqNum base, int n) {
  SentQueue q;
  for (int k = 1; k <= n; ++k) q.on_sent(seg_begin(base, k), kMss, at_ms(k), false, false);
  return q;
}

uint32_t sack(SentQueue& q, std::vector<SackBlock> blocks) {
  return q.on_sack(blocks);
}

class SentQueueTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  // The same scenarios run from an ordinary ISN and across the 2^32 wrap.
  SeqNum base() const { return SeqNum(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Isn, SentQueueTest,
                         ::testing::Values(1000u, 0xffffffffu - 3500u, 0xffffffffu));

TEST_P(SentQueueTest, OnSentRecords) {
  SentQueue q = sent_segments(base(), 10);
  EXPECT_EQ(q.size(), 10u);
  EXPECT_EQ(q.front().seq, base());
  EXPECT_EQ(q.back().end(), base() + 10000);
  EXPECT_EQ(q[3].transmissions, 1);
  EXPECT_EQ(q[3].last_sent, at_ms(4));
  EXPECT_EQ(q.pipe(), 10000u);
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_FALSE(q.first_lost());
  EXPECT_FALSE(q.highest_sacked());
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 0u);
}

// RFC 6675 with 10 segments: segments 2..4 SACKed. IsLost(1): three discontiguous
// SACKed segments above it (and 3000 > (DupThresh - 1) * SMSS SACKed bytes).
TEST_P(SentQueueTest, ThreeSackedSegmentsMakeTheFirstLost) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  EXPECT_EQ(sack(q, {segs(b, 2, 4)}), 3000u);
  EXPECT_EQ(q.sacked_bytes(), 3000u);
  EXPECT_EQ(q.highest_sacked(), seg_end(b, 4));
  EXPECT_TRUE(q[1].sacked && q[2].sacked && q[3].sacked);
  EXPECT_EQ(q.pipe(), 7000u);  // SetPipe before loss marking: 1 and 5..10

  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 1u);
  EXPECT_TRUE(q[0].lost);
  for (size_t i = 4; i < 10; ++i) EXPECT_FALSE(q[i].lost) << i;
  // SetPipe: segments 5..10 are neither SACKed nor lost.
  EXPECT_EQ(q.pipe(), 6000u);
  EXPECT_EQ(q.first_lost(), 0u);  // NextSeg rule 1

  q.on_retransmitted(0, at_ms(50));
  EXPECT_FALSE(q[0].lost);
  EXPECT_EQ(q[0].transmissions, 2);
  EXPECT_EQ(q[0].last_sent, at_ms(50));
  EXPECT_EQ(q.pipe(), 7000u);  // the retransmission is in the network
  EXPECT_FALSE(q.first_lost());
  // Not marked again: a lost retransmission is left to the RTO.
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 0u);

  // The retransmission arrives: ACK of 4 segments, no RTT sample (Karn).
  CumulativeAckResult r = q.on_cumulative_ack(seg_end(b, 4));
  EXPECT_EQ(r.bytes_acked, 4000u);
  EXPECT_FALSE(r.rtt_sample_sent);
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(q.front().seq, seg_begin(b, 5));
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_FALSE(q.highest_sacked());
  EXPECT_EQ(q.pipe(), 6000u);
}

// Two SACKed segments: neither rule holds with SMSS = 1000 (2000 is not > 2000)...
TEST_P(SentQueueTest, TwoSackedSegmentsAreNotEnough) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  sack(q, {segs(b, 3, 4)});
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 0u);
  EXPECT_EQ(q.pipe(), 8000u);
  EXPECT_FALSE(q.first_lost());
}

// ...but the byte rule holds with a smaller SMSS: 2000 > 2 * 900.
TEST_P(SentQueueTest, ByteRuleMarksLost) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  sack(q, {segs(b, 3, 4)});
  EXPECT_EQ(q.mark_losses(kDupThresh, 900), 2u);  // segments 1 and 2
  EXPECT_TRUE(q[0].lost);
  EXPECT_TRUE(q[1].lost);
  EXPECT_EQ(q.pipe(), 10000u - 2000u - 2000u);
  EXPECT_EQ(q.first_lost(), 0u);
}

// The count rule with small segments: three SACKed 100-byte segments are 300 bytes,
// far below 2 * SMSS, yet DupThresh discontiguous SACKed segments.
TEST_P(SentQueueTest, CountRuleWithSmallSegments) {
  const SeqNum b = base();
  SentQueue q;
  for (uint32_t i = 0; i < 5; ++i) q.on_sent(b + i * 100, 100, at_ms(i), false, false);
  sack(q, {{b + 200, b + 300}, {b + 400, b + 500}});
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 0u);  // 2 above segment 1 and 2
  sack(q, {{b + 100, b + 200}});
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 1u);  // 3 above segment 1 only
  EXPECT_TRUE(q[0].lost);
  EXPECT_FALSE(q[3].lost);  // 1 SACKed above
  EXPECT_EQ(q.pipe(), 100u);
}

// Holes: SACKs of 3, 5 and 7. Segments 1 and 2 have three SACKed segments above,
// 4 has two (5, 7) and 6 one.
TEST_P(SentQueueTest, SeveralHoles) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  EXPECT_EQ(sack(q, {segs(b, 3, 3), segs(b, 5, 5), segs(b, 7, 7)}), 3000u);
  EXPECT_EQ(q.highest_sacked(), seg_end(b, 7));
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 2u);
  EXPECT_TRUE(q[0].lost && q[1].lost);
  EXPECT_FALSE(q[3].lost || q[5].lost);
  // pipe: 4, 6, 8, 9, 10.
  EXPECT_EQ(q.pipe(), 5000u);

  EXPECT_EQ(q.first_lost(), 0u);
  q.on_retransmitted(0, at_ms(40));
  EXPECT_EQ(q.first_lost(), 1u);
  EXPECT_EQ(q.pipe(), 6000u);
  q.on_retransmitted(1, at_ms(41));
  EXPECT_FALSE(q.first_lost());
  EXPECT_EQ(q.pipe(), 7000u);

  // SACK of 8: now 5, 7, 8 lie above segment 4.
  EXPECT_EQ(sack(q, {segs(b, 7, 8)}), 1000u);  // 7 again, 8 new
  EXPECT_EQ(q.highest_sacked(), seg_end(b, 8));
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 1u);
  EXPECT_TRUE(q[3].lost);
  EXPECT_FALSE(q[5].lost);
  EXPECT_EQ(q.first_lost(), 3u);
  // pipe: 1 and 2 (retransmitted), 6, 9, 10.
  EXPECT_EQ(q.pipe(), 5000u);

  // ACK up to the end of 3 (the retransmissions of 1 and 2 arrived).
  CumulativeAckResult r = q.on_cumulative_ack(seg_end(b, 3));
  EXPECT_EQ(r.bytes_acked, 3000u);
  EXPECT_FALSE(r.rtt_sample_sent);
  EXPECT_EQ(q.sacked_bytes(), 3000u);  // 5, 7, 8
  EXPECT_EQ(q.first_lost(), 0u);       // segment 4, now at the front
  EXPECT_EQ(q.pipe(), 3000u);          // 6, 9, 10
}

TEST_P(SentQueueTest, DuplicateSackAddsNothing) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  EXPECT_EQ(sack(q, {segs(b, 2, 4)}), 3000u);
  EXPECT_EQ(sack(q, {segs(b, 2, 4), segs(b, 3, 3)}), 0u);
  EXPECT_EQ(q.sacked_bytes(), 3000u);
}

TEST_P(SentQueueTest, BlocksOutsideTheWindowAreIgnored) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  q.on_cumulative_ack(seg_end(b, 2));                                 // SND.UNA = start of 3
  EXPECT_EQ(sack(q, {segs(b, 1, 2)}), 0u);                            // D-SACK below SND.UNA
  EXPECT_EQ(sack(q, {{seg_begin(b, 10), seg_end(b, 10) + 1}}), 0u);   // past SND.NXT
  EXPECT_EQ(sack(q, {{seg_end(b, 10), seg_end(b, 10) + 1000}}), 0u);  // wholly past SND.NXT
  EXPECT_EQ(sack(q, {{seg_end(b, 5), seg_begin(b, 5)}}), 0u);         // left > right
  EXPECT_EQ(sack(q, {{seg_begin(b, 5), seg_begin(b, 5)}}), 0u);       // empty
  EXPECT_EQ(sack(q, {{seg_begin(b, 5) + 1, seg_end(b, 6)}}), 1000u);  // 5 partly: only 6
  EXPECT_FALSE(q[2].sacked);
  EXPECT_TRUE(q[3].sacked);
  // A block straddling SND.UNA counts for what lies above it.
  EXPECT_EQ(sack(q, {segs(b, 1, 3)}), 1000u);
  EXPECT_TRUE(q[0].sacked);
  EXPECT_EQ(q.sacked_bytes(), 2000u);
  // A block ending exactly at SND.NXT is inside.
  EXPECT_EQ(sack(q, {segs(b, 10, 10)}), 1000u);
  EXPECT_EQ(q.highest_sacked(), seg_end(b, 10));
}

TEST_P(SentQueueTest, SackOnEmptyQueue) {
  SentQueue q;
  EXPECT_EQ(sack(q, {{base(), base() + 10}}), 0u);
  EXPECT_EQ(q.on_cumulative_ack(base() + 10).bytes_acked, 0u);
}

TEST_P(SentQueueTest, SackOfALostSegmentClearsLost) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  sack(q, {segs(b, 2, 4)});
  q.mark_losses(kDupThresh, kMss);
  EXPECT_TRUE(q[0].lost);
  sack(q, {segs(b, 1, 1)});  // the original arrived after all (reordering)
  EXPECT_FALSE(q[0].lost);
  EXPECT_TRUE(q[0].sacked);
  EXPECT_FALSE(q.first_lost());
  EXPECT_EQ(q.pipe(), 6000u);
  EXPECT_EQ(q.sacked_bytes(), 4000u);
}

TEST_P(SentQueueTest, MarkAllLost) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  sack(q, {segs(b, 4, 5)});
  q.on_retransmitted(0, at_ms(20));
  q.mark_all_lost();  // RFC 6675 5.1: every un-SACKed segment, retransmitted or not
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(q[i].lost, !q[i].sacked) << i;
  EXPECT_EQ(q.pipe(), 0u);
  EXPECT_EQ(q.first_lost(), 0u);
  q.on_retransmitted(0, at_ms(30));
  EXPECT_EQ(q[0].transmissions, 3);
  EXPECT_EQ(q.pipe(), 1000u);
  EXPECT_EQ(q.first_lost(), 1u);
  q.on_retransmitted(1, at_ms(30));
  q.on_retransmitted(2, at_ms(30));
  EXPECT_EQ(q.first_lost(), 5u);  // 4 and 5 are SACKed
  EXPECT_EQ(q.pipe(), 3000u);
}

// Fast retransmit without SACK (RFC 6582): the connection marks the front record.
// RFC 5682 3.1 step 3b: a spurious timeout's losses are taken back. The records go back
// into RACK's send-time order (RFC 8985 6.2), which let them go when they were lost.
TEST_P(SentQueueTest, ClearLostPutsTheRecordsBackWhereRackLooks) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 3);
  q.mark_all_lost();
  std::optional<Instant> next;
  EXPECT_EQ(q.mark_rack_losses(at_ms(5), at_ms(3), seg_end(b, 3), Duration{0}, &next), 0u);
  q.clear_lost();
  EXPECT_EQ(q.pipe(), 3000u);
  q.on_sent(seg_begin(b, 4), kMss, at_ms(50), false, false);
  EXPECT_EQ(sack(q, {segs(b, 4, 4)}), 1000u);
  // Segment 4, sent at 50 ms, delivered at 60: the three sent before it are overdue.
  EXPECT_EQ(q.mark_rack_losses(at_ms(60), at_ms(50), seg_end(b, 4), 10ms, &next), 3u);
  EXPECT_TRUE(q[0].lost && q[1].lost && q[2].lost);
  EXPECT_EQ(q.first_lost(), 0u);
}

TEST_P(SentQueueTest, MarkLost) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  q.mark_all_lost();
  for (size_t i = 0; i < 5; ++i) q.on_retransmitted(i, at_ms(20));
  EXPECT_EQ(q.first_lost(), 5u);  // the scan now starts at 5
  q.on_cumulative_ack(seg_end(b, 1));
  q.mark_lost(0);  // segment 2, retransmitted once already: marked again on request
  EXPECT_EQ(q.first_lost(), 0u);
  EXPECT_EQ(q.pipe(), 3000u);  // 3..5 retransmitted; 2 and 6..10 lost
  q.mark_lost(0);              // already lost: no change
  EXPECT_EQ(q.pipe(), 3000u);
  sack(q, {segs(b, 3, 3)});
  q.mark_lost(1);  // SACKed: stays SACKed
  EXPECT_FALSE(q[1].lost);
  EXPECT_EQ(q.pipe(), 2000u);
}

TEST_P(SentQueueTest, CumulativeAckRttSample) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 5);
  // Segments 1 and 2 acknowledged: the newest, 2, was sent at 2 ms.
  CumulativeAckResult r = q.on_cumulative_ack(seg_end(b, 2));
  EXPECT_EQ(r.bytes_acked, 2000u);
  EXPECT_EQ(r.rtt_sample_sent, at_ms(2));
  // An old or duplicate ACK changes nothing.
  r = q.on_cumulative_ack(seg_end(b, 2));
  EXPECT_EQ(r.bytes_acked, 0u);
  EXPECT_FALSE(r.rtt_sample_sent);
  r = q.on_cumulative_ack(seg_begin(b, 2));
  EXPECT_EQ(r.bytes_acked, 0u);
  EXPECT_EQ(q.size(), 3u);
}

TEST_P(SentQueueTest, KarnNoSampleWhenARetransmissionIsAcked) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 5);
  q.on_retransmitted(0, at_ms(10));
  // Segment 1's retransmission may have triggered the ACK of 1..3.
  CumulativeAckResult r = q.on_cumulative_ack(seg_end(b, 3));
  EXPECT_EQ(r.bytes_acked, 3000u);
  EXPECT_FALSE(r.rtt_sample_sent);
  // The next ACK covers only segments sent once.
  r = q.on_cumulative_ack(seg_end(b, 5));
  EXPECT_EQ(r.rtt_sample_sent, at_ms(5));
  EXPECT_TRUE(q.empty());
}

TEST_P(SentQueueTest, KarnNoSampleFromSackedSegments) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 4);
  sack(q, {segs(b, 3, 4)});
  // Segment 1 arrives late (reordering, no retransmission): the ACK was sent for it.
  CumulativeAckResult r = q.on_cumulative_ack(seg_end(b, 4));
  EXPECT_EQ(r.bytes_acked, 4000u);
  EXPECT_EQ(r.rtt_sample_sent, at_ms(2));  // 2 was the newest not SACKed before
  EXPECT_EQ(q.sacked_bytes(), 0u);

  SentQueue q2 = sent_segments(b, 2);
  sack(q2, {segs(b, 2, 2)});
  q2.on_cumulative_ack(seg_end(b, 1));
  r = q2.on_cumulative_ack(seg_end(b, 2));  // only the SACKed one
  EXPECT_FALSE(r.rtt_sample_sent);
}

TEST_P(SentQueueTest, PartialAckTrimsFront) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 3);
  CumulativeAckResult r = q.on_cumulative_ack(b + 400);
  EXPECT_EQ(r.bytes_acked, 400u);
  EXPECT_FALSE(r.rtt_sample_sent);  // no segment wholly acknowledged
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.front().seq, b + 400);
  EXPECT_EQ(q.front().len, 600u);
  EXPECT_EQ(q.pipe(), 2600u);
  r = q.on_cumulative_ack(b + 1500);
  EXPECT_EQ(r.bytes_acked, 1100u);
  EXPECT_EQ(r.rtt_sample_sent, at_ms(1));
  EXPECT_EQ(q.front().seq, b + 1500);
  EXPECT_EQ(q.front().len, 500u);
  EXPECT_EQ(q.pipe(), 1500u);
}

TEST_P(SentQueueTest, PartialAckOfSackedAndLostRecords) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 5);
  sack(q, {segs(b, 1, 1), segs(b, 3, 5)});  // a peer may SACK at SND.UNA
  EXPECT_EQ(q.sacked_bytes(), 4000u);
  q.on_cumulative_ack(b + 300);
  EXPECT_EQ(q.sacked_bytes(), 3700u);
  EXPECT_EQ(q.front().len, 700u);
  q.on_cumulative_ack(seg_end(b, 1));
  EXPECT_EQ(q.sacked_bytes(), 3000u);
  EXPECT_EQ(q.mark_losses(kDupThresh, kMss), 1u);  // segment 2
  q.on_cumulative_ack(seg_begin(b, 2) + 250);
  EXPECT_TRUE(q.front().lost);
  EXPECT_EQ(q.pipe(), 0u);
  q.on_retransmitted(0, at_ms(9));
  EXPECT_EQ(q.pipe(), 750u);
  q.on_cumulative_ack(seg_end(b, 5));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_EQ(q.pipe(), 0u);
  EXPECT_FALSE(q.highest_sacked());
}

TEST_P(SentQueueTest, SynAndFin) {
  const SeqNum b = base();
  SentQueue q;
  q.on_sent(b, 1, at_ms(0), true, false);  // SYN
  CumulativeAckResult r = q.on_cumulative_ack(b + 1);
  EXPECT_EQ(r.bytes_acked, 1u);
  EXPECT_EQ(r.rtt_sample_sent, at_ms(0));
  EXPECT_TRUE(q.empty());

  // SYN with data, partly acknowledged: the SYN flag goes with the first byte.
  q.on_sent(b, 1001, at_ms(0), true, false);
  r = q.on_cumulative_ack(b + 1);
  EXPECT_EQ(r.bytes_acked, 1u);
  EXPECT_FALSE(q.front().syn);
  EXPECT_EQ(q.front().len, 1000u);
  EXPECT_EQ(q.front().seq, b + 1);
  q.on_cumulative_ack(b + 1001);

  // Data with FIN: acknowledging the data alone leaves the FIN outstanding.
  q.on_sent(b + 1001, 501, at_ms(5), false, true);
  r = q.on_cumulative_ack(b + 1501);
  EXPECT_EQ(r.bytes_acked, 500u);
  EXPECT_EQ(q.size(), 1u);  // the FIN is still outstanding
  EXPECT_TRUE(q.front().fin);
  r = q.on_cumulative_ack(b + 1502);
  EXPECT_EQ(r.bytes_acked, 1u);
  EXPECT_TRUE(q.empty());
}

TEST_P(SentQueueTest, Clear) {
  const SeqNum b = base();
  SentQueue q = sent_segments(b, 10);
  sack(q, {segs(b, 2, 4)});
  q.mark_losses(kDupThresh, kMss);
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pipe(), 0u);
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_FALSE(q.first_lost());
  EXPECT_FALSE(q.highest_sacked());
  q.on_sent(b + 5, 10, at_ms(1), false, false);
  EXPECT_EQ(q.pipe(), 10u);
}

// Random operations against a direct, quadratic transcription of the rules.
struct Model {
  std::vector<SentSegment> r;

  void ack(SeqNum a) {
    while (!r.empty() && r.front().end() <= a) r.erase(r.begin());
    if (!r.empty() && r.front().seq < a) {
      r.front().len -= static_cast<uint32_t>(a - r.front().seq);
      r.front().seq = a;
      r.front().syn = false;
    }
  }
  void sack(const SackBlock& b) {
    if (r.empty() || !(b.left < b.right) || b.right <= r.front().seq || b.right > r.back().end()) {
      return;
    }
    for (SentSegment& s : r) {
      // Wholly inside, with the comparisons taken relative to SND.UNA.
      const SeqNum una = r.front().seq;
      const int64_t lo = std::max<int64_t>(b.left - una, 0);
      const int64_t hi = b.right - una;
      if (s.seq - una >= lo && s.end() - una <= hi) {
        s.sacked = true;
        s.lost = false;
      }
    }
  }
  void mark_losses(int dt, uint32_t mss) {
    std::vector<bool> lose(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i].sacked || r[i].lost || r[i].transmissions > 1) continue;
      uint64_t count = 0, bytes = 0;
      for (size_t j = i + 1; j < r.size(); ++j) {
        if (r[j].sacked) ++count, bytes += r[j].len;
      }
      lose[i] = count >= static_cast<uint64_t>(dt) || bytes > uint64_t{2} * mss;
    }
    for (size_t i = 0; i < r.size(); ++i) r[i].lost = r[i].lost || lose[i];
  }
};

TEST(SentQueueRandom, MatchesModel) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const SeqNum isn(rng() % 4 == 0 ? 0xffffffffu - rng() % 50000 : rng());
    SentQueue q;
    Model m;
    SeqNum snd_nxt = isn;
    int64_t now = 0;
    for (int step = 0; step < 300; ++step) {
      ++now;
      const uint32_t op = rng() % 10;
      if (op < 4) {
        const uint32_t len = 1 + rng() % 1500;
        q.on_sent(snd_nxt, len, at_ms(now), false, false);
        SentSegment s;
        s.seq = snd_nxt;
        s.len = len;
        s.last_sent = at_ms(now);
        s.transmissions = 1;
        m.r.push_back(s);
        snd_nxt += len;
      } else if (op < 6 && !m.r.empty()) {
        const SeqNum una = m.r.front().seq;
        const uint32_t span = static_cast<uint32_t>(snd_nxt - una);
        std::vector<SackBlock> blocks(1 + rng() % 4);
        for (SackBlock& b : blocks) {
          if (rng() % 2) {  // on record boundaries
            const size_t i = rng() % m.r.size();
            const size_t j = std::min(m.r.size() - 1, i + rng() % 4);
            b = {m.r[i].seq, m.r[j].end()};
          } else {  // anywhere near the window
            b.left = una - 2000 + rng() % (span + 4000);
            b.right = b.left + rng() % 5000;
          }
        }
        uint32_t before = 0;
        for (const SentSegment& s : m.r) before += s.sacked ? s.len : 0;
        for (const SackBlock& b : blocks) m.sack(b);
        uint32_t after = 0;
        for (const SentSegment& s : m.r) after += s.sacked ? s.len : 0;
        ASSERT_EQ(q.on_sack(blocks), after - before);
      } else if (op < 7 && !m.r.empty()) {
        const SeqNum una = m.r.front().seq;
        const SeqNum a = una + rng() % (static_cast<uint32_t>(snd_nxt - una) + 1);
        const bool any_rtx = [&] {
          for (const SentSegment& s : m.r) {
            if (s.seq < a && s.transmissions > 1) return true;
          }
          return false;
        }();
        std::optional<Instant> sample;
        uint32_t acked = 0;
        for (const SentSegment& s : m.r) {
          if (s.end() <= a && s.transmissions == 1 && !s.sacked) sample = s.last_sent;
          if (s.seq < a) acked += std::min<uint32_t>(s.len, static_cast<uint32_t>(a - s.seq));
        }
        if (any_rtx) sample.reset();
        m.ack(a);
        const CumulativeAckResult res = q.on_cumulative_ack(a);
        ASSERT_EQ(res.bytes_acked, acked);
        ASSERT_EQ(res.rtt_sample_sent, sample);
      } else if (op < 8) {
        const size_t n = q.mark_losses(kDupThresh, kMss);
        size_t before = 0, after = 0;
        for (const SentSegment& s : m.r) before += s.lost;
        m.mark_losses(kDupThresh, kMss);
        for (const SentSegment& s : m.r) after += s.lost;
        ASSERT_EQ(n, after - before);
      } else if (op < 9 && !m.r.empty()) {
        // Retransmit the first lost record (NextSeg rule 1), or a random one.
        size_t i = rng() % m.r.size();
        if (auto f = q.first_lost(); f && rng() % 4 != 0) i = *f;
        q.on_retransmitted(i, at_ms(now));
        m.r[i].lost = false;
        ++m.r[i].transmissions;
        m.r[i].last_sent = at_ms(now);
      } else if (rng() % 8 == 0) {
        q.mark_all_lost();
        for (SentSegment& s : m.r) s.lost = !s.sacked;
      } else if (!m.r.empty() && rng() % 4 == 0) {
        const size_t i = rng() % std::min<size_t>(m.r.size(), 4);
        q.mark_lost(i);
        m.r[i].lost = !m.r[i].sacked;
      }

      ASSERT_EQ(q.size(), m.r.size());
      uint32_t sacked = 0, pipe = 0;
      std::optional<size_t> first_lost;
      std::optional<SeqNum> highest;
      for (size_t i = 0; i < m.r.size(); ++i) {
        const SentSegment& s = m.r[i];
        ASSERT_EQ(q[i].seq, s.seq);
        ASSERT_EQ(q[i].len, s.len);
        ASSERT_EQ(q[i].sacked, s.sacked) << i;
        ASSERT_EQ(q[i].lost, s.lost) << i;
        ASSERT_EQ(q[i].transmissions, s.transmissions);
        ASSERT_EQ(q[i].last_sent, s.last_sent);
        if (s.sacked) sacked += s.len, highest = s.end();
        if (!s.sacked && !s.lost) pipe += s.len;
        if (s.lost && !first_lost) first_lost = i;
      }
      ASSERT_EQ(q.sacked_bytes(), sacked);
      ASSERT_EQ(q.pipe(), pipe);
      ASSERT_EQ(q.first_lost(), first_lost);
      ASSERT_EQ(q.highest_sacked(), highest);
    }
  }
}

}  // namespace
}  // namespace tou
