// Reordering resilience, one rule per test: the receiver reports duplicates as D-SACK
// blocks (RFC 2883 4.1.1, 4.1.2); the sender undoes a window reduction whose every
// retransmission was D-SACKed (RFC 3708 with D-SACK), for every controller; and RACK's
// reordering window grows with D-SACKs (RFC 8985 6.2 step 4).
// After the handshake SND.NXT = 1001, RCV.NXT = 5001; segments are 1460 bytes.
#include <string>
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

ConnectionConfig sack_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  c.tail_loss_probe = false;
  return c;
}

Seg peer_data(uint32_t seq, size_t len) {
  return seg().ack_flag().seq(seq).ack(1001).win(65535).data(len);
}

TEST(Dsack, DuplicateBelowRcvNxtIsTheFirstBlock_RFC2883_4_1_1) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 1000));
  t.inject(peer_data(6001, 1000));
  t.expect(seg().ack_flag().ack(7001), "every second segment");
  EXPECT_EQ(t.conn().stats().dsacks_sent, 0u);
  t.inject(peer_data(5001, 1000));  // a duplicate (a spurious retransmission, say)
  t.expect(seg().ack_flag().seq(1001).ack(7001).sack(5001, 6001), "D-SACK of the duplicate");
  EXPECT_EQ(t.conn().stats().dsacks_sent, 1u);
  // Reported once: the next ACK carries no block.
  t.inject(peer_data(7001, 1000));
  t.inject(peer_data(8001, 1000));
  Captured next = t.take();
  EXPECT_EQ(next.h.options.sack_count, 0u) << next.str();
}

TEST(Dsack, DuplicateAboveRcvNxtIsFollowedByItsBlock_RFC2883_4_1_2) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(7001, 1000));  // 5001..7001 missing
  t.expect(seg().ack_flag().ack(5001).sack(7001, 8001), "out of order: SACK");
  t.inject(peer_data(7001, 1000));
  t.expect(seg().ack_flag().ack(5001).sack(7001, 8001).sack(7001, 8001),
           "the D-SACK first, then the block that holds it");
  EXPECT_EQ(t.conn().stats().dsacks_sent, 1u);
}

// A retransmission that a reordering path delivers after newer segments carries an older
// TSval than TS.Recent: PAWS drops it (RFC 7323 5.3), and its data, below RCV.NXT, is still
// reported as a duplicate (as Linux's tcp_send_dupack), or the sender never learns that
// its retransmission was spurious and never undoes the reduction.
TEST(Dsack, DuplicateDroppedByPawsIsStillReported_RFC2883_4_1_1) {
  ConnectionConfig c = sack_config();
  c.timestamps = true;
  ScriptTest t(c);
  t.establish_active(seg().sack_ok().ts(1000, 1));
  t.inject(peer_data(5001, 1000).ts(1010, 1));
  t.inject(peer_data(6001, 1000).ts(1020, 1));
  t.expect(seg().ack_flag().ack(7001), "every second segment");
  t.inject(peer_data(5001, 1000).ts(1005, 1));  // older than TS.Recent (1010)
  EXPECT_EQ(t.conn().stats().dropped_paws, 1u);
  t.expect(seg().ack_flag().seq(1001).ack(7001).sack(5001, 6001), "D-SACK of the duplicate");
  EXPECT_EQ(t.conn().stats().dsacks_sent, 1u);
}

