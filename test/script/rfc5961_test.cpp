// RFC 5961: blind reset, SYN and data injection defences, one rule per test.
// After the handshake RCV.NXT = 5001 and our advertised window is 65535, so the
// receive window is [5001, 70536); SND.UNA = SND.NXT = 1001, MAX.SND.WND = 65535.
#include <cerrno>

#include "script/script.hpp"

namespace tou::script {
namespace {

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}

TEST(Rfc5961, RstWithExactSequenceResets_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().rst().seq(5001));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNRESET);
  EXPECT_EQ(t.conn().stats().resets_received, 1u);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.expect_nothing();
}

TEST(Rfc5961, RstAckWithExactSequenceResets_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().rst().seq(5001).ack(1001));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNRESET);
  t.expect_nothing();
}

TEST(Rfc5961, RstInWindowButNotExactGetsChallengeAck_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().rst().seq(5100));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT>");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().error(), 0);
  EXPECT_EQ(t.conn().stats().challenge_acks, 1u);
}

TEST(Rfc5961, RstAtLastByteOfWindowGetsChallengeAck_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().rst().seq(5001 + 65535 - 1));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

TEST(Rfc5961, RstOutsideWindowDroppedSilently_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().rst().seq(5001 + 65535));  // just past the right edge
  t.inject(seg().rst().seq(5000));          // just before RCV.NXT
  t.inject(seg().rst().seq(5001 + 1'000'000));
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().stats().dropped_unacceptable, 3u);
  EXPECT_EQ(t.conn().stats().challenge_acks, 0u);
}

TEST(Rfc5961, SynInEstablishedGetsChallengeAck_RFC5961_4_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(seg().syn().seq(5001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "challenge ACK, the connection stays");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().stats().challenge_acks, 1u);
}

TEST(Rfc5961, SynAnywhereInSequenceSpaceGetsAckNotReset_RFC5961_4_2) {
  ScriptTest t;
  t.establish_active();
  // "irrespective of the sequence number": a SYN in the window and one far outside it.
  t.inject(seg().syn().seq(5500).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.inject(seg().syn().seq(900'000).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

TEST(Rfc5961, AckAboveSndNxtDroppedAndAcked_RFC5961_5_2) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).ack(5001).data(100));
  t.inject(peer(5001, 2000).data(10));  // acknowledges data never sent
  t.expect(seg().ack_flag().seq(1101).ack(5001), "ACK, and the data is not taken");
  t.expect_nothing();
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().send_queued(), 100u) << "SND.UNA did not move";
  EXPECT_EQ(t.conn().stats().dropped_bad_ack, 1u);
}

TEST(Rfc5961, AckBelowSndUnaMinusMaxSndWndDroppedAndAcked_RFC5961_5_2) {
  ScriptTest t;
  t.establish_active();
  // SND.UNA - MAX.SND.WND = 1001 - 65535; 70000 below SND.UNA is older than that.
  t.inject(peer(5001, 1001u - 70000u).data(10));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect_nothing();
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().stats().dropped_bad_ack, 1u);
}

TEST(Rfc5961, OldAckWithinMaxSndWndStillDeliversData_RFC5961_5_2) {
  ScriptTest t;
  t.establish_active();
  // SEG.ACK = SND.UNA - 1000 is a duplicate, inside [SND.UNA - MAX.SND.WND, SND.NXT].
  t.inject(peer(5001, 1001u - 1000u).data(10));
  EXPECT_EQ(t.conn().readable(), 10u);
  EXPECT_EQ(t.conn().stats().dropped_bad_ack, 0u);
  t.at_ms(40);
  t.expect(seg().ack_flag().seq(1001).ack(5011));
}

TEST(Rfc5961, ChallengeAcksAreRateLimited_RFC5961_7) {
  ConnectionConfig c = ScriptTest::default_config();
  c.challenge_ack_limit = 3;
  ScriptTest t(c);
  t.establish_active();
  t.at_ms(100);
  for (int i = 0; i < 5; ++i) t.inject(seg().rst().seq(5100 + i));
  for (int i = 0; i < 3; ++i) t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().challenge_acks, 3u);
  t.at_ms(600);
  t.inject(seg().syn().seq(5001).win(65535));
  t.expect_nothing();  // SYN challenges share the limit
  t.at_ms(1200);
  t.inject(seg().rst().seq(5100));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "a new second: challenge ACKs allowed again");
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

TEST(Rfc5961, ExactRstInCloseWaitResets_RFC5961_3_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  t.inject(seg().rst().seq(5002));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNRESET);
}

}  // namespace
}  // namespace tou::script
