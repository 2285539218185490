// RFC 9293 3.6, 3.10.4, 3.10.5, 3.10.7: closing a connection, one rule per test.
// Our ISS is 1000 and the peer's 5000, so after the handshake SND.NXT = 1001 and
// RCV.NXT = 5001.
#include <array>
#include <cerrno>
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

// A segment from the peer carrying an ACK and a full window.
Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}

// Queues n bytes without draining, so that a following API call acts before
// anything is sent.
void queue(ScriptTest& t, size_t n) {
  std::vector<uint8_t> data(n, 'q');
  ASSERT_EQ(t.conn().send(t.now(), data), n);
}

// Drains the event queue; true when `want` was among the events.
bool saw_event(ScriptTest& t, ConnectionEvent want) {
  bool seen = false;
  while (auto e = t.conn().poll_event()) seen = seen || *e == want;
  return seen;
}

TEST(Close, ShutdownSendsFinAfterQueuedData_RFC9293_3_10_4) {
  ScriptTest t;
  t.establish_active();
  queue(t, 2000);
  t.conn().shutdown(t.now());
  EXPECT_EQ(t.conn().state(), TcpState::kFinWait1);
  t.expect(seg().ack_flag().seq(1001).ack(5001).data(1460));
  t.expect(seg().ack_flag().psh().fin().seq(2461).ack(5001).data(540),
           "the FIN rides on the last queued byte, past Nagle");
  t.expect_nothing();
  t.inject(peer(5001, 3002));
  EXPECT_EQ(t.conn().state(), TcpState::kFinWait2);
  t.expect_nothing();
}

TEST(Close, ShutdownWithNothingQueuedSendsBareFin_RFC9293_3_10_4) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  EXPECT_EQ(t.conn().send(t.now(), std::vector<uint8_t>(10, 'x')), 0u)
      << "no data may follow the FIN";
}

TEST(Close, FinWait2StillReceivesPeerData_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(10);
  t.inject(peer(5001, 1002));
  EXPECT_EQ(t.conn().state(), TcpState::kFinWait2);
  t.expect_nothing();
  t.at_ms(20);
  t.inject(peer(5001, 1002).data(100));
  t.expect_nothing();  // one segment: the ACK is delayed
  t.at_ms(60);
  t.expect(seg().ack_flag().seq(1002).ack(5101), "delayed ACK of the half-closed peer's data");
  EXPECT_EQ(t.app_recv().size(), 100u);
  t.inject(peer(5101, 1002).fin());
  t.expect(seg().ack_flag().seq(1002).ack(5102));
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
}

TEST(Close, PeerFinEntersCloseWaitAndRecvReturnsZeroAfterData_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).data(100).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5102), "the FIN is acknowledged at once");
  EXPECT_EQ(t.conn().state(), TcpState::kCloseWait);
  EXPECT_TRUE(saw_event(t, ConnectionEvent::kPeerClosed));
  EXPECT_FALSE(t.conn().read_eof()) << "the bytes before the FIN are still unread";
  EXPECT_EQ(t.app_recv().size(), 100u);
  EXPECT_TRUE(t.conn().read_eof());
  EXPECT_EQ(t.app_recv().size(), 0u);
  t.expect_nothing();
}

TEST(Close, CloseWaitCanStillSend_RFC9293_3_10_2) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  EXPECT_EQ(t.app_send(100), 100u);
  t.expect(seg().ack_flag().psh().seq(1001).ack(5002).data(100));
}

TEST(Close, LastAckToClosedWhenFinAcked_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  t.conn().shutdown(t.now());
  EXPECT_EQ(t.conn().state(), TcpState::kLastAck);
  t.expect(seg().ack_flag().fin().seq(1001).ack(5002));
  t.at_ms(10);
  t.inject(peer(5002, 1002));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), 0);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.expect_nothing();
}

TEST(Close, LastAckRetransmitsUnackedFin_RFC6298_5_4) {
  ScriptTest t;  // the handshake's RTT sample of 0 gives the 200 ms minimum RTO
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5002));
  t.at_ms(199);
  t.expect_nothing();
  t.at_ms(200);
  t.expect(seg().ack_flag().fin().seq(1001).ack(5002), "FIN retransmitted");
  EXPECT_EQ(t.conn().state(), TcpState::kLastAck);
}

TEST(Close, SimultaneousCloseThroughClosing_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(5);
  t.inject(peer(5001, 1001).fin());  // the peer's FIN crossed ours
  EXPECT_EQ(t.conn().state(), TcpState::kClosing);
  t.expect(seg().ack_flag().seq(1002).ack(5002));
  t.at_ms(10);
  t.inject(peer(5002, 1002));
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.expect_nothing();
  EXPECT_EQ(t.conn().next_deadline(), instant_from_us(2'010'000)) << "2 * MSL from 10 ms";
}

