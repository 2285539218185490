// RFC 9293 3.10.7.4: TIME-WAIT once the program has closed the connection,
// reduced to core::TimeWait (what the engine keeps per peer). Our ISS is 1000
// and the peer's 5000; the connection enters TIME-WAIT at 20 ms with
// SND.NXT = 1002 and RCV.NXT = 5002 (MSL is 1 s in the script config).
#include <vector>

#include "core/time_wait.hpp"
#include "script/script.hpp"

namespace tou::script {
namespace {

using Verdict = TimeWait::Verdict;

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}

std::vector<uint8_t> wire(const SegmentHeader& h, const std::vector<uint8_t>& payload = {}) {
  std::vector<uint8_t> buf(h.wire_size() + payload.size());
  emit_segment(h, payload, buf);
  return buf;
}

// The TIME-WAIT of a connection we closed first, from its last ACK.
TimeWait closed_first(ScriptTest& t) {
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(10);
  t.inject(peer(5001, 1002));
  t.at_ms(20);
  t.inject(peer(5001, 1002).fin());
  Captured last = t.take();
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  std::optional<TimeWait> tw = TimeWait::of(t.conn(), wire(last.h, last.payload));
  EXPECT_TRUE(tw.has_value());
  return tw.value_or(TimeWait{});
}

// What TimeWait says to a segment from the peer.
Verdict answer(TimeWait& tw, Instant now, Seg s, bool listening = true) {
  std::vector<uint8_t> bytes = wire(s.h, s.payload);
  ParseResult p = parse_segment(bytes);
  EXPECT_TRUE(p.ok());
  return tw.on_segment(now, p.segment, listening);
}

TEST(TimeWait, KeepsTheLastAckAndEndsTwoMslAfterItBegan_RFC9293_3_4_2) {
  ScriptTest t;
  TimeWait tw = closed_first(t);
  ParseResult ack = parse_segment(tw.ack());
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack.segment.header.seq, SeqNum(1002));
  EXPECT_EQ(ack.segment.header.ack, SeqNum(5002));
  EXPECT_EQ(tw.expires(), instant_from_us(2'020'000));
}

TEST(TimeWait, ARetransmittedFinIsAckedAtOnceAndRestartsTwoMsl_RFC9293_3_10_7_4) {
  ScriptTest t;
  TimeWait tw = closed_first(t);
  EXPECT_EQ(answer(tw, instant_from_us(500'000), peer(5001, 1002).fin()), Verdict::kRepeatAck);
  EXPECT_EQ(tw.expires(), instant_from_us(2'500'000));
  // Every copy of it, however close together (the peer's ACK was lost again).
  EXPECT_EQ(answer(tw, instant_from_us(500'100), peer(5001, 1002).fin()), Verdict::kRepeatAck);
}

TEST(TimeWait, OtherSegmentsGetTheAckAtMostOncePerInterval_RFC5961_7) {
  ScriptTest t;
  TimeWait tw = closed_first(t);
  EXPECT_EQ(answer(tw, instant_from_us(100'000), peer(5002, 1002).data(10)), Verdict::kRepeatAck);
  EXPECT_EQ(answer(tw, instant_from_us(200'000), peer(5002, 1002)), Verdict::kIgnore);
  EXPECT_EQ(tw.acks_suppressed(), 1u);
  EXPECT_EQ(answer(tw, instant_from_us(600'000), peer(5002, 1002)), Verdict::kRepeatAck);
  EXPECT_EQ(tw.expires(), instant_from_us(2'020'000)) << "only the FIN restarts the timeout";
}

TEST(TimeWait, OnlyAnExactResetEndsIt_RFC5961_3_2) {
  ScriptTest t;
  TimeWait tw = closed_first(t);
  EXPECT_EQ(answer(tw, instant_from_us(100'000), seg().rst().seq(5003)), Verdict::kIgnore);
  EXPECT_EQ(answer(tw, instant_from_us(100'000), seg().rst().seq(5002)), Verdict::kEnd);
}

TEST(TimeWait, ASynEndsItWhenAListenerCanTakeTheNewConnection_RFC9293_3_10_7_4) {
  ScriptTest t;
  TimeWait tw = closed_first(t);
  EXPECT_EQ(answer(tw, instant_from_us(100'000), seg().syn().seq(90000), true),
            Verdict::kNewIncarnation);
  // A client's TIME-WAIT has no listener behind it: the SYN gets the ACK.
  EXPECT_EQ(answer(tw, instant_from_us(100'000), seg().syn().seq(90000), false),
            Verdict::kRepeatAck);
}

TEST(TimeWait, NoneBeforeTimeWait) {
  ScriptTest t;
  t.establish_active();
  std::vector<uint8_t> ack = wire(seg().ack_flag().seq(1001).ack(5001).h);
  EXPECT_FALSE(TimeWait::of(t.conn(), ack).has_value());
}

}  // namespace
}  // namespace tou::script
