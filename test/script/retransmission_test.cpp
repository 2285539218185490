// Retransmission: the timer (RFC 6298), fast retransmit (RFC 5681 3.2), NewReno
// partial ACKs (RFC 6582) and SACK-based loss detection (RFC 6675), one rule per
// test. Segments are 1460 bytes; after the handshake SND.NXT = 1001, RCV.NXT = 5001.
#include <cerrno>
#include <string>
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

using std::chrono::milliseconds;

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().seq(seq).ack(ack).win(65535);
}

// Active open whose SYN-ACK arrives rtt_ms after the SYN: one RTT sample of rtt_ms.
void handshake_with_rtt(ScriptTest& t, int64_t rtt_ms) {
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.at_ms(rtt_ms);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  ASSERT_EQ(t.conn().state(), TcpState::kEstablished);
}

Seg data_at(uint32_t seq, size_t len) {
  return seg().ack_flag().seq(seq).ack(5001).data(len);
}
// A retransmission of a segment that was the end of the queue when first sent:
// it keeps its PSH (RFC 9293 3.9.1.2), as Linux's retransmitted skbs do.
Seg pushed_at(uint32_t seq, size_t len) {
  return data_at(seq, len).psh();
}

TEST(Retransmission, RtoIsOneSecondBeforeAnySample_RFC6298_2_1) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  EXPECT_EQ(t.conn().info().rto, milliseconds(1000));
  t.at_ms(999);
  t.expect_nothing();
  t.at_ms(1000);
  t.expect(seg().syn().seq(1000));
}

TEST(Retransmission, RtoFromFirstSample_RFC6298_2_2) {
  ScriptTest t;
  handshake_with_rtt(t, 100);
  // SRTT = R = 100, RTTVAR = R/2 = 50, RTO = SRTT + 4 * RTTVAR = 300 ms.
  EXPECT_EQ(t.conn().info().srtt, milliseconds(100));
  EXPECT_EQ(t.conn().info().rttvar, milliseconds(50));
  EXPECT_EQ(t.conn().info().rto, milliseconds(300));
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(399);
  t.expect_nothing();
  t.at_ms(400);
  t.expect(pushed_at(1001, 100), "retransmitted one RTO (300 ms) after sending");
}

TEST(Retransmission, RtoDoublesOnEachExpiry_RFC6298_5_5) {
  ScriptTest t;
  handshake_with_rtt(t, 100);
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(400);
  t.expect(pushed_at(1001, 100), "after 300 ms");
  t.at_ms(999);
  t.expect_nothing();
  t.at_ms(1000);
  t.expect(pushed_at(1001, 100), "after 600 ms more");
  t.at_ms(2199);
  t.expect_nothing();
  t.at_ms(2200);
  t.expect(pushed_at(1001, 100), "after 1200 ms more");
  EXPECT_EQ(t.conn().stats().rto_timeouts, 3u);
}

TEST(Retransmission, RtoHasAFloor_RFC6298_2_4) {
  ConnectionConfig c = ScriptTest::default_config();
  c.rtt.min_rto = milliseconds(200);  // Linux's floor (RFC 6298 asks for 1 s, a SHOULD)
  c.rtt.floor = RttConfig::Floor::kRto;
  ScriptTest t(c);
  handshake_with_rtt(t, 10);  // computed RTO 10 + 4 * 5 = 30 ms
  EXPECT_EQ(t.conn().info().rto, milliseconds(200));
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(209);
  t.expect_nothing();
  t.at_ms(210);
  t.expect(pushed_at(1001, 100));
}

// The default, as Linux: min_rto floors the variance term, RTO = SRTT + max(4 RTTVAR, 200 ms).
TEST(Retransmission, RtoFloorIsAboveSrttAsLinux) {
  ScriptTest t;
  handshake_with_rtt(t, 10);  // 10 + max(4 * 5, 200) ms
  EXPECT_EQ(t.conn().info().rto, milliseconds(210));
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(219);
  t.expect_nothing();
  t.at_ms(220);
  t.expect(pushed_at(1001, 100));
}

TEST(Retransmission, RtoHasACeiling_RFC6298_2_5) {
  ConnectionConfig c = ScriptTest::default_config();
  c.rtt.max_rto = milliseconds(2000);
  ScriptTest t(c);
  handshake_with_rtt(t, 100);  // RTO 300 ms
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  // 300, 600, 1200, then 2000 (not 2400) and 2000 again.
  for (int64_t at : {400, 1000, 2200, 4200, 6200}) {
    t.at_ms(at - 1);
    t.expect_nothing();
    t.at_ms(at);
    t.expect(pushed_at(1001, 100));
  }
}

