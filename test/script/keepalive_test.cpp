// Keep-alives (RFC 9293 3.8.4, RFC 1122 4.2.3.6), one rule per test. A probe
// carries SEG.SEQ = SND.NXT - 1 and no data, so the peer must answer with an ACK.
#include <cerrno>

#include "script/script.hpp"

namespace tou::script {
namespace {

Seg probe() {
  return seg().ack_flag().seq(1000).ack(5001);
}

ConnectionConfig keepalive_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.keepalive = true;
  c.keepalive_idle = std::chrono::seconds(10);
  c.keepalive_interval = std::chrono::seconds(1);
  c.keepalive_count = 3;
  return c;
}

TEST(Keepalive, OffByDefault_RFC9293_3_8_4) {
  ScriptTest t;
  ASSERT_FALSE(t.conn().config().keepalive);
  t.establish_active();
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.at_ms(3 * 3600 * 1000);
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().stats().keepalive_probes, 0u);
}

TEST(Keepalive, DefaultIdleIsTwoHours_RFC1122_4_2_3_6) {
  ConnectionConfig c = ScriptTest::default_config();
  c.keepalive = true;  // everything else left at its default
  ScriptTest t(c);
  t.establish_active();
  t.at_ms(7200 * 1000 - 1);
  t.expect_nothing();
  t.at_ms(7200 * 1000);
  t.expect(probe());
}

TEST(Keepalive, ProbeAfterIdle_RFC9293_3_8_4) {
  ScriptTest t(keepalive_config());
  t.establish_active();
  t.at_ms(9999);
  t.expect_nothing();
  t.at_ms(10000);
  t.expect(probe(), "<SEQ=SND.NXT-1><ACK=RCV.NXT>, no data");
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().keepalive_probes, 1u);
}

TEST(Keepalive, UnansweredProbesGiveEtimedout_RFC9293_3_8_4) {
  ScriptTest t(keepalive_config());
  t.establish_active();
  t.at_ms(12999);
  t.expect(probe(), "at 10 s");
  t.expect(probe(), "at 11 s");
  t.expect(probe(), "at 12 s");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(13000);  // the third probe's interval passed unanswered
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Keepalive, AnsweredProbeRestartsIdleTimer_RFC9293_3_8_4) {
  ScriptTest t(keepalive_config());
  t.establish_active();
  t.at_ms(10000);
  t.expect(probe());
  t.at_ms(10050);
  t.inject(seg().seq(5001).ack(1001).win(65535));  // the answer
  t.expect_nothing();
  t.at_ms(20049);
  t.expect_nothing();
  t.at_ms(20050);
  t.expect(probe(), "a full idle period after the answer");
  t.at_ms(22999);
  t.expect(probe());
  t.expect(probe());
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished) << "the unanswered count started over";
}

TEST(Keepalive, IncomingDataRestartsIdleTimer_RFC9293_3_8_4) {
  ScriptTest t(keepalive_config());
  t.establish_active();
  t.at_ms(5000);
  t.inject(seg().seq(5001).ack(1001).win(65535).data(10));
  t.at_ms(5040);
  t.expect(seg().ack_flag().seq(1001).ack(5011));  // delayed ACK
  t.at_ms(14999);
  t.expect_nothing();
  t.at_ms(15000);
  t.expect(seg().ack_flag().seq(1000).ack(5011));
}

// A TIME-WAIT connection probes nothing: a segment it receives there (a
// duplicate ACK) must not re-arm keepalive, whose probe would go unanswered
// and end a finished connection in ETIMEDOUT (found by tou-sim's stall check).
TEST(Keepalive, NoProbeInTimeWait_RFC9293_3_8_4) {
  ConnectionConfig c = keepalive_config();
  c.keepalive_idle = std::chrono::milliseconds(300);
  c.keepalive_interval = std::chrono::milliseconds(100);
  ScriptTest t(c);
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(10);
  t.inject(seg().seq(5001).ack(1002).win(65535));
  t.at_ms(20);
  t.inject(seg().seq(5001).ack(1002).win(65535).fin());
  t.expect(seg().ack_flag().seq(1002).ack(5002));
  ASSERT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.at_ms(30);
  t.inject(seg().seq(5002).ack(1002).win(65535));  // a late duplicate ACK
  t.at_ms(2019);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().keepalive_probes, 0u);
  t.at_ms(2020);  // 2 MSL after entering TIME-WAIT
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), 0);
}

}  // namespace
}  // namespace tou::script
