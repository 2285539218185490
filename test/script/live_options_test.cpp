// Socket options changed on an open connection (Connection::set_*), as Linux
// applies setsockopt() to a connected socket: the new value acts at once and
// the timers that depend on it are re-armed. Our SND.NXT is 1001, RCV.NXT 5001.
#include <cerrno>

#include "script/script.hpp"

namespace tou::script {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Seg probe() {
  return seg().ack_flag().seq(1000).ack(5001);
}

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}

// Takes every queued segment off the wire unchecked.
void discard_output(ScriptTest& t) {
  while (t.pending() > 0) t.take();
}

TEST(LiveOptions, KeepaliveTurnedOnWhenIdleArmsTimerFromNow_RFC9293_3_8_4) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(5000);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.conn().set_keepalive(t.now(), true, seconds(10), seconds(1), 2);
  t.at_ms(14999);
  t.expect_nothing();
  t.at_ms(15000);
  t.expect(probe(), "idle (10 s) after keep-alive was turned on");
  t.at_ms(16000);
  t.expect(probe(), "one interval later");
  t.at_ms(16999);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(17000);  // KEEPCNT = 2 probes unanswered
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
}

TEST(LiveOptions, KeepaliveIdleChangeCountsFromLastSegment_RFC9293_3_8_4) {
  ConnectionConfig c = ScriptTest::default_config();
  c.keepalive = true;
  c.keepalive_idle = seconds(100);
  ScriptTest t(c);
  t.establish_active();  // the last segment received arrives at 0
  t.at_ms(4000);
  t.conn().set_keepalive(t.now(), true, seconds(5), seconds(1), 3);
  t.at_ms(4999);
  t.expect_nothing();
  t.at_ms(5000);
  t.expect(probe(), "5 s after the last segment, not after the change");
}

TEST(LiveOptions, KeepaliveTurnedOffDisarmsTimer_RFC9293_3_8_4) {
  ConnectionConfig c = ScriptTest::default_config();
  c.keepalive = true;
  c.keepalive_idle = seconds(10);
  ScriptTest t(c);
  t.establish_active();
  ASSERT_TRUE(t.conn().next_deadline().has_value());
  t.at_ms(5000);
  t.conn().set_keepalive(t.now(), false, seconds(10), seconds(1), 3);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.at_ms(3 * 3600 * 1000);
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

TEST(LiveOptions, UserTimeoutCountsFromOutstandingDataAge_RFC9293_3_8_3) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(1000);
  t.app_send(100);  // unacknowledged from 1000 on
  t.expect(seg().ack_flag().psh().seq(1001).ack(5001).data(100));
  t.at_ms(1500);
  t.conn().set_user_timeout(t.now(), seconds(2));
  t.at_ms(2999);
  discard_output(t);  // retransmissions
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(3000);  // 2 s after the data was sent, 1.5 s after the option
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
  t.expect(seg().rst().seq(1101), "the peer is told");
}

TEST(LiveOptions, UserTimeoutAlreadyExceededAbortsAtOnce_RFC9293_3_8_3) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.take();
  t.at_ms(700);
  discard_output(t);
  ASSERT_EQ(t.conn().state(), TcpState::kEstablished);
  t.conn().set_user_timeout(t.now(), milliseconds(500));
  EXPECT_EQ(t.conn().next_deadline(), t.now());
  t.at_ms(700);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
}

TEST(LiveOptions, UserTimeoutRaisedAgainLeavesConnectionOpen_RFC9293_3_8_3) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.take();
  t.conn().set_user_timeout(t.now(), milliseconds(300));
  t.conn().set_user_timeout(t.now(), seconds(60));
  t.at_ms(5000);
  discard_output(t);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.inject(peer(5001, 1101));
  t.at_ms(70000);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().error(), 0);
}

TEST(LiveOptions, CongestionControlSwapKeepsWindow) {
  ScriptTest t;
  ASSERT_EQ(t.conn().config().congestion_control, "cubic");
  t.establish_active();
  ConnectionInfo before = t.conn().info();
  EXPECT_TRUE(t.conn().set_congestion_control("newreno"));
  EXPECT_EQ(t.conn().config().congestion_control, "newreno");
  EXPECT_EQ(t.conn().info().cwnd, before.cwnd);
  EXPECT_EQ(t.conn().info().ssthresh, before.ssthresh);
  EXPECT_FALSE(t.conn().set_congestion_control("vegas"));
  EXPECT_EQ(t.conn().config().congestion_control, "newreno");
  // A timeout shows which controller runs: NewReno's ssthresh is FlightSize / 2
  // (RFC 5681 eq. 4) where CUBIC's would be 0.7 * cwnd (RFC 9438 4.6).
  t.send_flight(10);
  t.at_ms(3000);
  discard_output(t);
  EXPECT_GE(t.conn().stats().rto_timeouts, 1u);
  EXPECT_EQ(t.conn().info().ssthresh, 10u * 1460 / 2);
}

