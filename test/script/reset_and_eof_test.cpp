// What the program can still read once the peer has finished: bytes that
// arrived just before a reset (RFC 9293 3.10.7.4 leaves them to the user; Linux
// lets recv() return them, then reports ECONNRESET), and no window updates
// once the peer's FIN has arrived (RFC 9293 3.10.7.4: after the FIN no more
// text is accepted, so a larger window tells the peer nothing). The peer's
// data starts at RCV.NXT = 5001; our SND.NXT is 1001.
#include "script/script.hpp"

namespace tou::script {
namespace {

Seg peer_data(uint32_t seq, size_t len, uint8_t fill = 'x') {
  return seg().seq(seq).ack(1001).win(65535).data(len, fill);
}

std::vector<ConnectionEvent> events(Connection& c) {
  std::vector<ConnectionEvent> out;
  while (std::optional<ConnectionEvent> e = c.poll_event()) out.push_back(*e);
  return out;
}

bool has(const std::vector<ConnectionEvent>& v, ConnectionEvent e) {
  return std::find(v.begin(), v.end(), e) != v.end();
}

// Data and the RST right behind it, processed in one batch (no turn of the
// caller in between): the data stays readable, the error is reported too.
TEST(ResetAndEof, DataThenRstInOneBatchStaysReadable_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  events(t.conn());
  SegmentHeader data;
  std::vector<uint8_t> payload(1000, 'd');
  data.src_port = ScriptTest::kRemotePort;
  data.dst_port = ScriptTest::kLocalPort;
  data.seq = SeqNum(5001);
  data.ack = SeqNum(1001);
  data.flags = flags::kAck | flags::kPsh;
  data.window = 65535;
  std::vector<uint8_t> d1(data.wire_size() + payload.size());
  emit_segment(data, payload, d1);
  SegmentHeader rst = data;
  rst.seq = SeqNum(6001);
  rst.flags = flags::kRst;
  std::vector<uint8_t> d2(rst.wire_size());
  emit_segment(rst, {}, d2);
  t.conn().on_datagram(t.now(), d1);
  t.conn().on_datagram(t.now(), d2);

  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ECONNRESET);
  std::vector<ConnectionEvent> ev = events(t.conn());
  EXPECT_TRUE(has(ev, ConnectionEvent::kReadable)) << "the data was announced";
  EXPECT_TRUE(has(ev, ConnectionEvent::kError));
  ASSERT_EQ(t.conn().readable(), 1000u) << "the bytes before the RST are kept";
  std::vector<uint8_t> got = t.app_recv();
  EXPECT_EQ(got, payload);
  EXPECT_FALSE(t.conn().read_eof()) << "a reset is not an end-of-file";
  t.expect_nothing();  // CLOSED: no ACK, no window update for the read
}

// The same with the RST in sequence but the data still out of order: the
// bytes past a hole were never deliverable and go with the connection.
TEST(ResetAndEof, OutOfOrderDataBeforeRstIsNotReadable_RFC9293_3_10_7_4) {
  ScriptTest t;
  t.establish_active();
  t.inject(peer_data(5001, 500, 'a'));
  t.inject(peer_data(6001, 500, 'c'));  // 5501..6001 missing
  t.drain();
  while (t.pending() > 0) t.take();
  t.inject(seg().rst().seq(5501));
  EXPECT_EQ(t.conn().error(), ECONNRESET);
  EXPECT_EQ(t.app_recv().size(), 500u) << "only the in-order bytes";
}

// A 4096-byte receive buffer filled by the peer, its last segment carrying FIN.
ConnectionConfig small_buffer_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.receive_buffer = 4096;
  return c;
}

TEST(ResetAndEof, NoWindowUpdateInCloseWait_RFC9293_3_10_7_4) {
  ScriptTest t(small_buffer_config());
  t.establish_active();
  t.inject(peer_data(5001, 1460));
  t.inject(peer_data(6461, 1460));
  t.expect(seg().ack_flag().ack(7921).win(1176));
  t.inject(peer_data(7921, 1176).fin());
  t.expect(seg().ack_flag().ack(9098).win(0), "the FIN is acknowledged at once");
  ASSERT_EQ(t.conn().state(), TcpState::kCloseWait);
  t.at_ms(100);
  EXPECT_EQ(t.app_recv().size(), 4096u);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().window_updates, 0u);
  EXPECT_TRUE(t.conn().read_eof());
}

TEST(ResetAndEof, NoWindowUpdateInTimeWait_RFC9293_3_10_7_4) {
  ScriptTest t(small_buffer_config());
  t.establish_active();
  t.conn().shutdown(t.now());
  t.drain();
  t.expect(seg().fin().ack_flag().seq(1001).ack(5001));
  t.inject(seg().seq(5001).ack(1002).win(65535));  // FIN-WAIT-2
  ASSERT_EQ(t.conn().state(), TcpState::kFinWait2);
  t.inject(seg().seq(5001).ack(1002).win(65535).data(1460));
  t.inject(seg().seq(6461).ack(1002).win(65535).data(1460));
  t.expect(seg().ack_flag().ack(7921).win(1176));
  t.inject(seg().seq(7921).ack(1002).win(65535).data(1176).fin());
  t.expect(seg().ack_flag().ack(9098).win(0));
  ASSERT_EQ(t.conn().state(), TcpState::kTimeWait);
  t.at_ms(100);
  EXPECT_EQ(t.app_recv().size(), 4096u);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().window_updates, 0u);
}

// A receive buffer smaller than two segments (a small SO_RCVBUF on a path
// with a large MSS): reading half of it after a zero window must announce the
// window, since the peer cannot know (RFC 9293 3.8.6.2.2 moves the edge by
// min(RCV.BUFF / 2, MSS), the buffer's half here).
TEST(ResetAndEof, WindowUpdateWhenBufferIsBelowTwoSegments_RFC9293_3_8_6_2_2) {
  ConnectionConfig c = ScriptTest::default_config();
  c.receive_buffer = 2000;
  ScriptTest t(c);
  t.establish_active();
  t.inject(peer_data(5001, 1460));
  t.inject(peer_data(6461, 540));
  t.at_ms(40);
  t.expect(seg().ack_flag().ack(7001).win(0), "full");
  t.at_ms(100);
  EXPECT_EQ(t.app_recv(1000).size(), 1000u);
  t.expect(seg().ack_flag().ack(7001).win(1000), "half the buffer is free again");
  EXPECT_EQ(t.conn().stats().window_updates, 1u);
}

}  // namespace
}  // namespace tou::script
