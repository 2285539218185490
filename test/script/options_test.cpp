// TCP options: timestamps and PAWS (RFC 7323 3-5), window scaling (RFC 7323 2),
// SACK-permitted (RFC 2018 2) and MSS (RFC 9293 3.7.1), one rule per test.
#include <cerrno>

#include "script/script.hpp"

namespace tou::script {
namespace {

constexpr uint32_t kTsOffset = 1'000'000;  // our TSval = kTsOffset + now in microseconds

ConnectionConfig all_options() {
  ConnectionConfig c = ScriptTest::default_config();
  c.timestamps = c.sack = c.window_scaling = true;
  return c;
}

// Active open with timestamps on both sides: our SYN at 0, the SYN-ACK (TSval 700)
// at 10 ms. Returns the handshake ACK.
Captured handshake_with_timestamps(ScriptTest& t) {
  OpenParams p = t.params();
  p.ts_offset = kTsOffset;
  t.conn().connect(t.now(), p);
  Captured syn = t.take();
  EXPECT_TRUE(syn.h.options.timestamps.has_value());
  if (syn.h.options.timestamps) {
    EXPECT_EQ(syn.h.options.timestamps->value, kTsOffset);
    EXPECT_EQ(syn.h.options.timestamps->echo_reply, 0u);
  }
  t.at_ms(10);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).ts(700, kTsOffset));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.flags, flags::kAck);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  return ack;
}

Seg peer_ts(uint32_t seq, uint32_t tsval) {
  return seg().seq(seq).ack(1001).win(65535).ts(tsval, kTsOffset);
}

uint32_t echoed(const Captured& c) {
  EXPECT_TRUE(c.h.options.timestamps.has_value()) << c.str();
  return c.h.options.timestamps ? c.h.options.timestamps->echo_reply : 0;
}

TEST(Options, TimestampsNotUsedUnlessBothSend_RFC7323_3_2) {
  ConnectionConfig c = ScriptTest::default_config();
  c.timestamps = true;
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  Captured syn = t.take();
  EXPECT_TRUE(syn.h.options.timestamps.has_value()) << "offered in the SYN";
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));  // no TSopt
  Captured ack = t.take();
  EXPECT_FALSE(ack.h.options.timestamps.has_value());
  t.app_send(100);
  Captured data = t.take();
  EXPECT_FALSE(data.h.options.timestamps.has_value());
  EXPECT_FALSE(t.conn().info().timestamps);
}

TEST(Options, TimestampsOnEverySegmentOnceNegotiated_RFC7323_3_2) {
  ScriptTest t(all_options());
  Captured ack = handshake_with_timestamps(t);
  ASSERT_TRUE(ack.h.options.timestamps.has_value());
  EXPECT_EQ(ack.h.options.timestamps->value, kTsOffset + 10'000);
  EXPECT_EQ(ack.h.options.timestamps->echo_reply, 700u) << "TSecr = the SYN-ACK's TSval";
  EXPECT_TRUE(t.conn().info().timestamps);
  t.at_ms(20);
  t.app_send(100);
  Captured data = t.take();
  ASSERT_TRUE(data.h.options.timestamps.has_value());
  EXPECT_EQ(data.h.options.timestamps->value, kTsOffset + 20'000);
  EXPECT_EQ(data.h.options.timestamps->echo_reply, 700u);
}

TEST(Options, RttSampleFromTimestampEcho_RFC7323_4_2) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  EXPECT_EQ(t.conn().info().srtt, std::chrono::milliseconds(10));
}

TEST(Options, TsEcrEchoesTsRecent_RFC7323_4_3) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  t.at_ms(20);
  t.inject(peer_ts(5001, 800).data(100));
  t.at_ms(60);
  Captured ack = t.take();
  EXPECT_EQ(ack.h.ack.raw(), 5101u);
  EXPECT_EQ(echoed(ack), 800u);
}

