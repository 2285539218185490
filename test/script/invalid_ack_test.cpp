// ACKs owed to unacceptable segments are rate-limited, as Linux's
// tcp_invalid_ratelimit (500 ms per connection), for segments without data:
// a blind sender cannot make the connection reflect one ACK per forged
// segment. Data segments are always acknowledged.
// After the handshake RCV.NXT = 5001, SND.NXT = 1001, window 65535.
#include "script/script.hpp"

namespace tou::script {
namespace {

constexpr uint32_t kFar = 5001 + 100'000;  // outside the receive window

TEST(InvalidAck, OutOfWindowPureAcksRateLimited_Linux_tcp_invalid_ratelimit) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(100);
  t.inject(seg().seq(kFar).ack(1001).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "the first one is answered");
  t.at_ms(200);
  for (int i = 0; i < 5; ++i) t.inject(seg().seq(kFar + i).ack(1001).win(65535));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().invalid_acks_suppressed, 5u);
  EXPECT_EQ(t.conn().stats().dropped_unacceptable, 6u);
  t.at_ms(600);
  t.inject(seg().seq(kFar).ack(1001).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "500 ms later: answered again");
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

TEST(InvalidAck, OldDataAlwaysAcknowledged_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(100);
  for (int i = 0; i < 3; ++i) {
    t.inject(seg().seq(4001).ack(1001).win(65535).data(100));  // wholly before RCV.NXT
    t.expect(seg().ack_flag().seq(1001).ack(5001), "a duplicate's ACK is what its sender needs");
  }
  EXPECT_EQ(t.conn().stats().invalid_acks_suppressed, 0u);
}

TEST(InvalidAck, AckOfUnsentDataWithoutPayloadRateLimited_RFC5961_5_2) {
  ScriptTest t;
  t.establish_active();
  t.at_ms(100);
  t.inject(seg().seq(5001).ack(9000).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.inject(seg().seq(5001).ack(9000).win(65535));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().dropped_bad_ack, 2u);
  EXPECT_EQ(t.conn().stats().invalid_acks_suppressed, 1u);
}

TEST(InvalidAck, PawsRejectsShareTheLimit_RFC7323_5_3) {
  ConnectionConfig c = ScriptTest::default_config();
  c.timestamps = true;
  ScriptTest t(c);
  t.establish_active(seg().ts(1000, 1));
  t.at_ms(100);
  t.inject(seg().seq(5001).ack(1001).win(65535).ts(900, 1));  // older than TS.Recent
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.inject(seg().seq(5001).ack(1001).win(65535).ts(900, 1));
  t.inject(seg().seq(kFar).ack(1001).win(65535).ts(2000, 1));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().dropped_paws, 2u);
  EXPECT_EQ(t.conn().stats().invalid_acks_suppressed, 2u);
}

TEST(InvalidAck, ChallengeAcksOverTheLimitCounted_RFC5961_7) {
  ConnectionConfig c = ScriptTest::default_config();
  c.challenge_ack_limit = 2;
  ScriptTest t(c);
  t.establish_active();
  t.at_ms(100);
  for (int i = 0; i < 5; ++i) t.inject(seg().syn().seq(kFar + i).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().challenge_acks, 2u);
  EXPECT_EQ(t.conn().stats().challenge_acks_suppressed, 3u);
}

}  // namespace
}  // namespace tou::script