TEST(Close, FinAckingOurFinInFinWait1GoesStraightToTimeWait_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.inject(peer(5001, 1002).fin());
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.expect(seg().ack_flag().seq(1002).ack(5002));
}

TEST(Close, FinAfterGapWaitsForMissingData_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5051, 1001).data(50).fin());  // 5001..5051 is missing
  t.expect(seg().ack_flag().seq(1001).ack(5001), "out of order: a duplicate ACK");
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished) << "the FIN is not in sequence yet";
  t.inject(peer(5001, 1001).data(50));
  t.expect(seg().ack_flag().seq(1001).ack(5102), "the data, then the FIN");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kCloseWait);
  EXPECT_EQ(t.app_recv().size(), 100u);
  EXPECT_TRUE(t.conn().read_eof());
}

TEST(Close, FinOutsideWindowIgnoredAndAcked_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001 + 65535, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
}

// Leaves t in TIME-WAIT, entered at 20 ms (MSL is 1 s in the script config).
void enter_time_wait(ScriptTest& t) {
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(10);
  t.inject(peer(5001, 1002));
  ASSERT_EQ(t.conn().state(), TcpState::kFinWait2);
  t.at_ms(20);
  t.inject(peer(5001, 1002).fin());
  t.expect(seg().ack_flag().seq(1002).ack(5002));
  ASSERT_EQ(t.conn().state(), TcpState::kTimeWait);
}

TEST(Close, TimeWaitLastsTwoMslThenClosedWithNoDeadline_RFC9293_3_10_7_4) {
  ScriptTest t;
  enter_time_wait(t);
  EXPECT_EQ(t.conn().next_deadline(), instant_from_us(2'020'000));
  t.at_ms(2019);
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.at_ms(2020);
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), 0);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.expect_nothing();
}

TEST(Close, TimeWaitReAcksRetransmittedFinAndRestartsTwoMsl_RFC9293_3_10_7_4) {
  ScriptTest t;
  enter_time_wait(t);
  t.at_ms(500);
  t.inject(peer(5001, 1002).fin());  // our last ACK was lost
  t.expect(seg().ack_flag().seq(1002).ack(5002), "the retransmitted FIN is acknowledged");
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.at_ms(2020);
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait) << "the 2 MSL timeout restarted at 500 ms";
  t.at_ms(2499);
  EXPECT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.at_ms(2500);
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
  t.expect_nothing();
}

TEST(Close, AbortSendsRstAtSndNxt_RFC9293_3_10_5) {
  ScriptTest t;
  t.establish_active();
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.conn().abort(t.now());
  t.expect(seg().rst().seq(1101));
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt) << "the retransmission timer is gone too";
  EXPECT_EQ(t.conn().stats().resets_sent, 1u);
}

TEST(Close, AbortInSynSentSendsNothing_RFC9293_3_10_5) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.conn().abort(t.now());
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Close, CloseInSynSentDeletesTcb_RFC9293_3_10_4) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.conn().close(t.now());
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt) << "no more SYN retransmissions";
}

TEST(Close, AbortInLastAckSendsNoRst_RFC9293_3_10_5) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5002));
  ASSERT_EQ(t.conn().state(), TcpState::kLastAck);
  t.conn().abort(t.now());
  t.expect_nothing();  // "CLOSING, LAST-ACK, TIME-WAIT: respond with ok and delete the TCB"
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
}

TEST(Close, AbortInClosingSendsNoRst_RFC9293_3_10_5) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1002).ack(5002));
  ASSERT_EQ(t.conn().state(), TcpState::kClosing);
  t.conn().abort(t.now());
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
}

TEST(Close, AbortInTimeWaitSendsNoRst_RFC9293_3_10_5) {
  ScriptTest t;
  t.establish_active();
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.inject(peer(5001, 1002).fin());
  t.expect(seg().ack_flag().seq(1002).ack(5002));
  ASSERT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.conn().abort(t.now());
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Close, CloseWithUnreadDataSendsRst_RFC2525_2_17) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).data(100));
  t.expect_nothing();  // delayed ACK pending
  t.conn().close(t.now());
  t.expect(seg().rst().seq(1001), "RST, not FIN: the peer must learn its data was lost");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Close, CloseAfterReadingEverythingSendsFin_RFC9293_3_10_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer(5001, 1001).data(100));
  EXPECT_EQ(t.app_recv().size(), 100u);
  t.conn().close(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5101));
  EXPECT_EQ(t.conn().state(), TcpState::kFinWait1);
}