TEST(Options, DelayedAckEchoesEarliestUnacknowledgedSegment_RFC7323_4_3) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  t.at_ms(20);
  t.inject(peer_ts(5001, 800).data(1448));
  t.expect_nothing();
  t.at_ms(30);
  t.inject(peer_ts(6449, 801).data(1448));  // above Last.ACK.sent: TS.Recent stays 800
  Captured ack = t.take();
  EXPECT_EQ(ack.h.ack.raw(), 7897u);
  EXPECT_EQ(echoed(ack), 800u) << "the RTT measured covers the delay of the ACK";
}

TEST(Options, PawsDropsOldTimestampAndAcks_RFC7323_5_3) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);  // TS.Recent = 700
  t.at_ms(20);
  t.inject(peer_ts(5001, 600).data(100));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.flags, flags::kAck);
  EXPECT_EQ(ack.h.ack.raw(), 5001u) << "the data was not taken";
  EXPECT_EQ(echoed(ack), 700u);
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().stats().dropped_paws, 1u);
  t.expect_nothing();
}

TEST(Options, PawsAcceptsEqualTimestamp_RFC7323_5_3) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  t.inject(peer_ts(5001, 700).data(100));  // not older than TS.Recent
  EXPECT_EQ(t.conn().readable(), 100u);
  EXPECT_EQ(t.conn().stats().dropped_paws, 0u);
}

TEST(Options, PawsDoesNotApplyToRst_RFC7323_5_3) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  t.inject(seg().rst().seq(5001).ts(600, 0));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNRESET);
}

TEST(Options, OurWindowScaledButNotOnSyn_RFC7323_2_2) {
  ConnectionConfig c = all_options();
  c.receive_buffer = 65536;  // one more than a 16-bit window: shift 1
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  Captured syn = t.take();
  ASSERT_TRUE(syn.h.options.window_scale.has_value());
  EXPECT_EQ(*syn.h.options.window_scale, 1);
  EXPECT_EQ(syn.h.window, 65535) << "the SYN's window is never scaled";
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).wscale(2));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.window, 32768) << "65536 >> 1";
  EXPECT_EQ(t.conn().info().rcv_wscale, 1);
}

TEST(Options, PeerWindowScaleAppliedButNotToSynAck_RFC7323_2_2) {
  ScriptTest t(all_options());
  t.conn().connect(t.now(), t.params());
  t.take();
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(1000).wscale(2));
  t.take();
  EXPECT_EQ(t.conn().info().snd_wnd, 1000u) << "the SYN-ACK's window is taken as is";
  t.app_send(1000 + 2 * 1460);
  t.expect(seg().ack_flag().seq(1001).data(1000));
  t.expect_nothing();
  t.at_ms(10);
  t.inject(seg().seq(5001).ack(2001).win(1000));  // 1000 << 2 = 4000
  EXPECT_EQ(t.conn().info().snd_wnd, 4000u);
  t.expect(seg().ack_flag().seq(2001).data(1460));
  t.expect(seg().ack_flag().psh().seq(3461).data(1460));
  t.expect_nothing();
}

TEST(Options, WindowScaleNotUsedUnlessBothSend_RFC7323_2_2) {
  ConnectionConfig c = all_options();
  c.receive_buffer = 1 << 20;
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  Captured syn = t.take();
  EXPECT_TRUE(syn.h.options.window_scale.has_value());
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(1000));  // no wscale
  Captured ack = t.take();
  EXPECT_EQ(ack.h.window, 65535) << "no shift: the 1 MB window is clamped to 65535";
  EXPECT_EQ(t.conn().info().rcv_wscale, 0);
  EXPECT_EQ(t.conn().info().snd_wscale, 0);
  t.inject(seg().seq(5001).ack(1001).win(3000));
  EXPECT_EQ(t.conn().info().snd_wnd, 3000u) << "the peer's window is not shifted either";
}