// For every controller: a fast retransmit caused by reordering is undone once the
// retransmission is reported as a duplicate.
class SpuriousUndo : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(AllControllers, SpuriousUndo, ::testing::ValuesIn(all_controllers()),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(SpuriousUndo, AllRetransmissionsDsackedRestoresTheWindow_RFC3708) {
  ConnectionConfig c = sack_config();
  c.congestion_control = GetParam();
  ScriptTest t(c);
  t.establish_active(seg().sack_ok());
  t.send_flight(5);  // 1001 .. 8301; 1001 is only delayed
  const uint32_t before = t.conn().info().cwnd;
  t.at_ms(50);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2461, 8301));
  t.expect(seg().ack_flag().seq(1001).data(1460), "fast retransmit: 3 segments SACKed above");
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
  EXPECT_LT(t.conn().info().cwnd, before);
  // The original arrives: a full ACK ends the recovery...
  t.at_ms(55);
  t.inject(seg().seq(5001).ack(8301).win(65535));
  // ...and the retransmission arrives as a duplicate: D-SACK below the cumulative ACK.
  t.at_ms(60);
  t.inject(seg().seq(5001).ack(8301).win(65535).sack(1001, 2461));
  EXPECT_EQ(t.conn().stats().dsacks_received, 1u);
  EXPECT_EQ(t.conn().stats().spurious_undos, 1u);
  EXPECT_GE(t.conn().info().cwnd, before) << "the reduction is undone";
  EXPECT_FALSE(t.conn().info().in_recovery);
}

TEST_P(SpuriousUndo, AReductionWithARetransmissionNotDsackedStays_RFC3708) {
  ConnectionConfig c = sack_config();
  c.congestion_control = GetParam();
  ScriptTest t(c);
  t.establish_active(seg().sack_ok());
  t.send_flight(6);  // 1001 .. 9761
  const uint32_t before = t.conn().info().cwnd;
  t.at_ms(50);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2461, 8301));
  t.expect(seg().ack_flag().seq(1001).data(1460));
  // A D-SACK that is not for this episode's data (below its start) changes nothing.
  t.at_ms(55);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(1, 1001).sack(2461, 9761));
  EXPECT_EQ(t.conn().stats().dsacks_received, 1u);
  EXPECT_EQ(t.conn().stats().spurious_undos, 0u);
  EXPECT_LT(t.conn().info().cwnd, before);
}

// RFC 3522 (Eifel detection), as Linux's tcp_try_undo_recovery: the ACK that ends the
// recovery echoes the TSval of the original, older than the retransmission's, so the
// original filled the hole and the reduction is undone at once, without waiting for a
// D-SACK (which a reordered retransmission may never earn). An echo of the
// retransmission's TSval undoes nothing.
uint32_t tsval_of(const Captured& c) {
  return c.h.options.timestamps ? c.h.options.timestamps->value : 0;
}

struct EifelRun {
  uint32_t cwnd_before = 0;
  uint32_t original_ts = 0;
  uint32_t retransmission_ts = 0;
};

EifelRun start_eifel_recovery(ScriptTest& t) {
  EifelRun r;
  t.establish_active(seg().sack_ok().ts(1000, 1));
  t.at_ms(10);
  t.app_send(5 * 1448);  // 1448-byte segments beside timestamps: 1001 .. 8241; 1001 is delayed
  r.original_ts = tsval_of(t.take());
  for (int i = 0; i < 4; ++i) t.take();
  r.cwnd_before = t.conn().info().cwnd;
  t.at_ms(50);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2449, 8241).ts(1050, r.original_ts));
  Captured rx = t.take();
  EXPECT_EQ(rx.h.seq, SeqNum(1001)) << rx.str();
  r.retransmission_ts = tsval_of(rx);
  EXPECT_LT(r.original_ts, r.retransmission_ts);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
  EXPECT_LT(t.conn().info().cwnd, r.cwnd_before);
  return r;
}

ConnectionConfig timestamps_config(const std::string& cc) {
  ConnectionConfig c = sack_config();
  c.timestamps = true;
  c.congestion_control = cc;
  return c;
}

TEST_P(SpuriousUndo, FullAckEchoingTheOriginalRestoresTheWindow_RFC3522) {
  ScriptTest t(timestamps_config(GetParam()));
  const EifelRun r = start_eifel_recovery(t);
  t.at_ms(55);
  t.inject(seg().seq(5001).ack(8241).win(65535).ts(1055, r.original_ts));
  EXPECT_EQ(t.conn().stats().spurious_undos, 1u);
  EXPECT_EQ(t.conn().stats().spurious_undos_by_timestamp, 1u);
  EXPECT_GE(t.conn().info().cwnd, r.cwnd_before) << "the reduction is undone";
  EXPECT_FALSE(t.conn().info().in_recovery);
  // The retransmission's D-SACK that follows undoes nothing more.
  t.at_ms(60);
  t.inject(seg().seq(5001).ack(8241).win(65535).sack(1001, 2449).ts(1060, r.retransmission_ts));
  EXPECT_EQ(t.conn().stats().spurious_undos, 1u);
}