TEST(LiveOptions, SendBufferGrowthFreesSpaceAndSignalsWritable) {
  ScriptTest t;  // 64 KiB send buffer
  t.establish_active();
  while (t.conn().poll_event()) {
  }
  ASSERT_EQ(t.app_send(70000), 65536u);
  discard_output(t);
  EXPECT_EQ(t.conn().send_space(), 0u);
  t.conn().set_send_buffer_limit(128 * 1024);
  EXPECT_EQ(t.conn().send_space(), 65536u);
  EXPECT_EQ(t.conn().poll_event(), ConnectionEvent::kWritable);
  t.conn().set_send_buffer_limit(4096);  // never below what is queued
  EXPECT_EQ(t.conn().send_space(), 0u);
  EXPECT_EQ(t.conn().send_queued(), 65536u);
}

ConnectionConfig scaled_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.window_scaling = true;
  c.receive_buffer = 64 * 1024;
  c.window_scale_space = 1 << 20;  // Rcv.Wind.Shift = 5
  return c;
}

TEST(LiveOptions, ReceiveBufferGrowthAnnouncesLargerWindow_RFC7323_2_3) {
  ScriptTest t(scaled_config());
  t.establish_active(seg().wscale(0));
  EXPECT_EQ(t.conn().info().rcv_wscale, 5);
  t.conn().set_receive_buffer_limit(256 * 1024);
  t.expect(seg().ack_flag().seq(1001).ack(5001).win(256 * 1024 >> 5), "window update");
  EXPECT_EQ(t.conn().info().rcv_wnd, 256u * 1024);
}

TEST(LiveOptions, ReceiveBufferGrowthStopsAtWhatTheScaleExpresses_RFC7323_2_3) {
  ScriptTest t;  // no window scaling: at most 65535
  t.establish_active();
  t.conn().set_receive_buffer_limit(1 << 20);
  t.expect_nothing();
  t.inject(peer(5001, 1001).data(100));
  t.at_ms(100);
  t.expect(seg().ack_flag().ack(5101).win(65435), "the window field's ceiling, less the data");
}

TEST(LiveOptions, ReceiveBufferShrinkKeepsAdvertisedWindow_RFC9293_3_8_6_2_2) {
  ScriptTest t;  // 64 KiB, 65535 advertised
  t.establish_active();
  t.conn().set_receive_buffer_limit(16 * 1024);
  EXPECT_EQ(t.conn().config().receive_buffer, 16u * 1024);
  t.inject(peer(5001, 1001).data(1000));
  t.at_ms(100);
  t.expect(seg().ack_flag().ack(6001).win(65535 - 1000), "the right edge does not move back");
  t.inject(peer(6001, 1001).data(1460));
  EXPECT_EQ(t.conn().readable(), 2460u);
}

TEST(LiveOptions, MssLimitShortensSegmentsAndCanBeLifted) {
  ScriptTest t;
  t.establish_active();  // the peer's MSS: 1460
  t.conn().set_mss_limit(1000);
  EXPECT_EQ(t.conn().info().snd_mss, 1000u);
  t.app_send(2000);
  t.expect(seg().ack_flag().seq(1001).data(1000));
  t.expect(seg().ack_flag().psh().seq(2001).data(1000));
  t.inject(peer(5001, 3001));
  t.conn().set_mss_limit(0);
  EXPECT_EQ(t.conn().info().snd_mss, 1460u);
  t.conn().set_mss_limit(9000);  // never above the peer's MSS
  EXPECT_EQ(t.conn().info().snd_mss, 1460u);
}

// A 4096-byte receive buffer: the peer fills most of it, then sends FIN.
ConnectionConfig small_buffer_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.receive_buffer = 4096;
  return c;
}

TEST(LiveOptions, NoWindowUpdateAfterPeerFin_RFC9293_3_10_7_4) {
  ScriptTest t(small_buffer_config());
  t.establish_active();
  t.inject(peer(5001, 1001).data(1460));
  t.inject(peer(6461, 1001).data(1460).fin());
  t.expect(seg().ack_flag().ack(7922), "data and FIN acknowledged");
  ASSERT_EQ(t.conn().state(), TcpState::kCloseWait);
  t.at_ms(100);
  EXPECT_EQ(t.app_recv().size(), 2920u);
  t.expect_nothing();  // no more text can come: a window update would be noise
  EXPECT_EQ(t.conn().stats().window_updates, 0u);
}

TEST(LiveOptions, WindowUpdateStillSentBeforePeerFin_RFC9293_3_8_6_2_2) {
  ScriptTest t(small_buffer_config());  // the same, without the FIN
  t.establish_active();
  t.inject(peer(5001, 1001).data(1460));
  t.inject(peer(6461, 1001).data(1460));
  t.expect(seg().ack_flag().ack(7921));
  t.at_ms(100);
  EXPECT_EQ(t.app_recv().size(), 2920u);
  t.expect(seg().ack_flag().ack(7921).win(4096));
  EXPECT_EQ(t.conn().stats().window_updates, 1u);
}

}  // namespace
}  // namespace tou::script

namespace tou::script {
namespace {

TEST(LiveOptions, UserTimeoutBoundsKeepaliveProbingAsLinux_RFC9293_3_8_3) {
  ScriptTest t;
  t.establish_active();
  t.conn().set_keepalive(t.now(), true, seconds(10), seconds(1), 9);
  t.conn().set_user_timeout(t.now(), milliseconds(12500));
  t.at_ms(12999);
  discard_output(t);
  EXPECT_EQ(t.conn().stats().keepalive_probes, 3u);
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(13000);  // silent for 12.5 s or more: nine probes are not waited for
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
}

}  // namespace
}  // namespace tou::script