TEST(Retransmission, RtoFromLaterSamples_RFC6298_2_3) {
  ScriptTest t;
  handshake_with_rtt(t, 100);  // SRTT 100, RTTVAR 50
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(300);
  t.inject(peer(5001, 1101));  // R' = 200 ms
  // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5;
  // RTO = 112.5 + 4 * 62.5 = 362.5 ms.
  EXPECT_EQ(t.conn().info().rttvar, Duration{62'500});
  EXPECT_EQ(t.conn().info().srtt, Duration{112'500});
  EXPECT_EQ(t.conn().info().rto, Duration{362'500});
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt) << "RFC 6298 (5.2): all acked, timer off";
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1101).data(100));
  t.advance_to(instant_from_us(662'499));
  t.expect_nothing();
  t.advance_to(instant_from_us(662'500));
  t.expect(pushed_at(1101, 100));
}

TEST(Retransmission, KarnNoSampleFromRetransmittedSegment_RFC6298_3) {
  ScriptTest t;
  handshake_with_rtt(t, 100);  // RTO 300
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(400);
  t.expect(pushed_at(1001, 100));  // RTO backed off to 600
  t.at_ms(450);
  t.inject(peer(5001, 1101));  // ambiguous: 350 ms or 50 ms
  EXPECT_EQ(t.conn().info().srtt, milliseconds(100)) << "no RTT sample taken";
  EXPECT_EQ(t.conn().info().rttvar, milliseconds(50));
  // The backed-off RTO stays until a valid sample (RFC 6298 5.7 note).
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1101).data(100));
  t.at_ms(1049);
  t.expect_nothing();
  t.at_ms(1050);
  t.expect(pushed_at(1101, 100));
}

TEST(Retransmission, NewSampleEndsBackoff_RFC6298_5_7) {
  ScriptTest t;
  handshake_with_rtt(t, 100);  // SRTT 100, RTTVAR 50, RTO 300
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(400);
  t.expect(pushed_at(1001, 100));  // backed off to 600
  t.at_ms(450);
  t.inject(peer(5001, 1101));  // no sample (Karn)
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1101).data(100));
  t.at_ms(550);
  t.inject(peer(5001, 1201));  // R = 100 ms from a segment sent once
  // RTTVAR = 3/4 * 50 + 1/4 * 0 = 37.5; SRTT = 100; RTO = 100 + max(150, 200 floor) = 300 ms,
  // not backed off.
  EXPECT_EQ(t.conn().info().rto, milliseconds(300));
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1201).data(100));
  t.at_ms(849);
  t.expect_nothing();
  t.at_ms(850);
  t.expect(pushed_at(1201, 100), "the RTO collapsed back to the computed value");
}

TEST(Retransmission, AckOfNewDataRestartsTimer_RFC6298_5_3) {
  ScriptTest t;
  t.establish_active();  // RTT sample 0: RTO is the 200 ms floor
  t.conn().set_nodelay(true);
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(100);
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1101).data(100));
  t.at_ms(150);
  // First segment acked: restart for the second. R = 150 ms: SRTT 18.75, RTTVAR 37.5,
  // RTO = 18.75 + max(150, 200 floor) = 218.75 ms.
  t.inject(peer(5001, 1101));
  t.at_ms(349);
  t.expect_nothing();
  t.advance_to(instant_from_us(368'749));
  t.expect_nothing();
  t.advance_to(instant_from_us(368'750));
  t.expect(pushed_at(1101, 100), "150 ms + RTO 218.75, not 0 + 218.75");
}

TEST(Retransmission, TimeoutRetransmitsOneSegmentThenSlowStarts_RFC5681_3_1) {
  ScriptTest t;
  t.establish_active();
  t.app_send(3 * 1460);
  t.expect(data_at(1001, 1460));
  t.expect(data_at(2461, 1460));
  t.expect(seg().ack_flag().psh().seq(3921).data(1460));
  t.at_ms(200);
  t.expect(data_at(1001, 1460), "RFC 6298 (5.4): the earliest segment only");
  t.expect_nothing();  // loss window: cwnd = 1 SMSS
  EXPECT_EQ(t.conn().info().cwnd, 1460u);
  t.at_ms(250);
  t.inject(peer(5001, 2461));
  t.expect(data_at(2461, 1460), "cwnd 2 SMSS after one ACK");
  t.expect(pushed_at(3921, 1460));
  t.expect_nothing();
}

// Fast retransmit and recovery, for every congestion controller.
class FastRetransmit : public ::testing::TestWithParam<std::string> {
 protected:
  ConnectionConfig config() const {
    ConnectionConfig c = ScriptTest::default_config();
    c.congestion_control = GetParam();
    return c;
  }
};

std::vector<std::string> controller_names() {
  std::vector<std::string> names;
  for (std::string_view n : congestion_controller_names()) names.emplace_back(n);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllControllers, FastRetransmit, ::testing::ValuesIn(controller_names()),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(FastRetransmit, OnThirdDuplicateAck_RFC5681_3_2) {
  ScriptTest t(config());
  t.establish_active();
  t.send_flight(5);  // 1001, 2461, 3921, 5381, 6841; 2461 is lost
  t.at_ms(10);
  t.inject(peer(5001, 2461));
  t.expect_nothing();
  t.inject(peer(5001, 2461));
  t.inject(peer(5001, 2461));
  t.expect_nothing();  // two duplicates are not enough
  t.inject(peer(5001, 2461));
  t.expect(data_at(2461, 1460), "third duplicate ACK: retransmit SND.UNA at once");
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().dup_acks_received, 3u);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
  EXPECT_TRUE(t.conn().info().in_recovery);
}

TEST_P(FastRetransmit, PartialAckRetransmitsNextHole_RFC6582_3_2) {
  ScriptTest t(config());
  t.establish_active();
  t.send_flight(6);  // 1001 ... 8301, up to 9761; 2461 and 5381 are lost
  t.at_ms(10);
  t.inject(peer(5001, 2461));
  for (int i = 0; i < 3; ++i) t.inject(peer(5001, 2461));  // from 3921, 6841, 8301
  t.expect(data_at(2461, 1460));
  t.expect_nothing();
  t.at_ms(20);
  t.inject(peer(5001, 5381));  // partial ACK: below recover = 9761
  t.expect(data_at(5381, 1460), "step 4: the first unacknowledged segment, at once");
  t.expect_nothing();
  EXPECT_TRUE(t.conn().info().in_recovery);
  t.at_ms(30);
  t.inject(peer(5001, 9761));  // full ACK
  EXPECT_FALSE(t.conn().info().in_recovery);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
}

TEST(Retransmission, AckChangingWindowIsNotDuplicate_RFC5681_2) {
  ScriptTest t;
  t.establish_active();
  t.send_flight(5);
  t.at_ms(10);
  t.inject(peer(5001, 2461));
  // Same ACK number, but each carries a new window: window updates, not duplicates.
  t.inject(seg().seq(5001).ack(2461).win(65000));
  t.inject(seg().seq(5001).ack(2461).win(64000));
  t.inject(seg().seq(5001).ack(2461).win(63000));
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().dup_acks_received, 0u);
}

TEST(Retransmission, AckCarryingDataIsNotDuplicate_RFC5681_2) {
  ScriptTest t;
  t.establish_active();
  t.send_flight(5);
  t.at_ms(10);
  t.inject(peer(5001, 2461));
  t.inject(peer(5001, 2461).data(10));
  t.inject(peer(5011, 2461).data(10));
  t.inject(peer(5021, 2461).data(10));
  EXPECT_EQ(t.conn().stats().dup_acks_received, 0u);
  EXPECT_EQ(t.conn().stats().retransmitted_segments, 0u);
}

// SACK on both sides.
ConnectionConfig sack_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  c.tail_loss_probe = false;  // these tests isolate RFC 6675; TLP and RACK have their own
  c.rack = false;
  return c;
}

TEST(Retransmission, SackIsLostRetransmitsBeforeThreeDupAcks_RFC6675_4) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.send_flight(5);  // 1001 is lost
  t.at_ms(10);
  t.inject(peer(5001, 1001).sack(2461, 5381));  // 2 segments, 2920 bytes SACKed
  t.expect_nothing();  // IsLost(1001): not 3 SACKed segments nor > 2 * SMSS bytes above
  t.inject(peer(5001, 1001).sack(2461, 6841));  // 3 segments, 4380 bytes
  t.expect(data_at(1001, 1460), "IsLost holds on the second duplicate ACK");
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
}