TEST(Close, DataArrivingAfterCloseSendsRst_RFC2525_2_17) {
  ScriptTest t;
  t.establish_active();
  t.conn().close(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5001));
  t.at_ms(10);
  t.inject(peer(5001, 1002).data(100));
  t.expect(seg().rst().seq(1002), "nobody will read these bytes");
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
}

// Leaves t CLOSED after an orderly close (LAST-ACK -> CLOSED), ports still bound.
void close_fully(ScriptTest& t) {
  t.establish_active();
  t.inject(peer(5001, 1001).fin());
  t.expect(seg().ack_flag().seq(1001).ack(5002));
  t.conn().shutdown(t.now());
  t.expect(seg().ack_flag().fin().seq(1001).ack(5002));
  t.inject(peer(5002, 1002));
  ASSERT_EQ(t.conn().state(), TcpState::kClosed);
  t.expect_nothing();
}

TEST(Close, SegmentWithAckToClosedGetsRstAtSegAck_RFC9293_3_10_7_1) {
  ScriptTest t;
  close_fully(t);
  t.inject(peer(5002, 1234).data(10));
  t.expect(seg().rst().seq(1234), "<SEQ=SEG.ACK><CTL=RST>");
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
}

TEST(Close, SegmentWithoutAckToClosedGetsRstAck_RFC9293_3_10_7_1) {
  ScriptTest t;
  close_fully(t);
  t.inject(seg().syn().seq(7000).data(10));
  t.expect(seg().rst().seq(0).ack(7011), "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN counts 1");
  t.expect_nothing();
}

TEST(Close, RstToClosedIsNotAnswered_RFC9293_3_10_7_1) {
  ScriptTest t;
  close_fully(t);
  t.inject(seg().rst().seq(5002));
  t.inject(seg().rst().seq(5002).ack(1002));
  t.expect_nothing();
}

// Runs make_reset_reply on a segment the peer sent, and parses what it wrote.
std::optional<Captured> reset_for(const SegmentHeader& h, std::vector<uint8_t> payload) {
  std::vector<uint8_t> wire(h.wire_size() + payload.size());
  emit_segment(h, payload, wire);
  ParseResult in = parse_segment(wire);
  EXPECT_TRUE(in.ok());
  std::array<uint8_t, 100> out{};
  size_t n = make_reset_reply(in.segment, out);
  if (n == 0) return std::nullopt;
  ParseResult r = parse_segment({out.data(), n});
  EXPECT_TRUE(r.ok()) << to_string(r.error);
  return Captured{r.segment.header, {r.segment.payload.begin(), r.segment.payload.end()}};
}

TEST(Close, MakeResetReplyForSegmentWithAck_RFC9293_3_10_7_1) {
  SegmentHeader h;
  h.src_port = 5000;
  h.dst_port = 4000;
  h.seq = SeqNum(5001);
  h.ack = SeqNum(1234);
  h.flags = flags::kAck | flags::kPsh;
  h.window = 100;
  std::optional<Captured> rst = reset_for(h, std::vector<uint8_t>(10, 'd'));
  ASSERT_TRUE(rst.has_value());
  EXPECT_EQ(rst->h.flags, flags::kRst);
  EXPECT_EQ(rst->h.seq.raw(), 1234u);
  EXPECT_EQ(rst->h.src_port, 4000);
  EXPECT_EQ(rst->h.dst_port, 5000);
  EXPECT_TRUE(rst->payload.empty());
}

TEST(Close, MakeResetReplyForSegmentWithoutAck_RFC9293_3_10_7_1) {
  SegmentHeader h;
  h.src_port = 5000;
  h.dst_port = 4000;
  h.seq = SeqNum(7000);
  h.flags = flags::kSyn;
  std::optional<Captured> rst = reset_for(h, std::vector<uint8_t>(10, 'd'));
  ASSERT_TRUE(rst.has_value());
  EXPECT_EQ(rst->h.flags, flags::kRst | flags::kAck);
  EXPECT_EQ(rst->h.seq.raw(), 0u);
  EXPECT_EQ(rst->h.ack.raw(), 7011u) << "SEG.SEQ + SEG.LEN, the SYN counting one";
  EXPECT_EQ(rst->h.src_port, 4000);
  EXPECT_EQ(rst->h.dst_port, 5000);
}

TEST(Close, MakeResetReplyIgnoresRst_RFC9293_3_10_7_1) {
  SegmentHeader h;
  h.src_port = 5000;
  h.dst_port = 4000;
  h.seq = SeqNum(7000);
  h.flags = flags::kRst;
  EXPECT_FALSE(reset_for(h, {}).has_value()) << "an RST is never answered";
  h.flags = flags::kRst | flags::kAck;
  h.ack = SeqNum(99);
  EXPECT_FALSE(reset_for(h, {}).has_value());
}

}  // namespace
}  // namespace tou::script