TEST(Options, WindowScaleAbove14TreatedAs14_RFC7323_2_3) {
  ScriptTest t(all_options());
  t.conn().connect(t.now(), t.params());
  t.take();
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).wscale(15));
  t.take();
  EXPECT_EQ(t.conn().info().snd_wscale, 14);
}

TEST(Options, SynAckOffersOnlyOptionsTheSynCarried_RFC7323_RFC2018) {
  ScriptTest t(all_options());
  t.conn().listen(t.params());
  t.inject(seg().syn().seq(5000).mss(1460).win(65535));  // MSS only
  t.expect(seg().syn().seq(1000).ack(5001).mss(1460).options_exact(),
           "no wscale, sackOK or TSopt in reply to a SYN without them");
  EXPECT_EQ(t.conn().state(), TcpState::kSynReceived);
}

TEST(Options, SynAckEchoesEveryOptionTheSynCarried_RFC7323_RFC2018) {
  ConnectionConfig c = all_options();
  c.receive_buffer = 65536;
  ScriptTest t(c);
  t.conn().listen(t.params());
  t.inject(seg().syn().seq(5000).mss(1460).win(65535).wscale(3).sack_ok().ts(4242, 0));
  Captured synack = t.take();
  EXPECT_EQ(synack.h.flags, flags::kSyn | flags::kAck);
  EXPECT_EQ(synack.h.options.mss, 1460);
  EXPECT_EQ(synack.h.options.window_scale, 1);
  EXPECT_TRUE(synack.h.options.sack_permitted);
  ASSERT_TRUE(synack.h.options.timestamps.has_value());
  EXPECT_EQ(synack.h.options.timestamps->echo_reply, 4242u);
}

TEST(Options, SackPermittedNegotiated_RFC2018_2) {
  ScriptTest t(all_options());
  t.conn().connect(t.now(), t.params());
  Captured syn = t.take();
  EXPECT_TRUE(syn.h.options.sack_permitted);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).sack_ok());
  t.take();
  EXPECT_TRUE(t.conn().info().sack);
  t.inject(seg().seq(6461).ack(1001).win(65535).data(100));
  Captured ack = t.take();
  ASSERT_EQ(ack.h.options.sack_count, 1);
  EXPECT_EQ(ack.h.options.sack_blocks[0], (SackBlock{SeqNum(6461), SeqNum(6561)}));
}

TEST(Options, NoSackBlocksWithoutSackPermitted_RFC2018_2) {
  ScriptTest t(all_options());
  t.conn().connect(t.now(), t.params());
  t.take();
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));  // no sackOK
  t.take();
  EXPECT_FALSE(t.conn().info().sack);
  t.inject(seg().seq(6461).ack(1001).win(65535).data(100));
  Captured ack = t.take();
  EXPECT_EQ(ack.h.ack.raw(), 5001u);
  EXPECT_EQ(ack.h.options.sack_count, 0);
}

TEST(Options, MssDefaults536WhenAbsent_RFC9293_3_7_1) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.take();
  t.inject(seg().syn().seq(5000).ack(1001).win(65535));  // no MSS option
  t.take();
  EXPECT_EQ(t.conn().info().snd_mss, 536);
  t.app_send(2 * 536);
  t.expect(seg().ack_flag().seq(1001).data(536));
  t.expect(seg().ack_flag().psh().seq(1537).data(536));
  t.expect_nothing();
}

TEST(Options, SegmentsLeaveRoomForTimestamps_RFC7323_RFC6691) {
  ScriptTest t(all_options());
  handshake_with_timestamps(t);
  t.app_send(2 * 1448);
  Captured a = t.take();
  Captured b = t.take();
  EXPECT_EQ(a.payload.size(), 1448u) << "MSS 1460 less the 12-byte timestamp option";
  EXPECT_EQ(b.payload.size(), 1448u);
  EXPECT_EQ(b.h.seq.raw(), 1001u + 1448u);
}

}  // namespace
}  // namespace tou::script