TEST(Retransmission, SackSingleAckCoveringEnoughIsLoss_RFC6675_5) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.send_flight(5);
  t.at_ms(10);
  t.inject(peer(5001, 1001).sack(2461, 8301));  // one ACK, everything but 1001 SACKed
  t.expect(data_at(1001, 1460));
  t.expect_nothing();
}

TEST(Retransmission, SackRetransmitsEveryLostHole_RFC6675_5) {
  ScriptTest t(sack_config());
  t.establish_active(seg().sack_ok());
  t.send_flight(6);  // 1001 and 3921 are lost
  t.at_ms(10);
  t.inject(peer(5001, 1001).sack(5381, 9761).sack(2461, 3921));
  t.expect(data_at(1001, 1460), "4 SACKed segments above it");
  t.expect(data_at(3921, 1460), "3 SACKed segments above it");
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().sack_blocks_received, 2u);
}

TEST(Retransmission, UserTimeoutGivesEtimedout_RFC9293_3_8_3) {
  ConnectionConfig c = ScriptTest::default_config();
  c.user_timeout = milliseconds(2000);
  ScriptTest t(c);
  t.establish_active();  // RTO 200 ms
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(1999);
  for (int i = 0; i < 3; ++i) t.expect(pushed_at(1001, 100));  // at 200, 600, 1400
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(2000);  // the next backoff would be at 3000: the user timeout comes first
  t.expect(seg().rst().seq(1101));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
  EXPECT_EQ(t.conn().next_deadline(), std::nullopt);
}

