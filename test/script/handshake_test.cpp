// RFC 9293 3.5 and 3.10: opening a connection, one rule per test.
#include <cerrno>

#include "script/script.hpp"

namespace tou::script {
namespace {

TEST(Handshake, ActiveOpenSendsSynWithOptions_RFC9293_3_10_1) {
  ConnectionConfig c = ScriptTest::default_config();
  c.timestamps = c.sack = c.window_scaling = true;
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  Captured syn = t.take();
  EXPECT_EQ(syn.h.flags, flags::kSyn);
  EXPECT_EQ(syn.h.seq.raw(), ScriptTest::kIss);
  EXPECT_EQ(syn.h.options.mss, 1460);
  EXPECT_TRUE(syn.h.options.sack_permitted);
  EXPECT_TRUE(syn.h.options.timestamps.has_value());
  EXPECT_TRUE(syn.h.options.window_scale.has_value());
  EXPECT_EQ(t.conn().state(), TcpState::kSynSent);
}

TEST(Handshake, SynAckCompletesActiveOpen_RFC9293_3_10_7_3) {
  ScriptTest t;
  t.establish_active();
  EXPECT_EQ(t.conn().poll_event(), ConnectionEvent::kEstablished);
}

TEST(Handshake, PassiveOpenAnswersSynWithSynAck_RFC9293_3_10_7_2) {
  ScriptTest t;
  t.establish_passive();
}

TEST(Handshake, SynRetransmittedWithExponentialBackoff_RFC6298_5_5) {
  ConnectionConfig c = ScriptTest::default_config();
  c.syn_retries = 3;
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.at_ms(999);
  t.expect_nothing();
  t.at_ms(1000);
  t.expect(seg().syn().seq(1000), "first retransmission after the 1 s initial RTO");
  t.at_ms(2999);
  t.expect_nothing();
  t.at_ms(3000);
  t.expect(seg().syn().seq(1000), "second after 2 s more");
  t.at_ms(7000);
  t.expect(seg().syn().seq(1000), "third after 4 s more");
  EXPECT_EQ(t.conn().state(), TcpState::kSynSent);
  t.at_ms(15000);
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Handshake, RstAnsweringSynRefusesConnection_RFC9293_3_10_7_3) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.inject(seg().rst().ack(1001).seq(0));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNREFUSED);
  t.expect_nothing();
}

TEST(Handshake, RstWithUnacceptableAckIgnoredInSynSent_RFC9293_3_10_7_3) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.inject(seg().rst().ack(5555).seq(0));
  EXPECT_EQ(t.conn().state(), TcpState::kSynSent);
  t.expect_nothing();
}

TEST(Handshake, BadAckInSynSentAnsweredWithReset_RFC9293_3_10_7_3) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.inject(seg().syn().seq(5000).ack(77));
  t.expect(seg().rst().seq(77));
  EXPECT_EQ(t.conn().state(), TcpState::kSynSent);
}

TEST(Handshake, SynAckRetransmittedThenHalfOpenDropped_RFC9293_3_8_1) {
  ConnectionConfig c = ScriptTest::default_config();
  c.synack_retries = 2;
  ScriptTest t(c);
  t.conn().listen(t.params());
  t.inject(seg().syn().seq(5000).mss(1460).win(65535));
  t.expect(seg().syn().seq(1000).ack(5001));
  t.at_ms(1000);
  t.expect(seg().syn().seq(1000).ack(5001));
  t.at_ms(3000);
  t.expect(seg().syn().seq(1000).ack(5001));
  t.at_ms(7000);
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Handshake, DuplicateSynResendsSynAck) {
  ScriptTest t;
  t.conn().listen(t.params());
  t.inject(seg().syn().seq(5000).mss(1460).win(65535));
  t.expect(seg().syn().seq(1000).ack(5001));
  t.at_ms(100);
  t.inject(seg().syn().seq(5000).mss(1460).win(65535));
  t.expect(seg().syn().seq(1000).ack(5001), "the SYN-ACK again, no second connection");
  EXPECT_EQ(t.conn().state(), TcpState::kSynReceived);
}

TEST(Handshake, AckInListenAnsweredWithReset_RFC9293_3_10_7_2) {
  ScriptTest t;
  t.conn().listen(t.params());
  t.inject(seg().seq(5000).ack(4242));
  t.expect(seg().rst().seq(4242));
  EXPECT_EQ(t.conn().state(), TcpState::kListen);
}

TEST(Handshake, SimultaneousOpen_RFC9293_Figure8) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.inject(seg().syn().seq(5000).mss(1460).win(65535));
  t.expect(seg().syn().seq(1000).ack(5001), "SYN-ACK");
  EXPECT_EQ(t.conn().state(), TcpState::kSynReceived);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));
  // The peer's SYN-ACK acknowledges our SYN: ESTABLISHED. Its SYN is a duplicate
  // now (already acknowledged by our SYN-ACK), so the final ACK answers it
  // (RFC 9293 3.10.7.4 first check: an unacceptable segment gets an ACK).
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.expect(seg().ack_flag().seq(1001).ack(5001), "the final ACK");
  t.expect_nothing();
}

TEST(Handshake, MssOptionLimitsSegmentSize_RFC9293_3_7_1) {
  ScriptTest t;
  t.establish_active(seg().mss(500));
  t.app_send(1200);
  t.expect(seg().ack_flag().seq(1001).data(500));
  t.expect(seg().ack_flag().seq(1501).data(500));
  t.expect_nothing();  // Nagle holds the short tail while data is unacknowledged
  t.inject(seg().seq(5001).ack(2001).win(65535));
  t.expect(seg().ack_flag().psh().seq(2001).data(200));
}

}  // namespace
}  // namespace tou::script
