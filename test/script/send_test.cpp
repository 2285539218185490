// The sending side: Nagle (RFC 9293 3.7.4), the peer's window (3.8.6), zero
// window probing (3.8.6.1), sender SWS avoidance (3.8.6.2.1), the initial window
// (RFC 6928) and slow start (RFC 5681 3.1), one rule per test. Our data starts at
// SND.NXT = 1001 and segments are 1460 bytes.
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}
Seg data_at(uint32_t seq, size_t len) {
  return seg().ack_flag().seq(seq).ack(5001).data(len);
}
Seg last_data_at(uint32_t seq, size_t len) {
  return data_at(seq, len).psh();
}

ConnectionConfig newreno_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.congestion_control = "newreno";
  return c;
}

TEST(Send, NagleHoldsSmallSegmentWhileDataUnacked_RFC9293_3_7_4) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.expect(last_data_at(1001, 100), "nothing in flight: sent at once");
  t.app_send(100);
  t.expect_nothing();
  t.app_send(100);
  t.expect_nothing();
  t.at_ms(10);
  t.inject(peer(5001, 1101));
  t.expect(last_data_at(1101, 200), "the held bytes go out together when the ACK arrives");
}

TEST(Send, NagleDoesNotHoldFullSegments_RFC9293_3_7_4) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.expect(last_data_at(1001, 100));
  t.app_send(1460);
  t.expect(last_data_at(1101, 1460), "a full-sized segment is never delayed");
}

TEST(Send, NodelaySendsSmallSegmentsAtOnce_RFC9293_3_7_4) {
  ScriptTest t;
  t.establish_active();
  t.conn().set_nodelay(true);
  t.app_send(100);
  t.expect(last_data_at(1001, 100));
  t.app_send(100);
  t.expect(last_data_at(1101, 100), "TCP_NODELAY: no waiting for the ACK");
}

TEST(Send, SettingNodelayReleasesHeldSegment) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.expect(last_data_at(1001, 100));
  t.app_send(100);
  t.expect_nothing();
  t.conn().set_nodelay(true);
  t.expect(last_data_at(1101, 100));
}

TEST(Send, PeerWindowLimitsWhatIsSent_RFC9293_3_8_6) {
  ScriptTest t;
  t.establish_active(seg().win(3000));
  t.app_send(4 * 1460);
  t.expect(data_at(1001, 1460));
  t.expect(data_at(2461, 1460));
  t.expect_nothing();  // 80 bytes of window left
  t.at_ms(10);
  t.inject(seg().seq(5001).ack(3921).win(3000));
  t.expect(data_at(3921, 1460));
  t.expect(last_data_at(5381, 1460));
  t.expect_nothing();
}

TEST(Send, WindowSmallerThanMssSendsWhatFits_RFC9293_3_8_6) {
  ScriptTest t;
  t.establish_active(seg().win(1000));
  t.app_send(1500);
  t.expect(data_at(1001, 1000), "nothing in flight: the whole window");
  t.expect_nothing();
  t.at_ms(10);
  t.inject(seg().seq(5001).ack(2001).win(1000));
  t.expect(last_data_at(2001, 500));
}

TEST(Send, SenderSwsAvoidanceHoldsSmallWindowSlice_RFC9293_3_8_6_2_1) {
  ScriptTest t;
  t.establish_active(seg().win(10000));
  t.app_send(20000);
  for (uint32_t i = 0; i < 6; ++i) t.expect(data_at(1001 + i * 1460, 1460));
  t.expect_nothing();  // 1240 bytes of window left: less than an MSS and than Fs * MAX(SND.WND)
  t.at_ms(10);
  t.inject(seg().seq(5001).ack(2461).win(10000));
  t.expect(data_at(9761, 1460), "one full segment fits the 2700 bytes of window");
  t.expect_nothing();  // 1240 again
  t.at_ms(20);
  t.inject(seg().seq(5001).ack(11221).win(10000));
  for (uint32_t i = 0; i < 6; ++i) t.expect(data_at(11221 + i * 1460, 1460));
  t.expect_nothing();
}

TEST(Send, OlderSegmentDoesNotUpdateWindow_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(6001, 1001).data(100));  // out of order, window 65535: SND.WL1 = 6001
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  // Sent by the peer before the segment above (SEG.SEQ < SND.WL1): its zero window is stale.
  t.inject(seg().seq(5001).ack(1001).win(0));
  t.expect_nothing();
  EXPECT_EQ(t.conn().info().snd_wnd, 65535u);
  t.app_send(100);
  t.expect(last_data_at(1001, 100));
}