TEST(Retransmission, MaxRetransmissionsGivesEtimedout_RFC9293_3_8_3) {
  ConnectionConfig c = ScriptTest::default_config();
  c.max_retransmissions = 3;
  ScriptTest t(c);
  t.establish_active();  // RTO 200 ms
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(2999);
  for (int i = 0; i < 3; ++i) t.expect(pushed_at(1001, 100));  // at 200, 600, 1400
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  t.at_ms(3000);
  t.expect(seg().rst().seq(1101));
  EXPECT_EQ(t.conn().state(), TcpState::kClosed);
  EXPECT_EQ(t.conn().error(), ETIMEDOUT);
  EXPECT_EQ(t.conn().stats().rto_timeouts, 3u);
}

TEST(Retransmission, RtoIsThreeSecondsAfterSynTimeout_RFC6298_5_7) {
  ScriptTest t;
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000));
  t.at_ms(1000);
  t.expect(seg().syn().seq(1000));
  t.at_ms(1100);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001));
  // No sample (Karn), and the SYN timed out: "the RTO MUST be re-initialized to 3 seconds
  // when data transmission begins".
  t.app_send(100);
  t.expect(seg().ack_flag().psh().seq(1001).data(100));
  t.at_ms(4099);
  t.expect_nothing();
  t.at_ms(4100);
  t.expect(pushed_at(1001, 100));
}

}  // namespace
}  // namespace tou::script

namespace tou::script {
namespace {

ConnectionConfig tlp_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  return c;
}

// Establishes with a 100 ms RTT sample, so SRTT = 100 ms and PTO = 200 ms.
void establish_with_rtt(ScriptTest& t) {
  t.conn().connect(t.now(), t.params());
  t.take();
  t.at_ms(100);
  t.inject(seg().syn().seq(5000).ack(1001).mss(1460).win(65535).sack_ok());
  t.expect(seg().ack_flag().seq(1001).ack(5001));
}

TEST(TailLossProbe, ProbeRetransmitsLastSegmentAfterTwoSrtt_RFC8985_7) {
  ScriptTest t(tlp_config());
  establish_with_rtt(t);
  t.send_flight(3);
  t.at_ms(299);
  t.expect_nothing();
  t.at_ms(300);  // PTO = 2 * SRTT after the last send at 100 ms
  t.expect(seg().ack_flag().psh().seq(1001 + 2 * 1460).data(1460), "the last segment again");
  // One probe per tail; the RTO (SRTT + 4 * RTTVAR = 300 ms, restarted by the probe) is next.
  t.at_ms(599);
  t.expect_nothing();
  t.at_ms(600);
  t.expect(seg().ack_flag().seq(1001).data(1460), "RTO retransmits the first segment");
  EXPECT_EQ(t.conn().stats().tail_loss_probes, 1u);
  EXPECT_EQ(t.conn().stats().rto_timeouts, 1u);
}

TEST(TailLossProbe, ProbeSendsNewDataWhenCwndHoldsIt_RFC8985_7_3) {
  ScriptTest t(tlp_config());
  establish_with_rtt(t);
  t.app_send(11 * 1460);  // the initial window is 10 segments
  for (int i = 0; i < 10; ++i) t.take();
  t.expect_nothing();
  t.at_ms(300);
  t.expect(seg().ack_flag().psh().seq(1001 + 10 * 1460).data(1460), "new data past cwnd");
}

TEST(TailLossProbe, AckOfTailCancelsProbe_RFC8985_7_2) {
  ScriptTest t(tlp_config());
  establish_with_rtt(t);
  t.app_send(1460);
  t.take();
  t.at_ms(150);
  t.inject(seg().seq(5001).ack(2461).win(65535));
  t.at_ms(2000);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().tail_loss_probes, 0u);
}

}  // namespace
}  // namespace tou::script