TEST_P(SpuriousUndo, FullAckEchoingTheRetransmissionKeepsTheReduction_RFC3522) {
  ScriptTest t(timestamps_config(GetParam()));
  const EifelRun r = start_eifel_recovery(t);
  t.at_ms(55);
  t.inject(seg().seq(5001).ack(8241).win(65535).ts(1055, r.retransmission_ts));
  EXPECT_FALSE(t.conn().info().in_recovery);
  EXPECT_EQ(t.conn().stats().spurious_undos, 0u);
  EXPECT_EQ(t.conn().stats().spurious_undos_by_timestamp, 0u);
  // (Loss-based controllers keep the reduced window; BBR's comes from its model.)
  if (GetParam() != "bbr") {
    EXPECT_LT(t.conn().info().cwnd, r.cwnd_before);
  }
}

// RFC 8985 6.2 step 4: after a D-SACK, reo_wnd = min(2 * min_RTT / 4, SRTT).
TEST(Dsack, DsackWidensRackReorderingWindow_RFC8985_6_2) {
  ConnectionConfig c = sack_config();
  ScriptTest t(c);
  t.conn().connect(t.now(), t.params());
  t.take();
  t.at_ms(100);  // SRTT = min RTT = 100 ms: reo_wnd 25 ms, 50 ms after one D-SACK
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).sack_ok());
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.send_flight(1);  // 1001 at 100 ms
  t.at_ms(200);
  t.inject(seg().seq(5001).ack(2461).win(65535));
  t.at_ms(210);
  t.inject(seg().seq(5001).ack(2461).win(65535).sack(1001, 2461));  // a D-SACK
  EXPECT_EQ(t.conn().stats().dsacks_received, 1u);
  t.send_flight(2);  // 2461 and 3921 at 210 ms
  t.at_ms(310);
  t.inject(seg().seq(5001).ack(2461).win(65535).sack(3921, 5381));
  // RACK.rtt = 100 ms: 2461 is lost 100 + reo_wnd after it was sent. With reo_wnd still
  // 25 ms that would be 335 ms; the D-SACK made it 50 ms: 360 ms.
  t.at_ms(359);
  t.expect_nothing();
  t.at_ms(360);
  t.expect(seg().ack_flag().seq(2461).data(1460), "RACK: lost after RACK.rtt + 50 ms");
}

// RFC 8985 6.2 (Linux raises tp->reordering on a D-SACK): once the path has shown
// reordering, three SACKed segments above a hole no longer make it lost at once
// (RFC 6675's DupThresh); RACK's timer decides, RACK.rtt + reo_wnd after it was sent.
TEST(Dsack, AfterADsackDupThreshGivesWayToRack_RFC8985_6_2) {
  ScriptTest t(sack_config());
  t.conn().connect(t.now(), t.params());
  t.take();
  t.at_ms(100);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).sack_ok());
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  t.send_flight(1);
  t.at_ms(200);
  t.inject(seg().seq(5001).ack(2461).win(65535));
  t.at_ms(210);
  t.inject(seg().seq(5001).ack(2461).win(65535).sack(1001, 2461));  // a D-SACK
  t.send_flight(5);  // 2461 .. 8301 at 210 ms; 2461 is delayed
  t.at_ms(310);
  t.inject(seg().seq(5001).ack(2461).win(65535).sack(3921, 9761));  // 4 segments above
  t.expect_nothing();  // no DupThresh fast retransmit on a path known to reorder
  EXPECT_EQ(t.conn().stats().fast_recoveries, 0u);
  t.at_ms(359);
  t.expect_nothing();
  t.at_ms(360);  // RACK: 100 ms + reo_wnd 50 ms after 210 ms
  t.expect(seg().ack_flag().seq(2461).data(1460), "RACK marks it lost");
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
}

}  // namespace
}  // namespace tou::script