TEST(Send, ZeroWindowProbesBackOff_RFC9293_3_8_6_1) {
  ScriptTest t;
  t.establish_active();  // RTO 200 ms
  t.inject(seg().seq(5001).ack(1001).win(0));
  t.app_send(100);
  t.expect_nothing();
  // A probe (old sequence number, so the peer must answer with its window) after
  // one RTO, then at doubling intervals.
  for (int64_t at : {200, 600, 1400, 3000}) {
    t.at_ms(at - 1);
    t.expect_nothing();
    t.at_ms(at);
    t.expect(seg().ack_flag().seq(1000).ack(5001));
    t.inject(seg().seq(5001).ack(1001).win(0));  // still closed
    t.expect_nothing();
  }
  EXPECT_EQ(t.conn().stats().window_probes, 4u);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished) << "a zero window is not a failure";
}

TEST(Send, ZeroWindowOpeningResumesSending_RFC9293_3_8_6_1) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().seq(5001).ack(1001).win(0));
  t.app_send(100);
  t.expect_nothing();
  t.at_ms(200);
  t.expect(seg().ack_flag().seq(1000).ack(5001));
  t.at_ms(250);
  t.inject(seg().seq(5001).ack(1001).win(65535));  // the answer opens the window
  t.expect(last_data_at(1001, 100));
  EXPECT_EQ(t.conn().next_deadline(), instant_from_us(450'000))
      << "only the retransmission timer: the persist timer stopped";
}

TEST(Send, InitialWindowIsTenSegments_RFC6928_2) {
  ScriptTest t;
  t.establish_active();
  EXPECT_EQ(t.conn().info().cwnd, 14600u);
  t.app_send(20000);
  for (uint32_t i = 0; i < 10; ++i) t.expect(data_at(1001 + i * 1460, 1460));
  t.expect_nothing();  // the peer's window is 65535: cwnd is the limit
}

TEST(Send, SlowStartGrowsOneSegmentPerAck_RFC5681_3_1) {
  ScriptTest t(newreno_config());
  t.establish_active();
  t.app_send(40000);
  for (int i = 0; i < 10; ++i) t.take();
  t.at_ms(10);
  t.inject(peer(5001, 2461));  // one segment acknowledged: cwnd 11 segments
  EXPECT_EQ(t.conn().info().cwnd, 16060u);
  t.expect(data_at(15601, 1460), "pipe 9 segments, cwnd 11: two new segments");
  t.expect(data_at(17061, 1460));
  t.expect_nothing();
}

TEST(Send, SlowStartStretchAckGrowsAtMostTwoSegments_RFC3465_2_2) {
  ScriptTest t(newreno_config());
  t.establish_active();
  t.app_send(40000);
  for (int i = 0; i < 10; ++i) t.take();
  t.at_ms(10);
  t.inject(peer(5001, 1001 + 5 * 1460));  // five segments in one ACK: +2 SMSS (L = 2)
  EXPECT_EQ(t.conn().info().cwnd, 14600u + 2920u);
  // pipe = 5 segments, cwnd = 12: seven new segments.
  for (uint32_t i = 0; i < 7; ++i) t.expect(data_at(15601 + i * 1460, 1460));
  t.expect_nothing();
}

TEST(Send, IdleRestartsFromInitialWindow_RFC5681_4_1) {
  ScriptTest t(newreno_config());
  t.establish_active();
  t.send_flight(10);
  t.at_ms(10);
  t.inject(peer(5001, 1001 + 10 * 1460));
  ASSERT_EQ(t.conn().info().cwnd, 17520u);
  t.at_ms(2000);  // idle for longer than an RTO
  t.app_send(20 * 1460);
  for (uint32_t i = 0; i < 10; ++i) t.expect(data_at(15601 + i * 1460, 1460));
  t.expect_nothing();  // restart window = min(IW, cwnd) = 10 segments, not 12
}

TEST(Send, OurSequenceNumbersWrapAround_RFC9293_3_3) {
  ScriptTest t;
  OpenParams p = t.params();
  p.iss = SeqNum(0xfffffc00u);  // 1023 bytes of data before the wrap
  t.conn().connect(t.now(), p);
  t.expect(seg().syn().seq(0xfffffc00u));
  t.inject(seg().syn().seq(5000).ack(0xfffffc01u).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(0xfffffc01u).ack(5001));
  t.app_send(2 * 1460);
  t.expect(seg().ack_flag().seq(0xfffffc01u).data(1460));
  t.expect(seg().ack_flag().psh().seq(0x1b5).data(1460), "0xfffffc01 + 1460 mod 2^32");
  t.at_ms(10);
  t.inject(peer(5001, 0x1b5));
  EXPECT_EQ(t.conn().send_queued(), 1460u);
  t.inject(peer(5001, 0x1b5 + 1460));
  EXPECT_EQ(t.conn().send_queued(), 0u);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace tou::script