namespace tou::script {
namespace {

// 1001 is lost, then its retransmission at 200 ms is lost too; RACK finds that
// from the SACK of new data sent after it. The path has shown no reordering, so in
// recovery reo_wnd is 0 (RFC 8985 6.2 step 4): 1001 goes again at 300 ms, one RACK.rtt
// after its retransmission, not min_RTT / 4 later. The RTO (SRTT + 4 * RTTVAR = 300 ms)
// was armed by the flight at 100 ms.
void lose_a_retransmission(ScriptTest& t) {
  establish_with_rtt(t);  // SRTT = min RTT = 100 ms
  t.send_flight(5);       // 1001 is lost
  t.at_ms(200);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2461, 8301));
  t.expect(seg().ack_flag().seq(1001).data(1460), "the hole, retransmitted");
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u);
  // The retransmission is lost too; new data sent after it is SACKed.
  t.app_send(1460);
  t.expect(seg().ack_flag().psh().seq(8301).data(1460));
  t.at_ms(300);
  // 9761's send (200 ms) follows the retransmission (200 ms, lower sequence), and
  // RACK.rtt + reo_wnd = 100 + 0 ms have passed since the retransmission left.
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2461, 9761));
  t.expect(seg().ack_flag().seq(1001).data(1460), "the lost retransmission, again");
}

ConnectionConfig rack_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  c.tail_loss_probe = false;
  return c;
}

TEST(Rack, LostRetransmissionDetectedBySackOfLaterSend_RFC8985_6_2) {
  ScriptTest t(rack_config());
  lose_a_retransmission(t);
  EXPECT_GE(t.conn().stats().rack_losses, 1u);
  EXPECT_EQ(t.conn().stats().rto_timeouts, 0u);
}

// RFC 6298 (5.1) with Linux's tcp_xmit_retransmit_queue: each new transmission of
// SND.UNA's segment restarts the timer, so the RTO does not fire at 400 ms (before
// the retransmission of 300 ms could be acknowledged) but one RTO after it.
TEST(Rack, RetransmittingSndUnaRestartsTheTimer_RFC6298_5_1) {
  ScriptTest t(rack_config());
  lose_a_retransmission(t);
  EXPECT_EQ(t.conn().stats().rto_restarts_on_head_retransmit, 2u);  // at 200 and 300 ms
  t.at_ms(400);
  t.expect_nothing();
  t.at_ms(599);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().rto_timeouts, 0u);
  t.at_ms(600);
  t.expect(seg().ack_flag().seq(1001).data(1460), "300 ms + RTO 300");
  EXPECT_EQ(t.conn().stats().rto_timeouts, 1u);
}

// Once the path has reordered (1001, sent once, arrives after 2461: RFC 8985 6.2 step 3),
// recovery keeps reo_wnd = min_RTT / 4: a lost retransmission waits for the reordering
// timer (6.3) instead of going at once.
TEST(Rack, ReorderingSeenKeepsTheWindowInRecovery_RFC8985_6_2) {
  ScriptTest t(rack_config());
  establish_with_rtt(t);  // SRTT = min RTT = 100 ms
  t.send_flight(2);       // 1001, 2461 at 100 ms
  t.at_ms(200);
  t.inject(seg().seq(5001).ack(1001).win(65535).sack(2461, 3921));
  t.at_ms(210);
  t.inject(seg().seq(5001).ack(3921).win(65535));  // 1001 came late: reordering
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().fast_recoveries, 0u);
  t.send_flight(5);  // 3921 .. 11221 at 210 ms; 3921 is lost
  t.at_ms(310);
  t.inject(seg().seq(5001).ack(3921).win(65535).sack(5381, 11221));
  t.expect(seg().ack_flag().seq(3921).data(1460), "the hole, retransmitted");
  t.app_send(1460);
  t.expect(seg().ack_flag().psh().seq(11221).data(1460));
  t.at_ms(410);  // the retransmission (310 ms) is lost too; 11221, sent after it, arrived
  t.inject(seg().seq(5001).ack(3921).win(65535).sack(5381, 12681));
  t.expect_nothing();
  t.at_ms(434);
  t.expect_nothing();
  t.at_ms(435);  // 310 + RACK.rtt 100 + reo_wnd 25
  t.expect(seg().ack_flag().seq(3921).data(1460), "the lost retransmission, again");
  EXPECT_EQ(t.conn().stats().rto_timeouts, 0u);
}

}  // namespace
}  // namespace tou::script
