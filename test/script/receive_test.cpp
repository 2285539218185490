// The receiving side: acknowledgments (RFC 9293 3.8.6.3, RFC 5681 4.2), SACK
// blocks (RFC 2018 4), the acceptability test (RFC 9293 3.10.7.4) and receiver
// window management (RFC 9293 3.8.6.2.2), one rule per test. The peer's data
// starts at RCV.NXT = 5001; our SND.NXT is 1001.
#include "script/script.hpp"

namespace tou::script {
namespace {

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}
Seg peer_data(uint32_t seq, size_t len) {
  return peer(seq, 1001).data(len);
}

ConnectionConfig sack_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  return c;
}

TEST(Receive, OutOfOrderSegmentGetsImmediateDupAckWithSack_RFC2018_4) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.at_ms(10);
  t.inject(peer_data(6461, 1460));  // 5001..6461 is missing
  t.expect(seg().ack_flag().seq(1001).ack(5001).sack(6461, 7921), "at once, not delayed");
  t.expect_nothing();
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().stats().out_of_order_segments, 1u);
}

TEST(Receive, OutOfOrderWithoutSackGetsImmediateDupAck_RFC5681_4_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer_data(6461, 1460));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.flags, flags::kAck);
  EXPECT_EQ(ack.h.ack.raw(), 5001u);
  EXPECT_EQ(ack.h.options.sack_count, 0) << "SACK was not negotiated";
}

TEST(Receive, SackBlocksMostRecentFirst_RFC2018_4) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(6461, 7921));
  t.inject(peer_data(9381, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(9381, 10841).sack(6461, 7921));
  t.inject(peer_data(12301, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(12301, 13761).sack(9381, 10841).sack(6461, 7921));
  // A segment joining the first two blocks: the merged block comes first.
  t.inject(peer_data(7921, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(6461, 10841).sack(12301, 13761));
  t.expect_nothing();
}

TEST(Receive, SackFirstBlockIsTheOneJustExtended_RFC2018_4) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(6461, 7921));
  t.inject(peer_data(9381, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(9381, 10841).sack(6461, 7921));
  t.inject(peer_data(7921, 500));  // extends the lower block, still short of 9381
  t.expect(seg().ack_flag().ack(5001).sack(6461, 8421).sack(9381, 10841));
}

TEST(Receive, AtMostFourSackBlocks_RFC2018_3) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  // Five islands with a 1460-byte hole before each.
  for (uint32_t i = 0; i < 5; ++i) t.inject(peer_data(6461 + i * 2920, 1460));
  for (int i = 0; i < 4; ++i) t.take();
  t.expect(seg()
               .ack_flag()
               .ack(5001)
               .sack(18141, 19601)
               .sack(15221, 16681)
               .sack(12301, 13761)
               .sack(9381, 10841),
           "4 blocks fill the 40-byte option space; the oldest is left out");
}

TEST(Receive, AtMostThreeSackBlocksWithTimestamps_RFC2018_3) {
  ConnectionConfig c = sack_config();
  c.timestamps = true;
  ScriptTest t(c);
  t.establish_active(seg().sack_ok().ts(700, 0));
  for (uint32_t i = 0; i < 4; ++i) {
    t.inject(peer_data(6461 + i * 2920, 1448).ts(800 + i, 0));
  }
  for (int i = 0; i < 3; ++i) t.take();
  t.expect(seg().ack_flag().ack(5001).sack(15221, 16669).sack(12301, 13749).sack(9381, 10829),
           "with the 12 bytes of TSopt only 3 blocks fit");
}

TEST(Receive, GapFillGetsCumulativeAckAtOnce_RFC5681_4_2) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.at_ms(10);
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().ack(5001).sack(6461, 7921));
  t.at_ms(20);
  t.inject(peer_data(5001, 1460));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.flags, flags::kAck);
  EXPECT_EQ(ack.h.ack.raw(), 7921u) << "cumulative over the held segment, not delayed";
  EXPECT_EQ(ack.h.options.sack_count, 0) << "no hole left to report";
  EXPECT_EQ(t.conn().readable(), 2920u);
  t.expect_nothing();
}

TEST(Receive, OneSegmentAckedAfterDelayedAckTimeout_RFC9293_3_8_6_3) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(100);
  t.inject(peer_data(5001, 1460));
  t.expect_nothing();
  t.at_ms(139);
  t.expect_nothing();
  t.at_ms(140);
  t.expect(seg().ack_flag().seq(1001).ack(6461), "40 ms delayed ACK");
  EXPECT_EQ(t.conn().stats().delayed_acks, 1u);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Receive, SecondFullSegmentAckedAtOnce_RFC5681_4_2) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(100);
  t.inject(peer_data(5001, 1460));
  t.expect_nothing();
  t.at_ms(110);
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().seq(1001).ack(7921), "every second full-sized segment");
  t.expect_nothing();
  t.at_ms(200);
  t.expect_nothing();  // the delayed-ACK timer went with the ACK
  EXPECT_EQ(t.conn().stats().delayed_acks, 0u);
}

TEST(Receive, DataPiggybacksPendingAck_RFC9293_3_8_6_3) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer_data(5001, 100));
  t.expect_nothing();
  t.app_send(10);
  t.expect(seg().ack_flag().psh().seq(1001).ack(5101).data(10), "the ACK rides on our data");
  t.at_ms(100);
  t.expect_nothing();
}

TEST(Receive, DataBeyondWindowDroppedAndAcked_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();  // we advertised 65535: the window is [5001, 70536)
  t.inject(peer_data(5001 + 65535, 100));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect_nothing();
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().stats().dropped_unacceptable, 1u);
}

