// A connection made from a SYN cookie (RFC 4987 3.6, Connection::accept_cookie):
// the ACK that returns the cookie makes it ESTABLISHED with the options the
// cookie remembered, and data flows both ways.
#include "core/syn_cookie.hpp"

#include "script/script.hpp"

namespace tou::script {
namespace {

ConnectionConfig with_options() {
  ConnectionConfig c = ScriptTest::default_config();
  c.timestamps = true;
  c.window_scaling = true;
  c.sack = true;
  return c;
}

// The peer's segment as accept_cookie() sees it (ports filled in).
SynCookieOptions mss_only(uint16_t mss) {
  SynCookieOptions o;
  o.mss = mss;
  return o;
}

bool accept(ScriptTest& t, const SynCookieOptions& syn, const Seg& s) {
  SegmentHeader h = s.h;
  h.src_port = ScriptTest::kRemotePort;
  h.dst_port = ScriptTest::kLocalPort;
  bool ok = t.conn().accept_cookie(t.now(), t.params(), syn, Segment{h, s.payload});
  t.drain();
  return ok;
}

TEST(SynCookieOpen, AckEstablishesWithTheRememberedOptions_RFC4987_3_6) {
  ScriptTest t(with_options());
  t.at_ms(10);
  SynCookieOptions syn{.mss = 1432, .window_scale = 7, .sack_permitted = true, .timestamps = true};
  // TSecr: our SYN-ACK's TSval, sent at 9 ms (the TS clock is in microseconds).
  ASSERT_TRUE(accept(t, syn, seg().seq(5001).ack(1001).win(100).ts(7000, 9000)));
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  ConnectionInfo i = t.conn().info();
  EXPECT_EQ(i.snd_mss, 1432);
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_TRUE(i.sack);
  EXPECT_TRUE(i.timestamps);
  EXPECT_EQ(i.snd_wnd, 100u << 7) << "the ACK's window, scaled";
  EXPECT_EQ(i.srtt, std::chrono::milliseconds(1)) << "RTT from the timestamp echo";
  t.expect_nothing();
  auto event = t.conn().poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(*event, ConnectionEvent::kEstablished);

  // Data both ways.
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).ack(5001).data(100));
  t.inject(seg().seq(5001).ack(1101).win(100).ts(7100, 10000).data(50));
  EXPECT_EQ(t.app_recv().size(), 50u);
  EXPECT_EQ(t.conn().stats().bytes_acked, 100u);
}

TEST(SynCookieOpen, WithoutTimestampsOnlyTheMss_RFC4987_3_6) {
  ScriptTest t(with_options());
  t.at_ms(10);
  SynCookieOptions syn = mss_only(536);
  ASSERT_TRUE(accept(t, syn, seg().seq(5001).ack(1001).win(4000)));
  ConnectionInfo i = t.conn().info();
  EXPECT_EQ(i.state, TcpState::kEstablished);
  EXPECT_EQ(i.snd_mss, 536);
  EXPECT_EQ(i.snd_wscale, 0);
  EXPECT_EQ(i.rcv_wscale, 0) << "no scaling either way";
  EXPECT_FALSE(i.sack);
  EXPECT_FALSE(i.timestamps);
  EXPECT_EQ(i.srtt, Duration{0}) << "no RTT sample without a SYN-ACK send time";
}

TEST(SynCookieOpen, DataOnTheAckIsTaken_RFC4987_3_6) {
  ScriptTest t;
  t.at_ms(10);
  ASSERT_TRUE(accept(t, mss_only(1452), seg().seq(5001).ack(1001).win(65535).data(300)));
  EXPECT_EQ(t.conn().readable(), 300u);
  t.at_ms(60);
  t.expect(seg().ack_flag().seq(1001).ack(5301), "delayed ACK of the data");
}

TEST(SynCookieOpen, AckOfAnotherIssFailsClosed_RFC4987_3_6) {
  ScriptTest t;
  t.at_ms(10);
  EXPECT_FALSE(accept(t, mss_only(1452), seg().seq(5001).ack(1002).win(65535)));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace tou::script
