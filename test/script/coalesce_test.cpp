// Connection::coalesce_window(): how long the engine may hold a connection's
// next datagrams (receive coalescing). Only a bulk transfer qualifies, in
// either direction; the hold is a sixteenth of the round trip, at most 1 ms,
// and none where that is under 100 us. The handshake's round trip is the
// smoothed RTT here (RFC 6298 2.2: the first sample).
#include "script/script.hpp"

namespace tou::script {
namespace {

using std::chrono::microseconds;

// An active open whose SYN-ACK comes `rtt_ms` after the SYN.
void establish_with_rtt(ScriptTest& t, int64_t rtt_ms) {
  t.conn().connect(t.now(), t.params());
  t.take();  // the SYN
  t.at_ms(rtt_ms);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001), "handshake ACK");
}

Seg data_at(uint32_t seq, size_t len) {
  return seg().ack_flag().seq(seq).ack(1001).win(65535).data(len);
}

TEST(Coalesce, FullSizedSegmentsOfAStreamMayWaitASixteenthOfTheRoundTrip) {
  ScriptTest t;
  establish_with_rtt(t, 8);
  t.inject(data_at(5001, 1460));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(500));
  t.inject(data_at(6461, 1460));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(500));
}

TEST(Coalesce, ASegmentShorterThanTheMssIsNotAStream) {
  ScriptTest t;
  establish_with_rtt(t, 8);
  t.inject(data_at(5001, 1459));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(0)) << "a request or a response's end";
  t.inject(data_at(6460, 1460));
  EXPECT_GT(t.conn().coalesce_window(), microseconds(0));
  t.inject(seg().ack_flag().seq(7920).ack(1001).win(65535));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(0)) << "judged by the last datagram only";
}

TEST(Coalesce, AtMostOneMillisecond) {
  ScriptTest t;
  establish_with_rtt(t, 40);
  t.inject(data_at(5001, 1460));
  EXPECT_EQ(t.conn().coalesce_window(), Connection::kMaxCoalesce);
}

TEST(Coalesce, NoneOnAShortRoundTrip) {
  ScriptTest t;
  establish_with_rtt(t, 1);  // 62 us: a sleep would cost what it saves
  t.inject(data_at(5001, 1460));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(0));
}

TEST(Coalesce, AcksOfAStreamInFlightMayWait) {
  ScriptTest t;
  establish_with_rtt(t, 8);
  t.send_flight(10);
  t.at_ms(16);
  t.inject(seg().ack_flag().seq(5001).ack(1001 + 1460).win(65535));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(500)) << "9 segments still in flight";
  t.inject(seg().ack_flag().seq(5001).ack(1001 + 3 * 1460).win(65535));
  EXPECT_EQ(t.conn().coalesce_window(), microseconds(0)) << "7 segments in flight";
}

}  // namespace
}  // namespace tou::script