TEST(Receive, SegmentStraddlingRightEdgeIsTrimmed_RFC9293_3_10_7_4) {
  ConnectionConfig c = ScriptTest::default_config();
  c.receive_buffer = 4096;
  ScriptTest t(c);
  t.establish_active();                   // window [5001, 9097)
  t.inject(peer_data(5001 + 4000, 200));  // 96 bytes inside, 104 beyond
  t.expect(seg().ack_flag().ack(5001), "out of order: ACK at once");
  t.inject(peer_data(5001, 4000));
  t.expect(seg().ack_flag().ack(9097).win(0), "only the bytes inside the window were kept");
  EXPECT_EQ(t.conn().readable(), 4096u);
}

TEST(Receive, DuplicateSegmentGetsAckAtOnce_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer_data(5001, 100));
  t.expect_nothing();  // delayed
  t.at_ms(5);
  t.inject(peer_data(5001, 100));  // the same segment again: our ACK was lost or slow
  t.expect(seg().ack_flag().seq(1001).ack(5101));
  t.expect_nothing();
  EXPECT_EQ(t.conn().readable(), 100u) << "not delivered twice";
}

TEST(Receive, PartlyOldSegmentDeliversOnlyNewBytes_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).bytes(std::vector<uint8_t>(100, 'a')));
  std::vector<uint8_t> overlap(50, 'a');  // 5051..5100: bytes already received
  overlap.resize(150, 'b');               // 5101..5200: new
  t.inject(peer(5051, 1001).bytes(overlap));
  t.expect(seg().ack_flag().ack(5201));
  std::vector<uint8_t> got = t.app_recv();
  ASSERT_EQ(got.size(), 200u);
  EXPECT_EQ(got[99], 'a');
  EXPECT_EQ(got[100], 'b');
  EXPECT_EQ(got[199], 'b');
}

// A receiver with a 4096-byte buffer: windows of 4096 and an MSS of 1460.
ConnectionConfig small_buffer_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.receive_buffer = 4096;
  return c;
}

// Fills the 4096-byte window: after this RCV.NXT = 9097 and we advertised 0.
void fill_window(ScriptTest& t) {
  t.establish_active();
  t.inject(peer_data(5001, 1460));
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().ack(7921).win(1176));
  t.inject(peer_data(7921, 1176));
  t.at_ms(40);
  t.expect(seg().ack_flag().ack(9097).win(0), "zero window: the buffer is full");
}

TEST(Receive, ZeroWindowAdvertisedWhenBufferFills_RFC9293_3_8_6_2_2) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  EXPECT_EQ(t.conn().readable(), 4096u);
  t.expect_nothing();
}

TEST(Receive, DataIntoZeroWindowDroppedAndAcked_RFC9293_3_10_7_4) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  t.at_ms(100);
  t.inject(peer_data(9097, 1));  // a zero-window probe with one byte
  t.expect(seg().ack_flag().ack(9097).win(0));
  EXPECT_EQ(t.conn().readable(), 4096u);
}

TEST(Receive, WindowUpdateSentAfterRecvFreesSpace_RFC9293_3_8_6_2_2) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  t.at_ms(100);
  EXPECT_EQ(t.app_recv().size(), 4096u);
  t.expect(seg().ack_flag().seq(1001).ack(9097).win(4096), "window update without new data");
  EXPECT_EQ(t.conn().stats().window_updates, 1u);
}

TEST(Receive, ReceiverSwsNoUpdateForSmallIncrease_RFC9293_3_8_6_2_2) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  t.at_ms(100);
  // Reading 1000 bytes frees less than min(RCV.BUFF / 2, MSS) = min(2048, 1460).
  EXPECT_EQ(t.app_recv(1000).size(), 1000u);
  t.expect_nothing();
  t.at_ms(110);
  EXPECT_EQ(t.app_recv(1000).size(), 1000u);  // 2000 free now
  t.expect(seg().ack_flag().ack(9097).win(2000));
}

TEST(Receive, ReceiverSwsSmallIncreaseNotShownOnNextAck_RFC9293_3_8_6_2_2) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  EXPECT_EQ(t.app_recv(1000).size(), 1000u);
  t.expect_nothing();
  t.inject(peer(9097, 1001).data(1));  // probe: answered, still with the zero window
  t.expect(seg().ack_flag().ack(9097).win(0));
}

TEST(Receive, ZeroReceiveWindowStillAcceptsAcks_RFC9293_3_10_7_4) {
  ScriptTest t(small_buffer_config());
  fill_window(t);
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).ack(9097).data(100).win(0));
  t.at_ms(50);
  t.inject(peer(9097, 1101));  // SEG.SEQ = RCV.NXT with a zero window: acceptable
  EXPECT_EQ(t.conn().send_queued(), 0u) << "the ACK was processed";
  EXPECT_EQ(t.conn().stats().dropped_unacceptable, 0u);
  t.expect_nothing();
}

TEST(Receive, SequenceNumbersWrapAround_RFC9293_3_3) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.inject(seg().syn().seq(0xffffffc0u).ack(1001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(0xffffffc1u));
  t.inject(peer(0xffffffc1u, 1001).data(100));  // 63 bytes before the wrap, 37 after
  t.at_ms(40);
  t.expect(seg().ack_flag().seq(1001).ack(0x25), "0xffffffc1 + 100 mod 2^32");
  t.inject(peer(0x25 + 100, 1001).data(10));  // out of order past the wrap
  t.expect(seg().ack_flag().ack(0x25));
  t.inject(peer(0x25, 1001).data(100));
  t.expect(seg().ack_flag().ack(0x25 + 110));
  EXPECT_EQ(t.app_recv().size(), 210u);
}

}  // namespace
}  // namespace tou::script
