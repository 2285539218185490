// RFC 7661 (congestion window validation), for every controller, through a connection:
// while the application offers less than the window, ACKs do not validate a larger one,
// so a burst after an application-limited period stays bounded. A sender that fills the
// window grows it as usual (the same harness, so the first test can fail).
// After the handshake SND.NXT = 1001; segments are 1460 bytes; the peer ACKs 50 ms after
// each round is sent.
#include <string>

#include "script/script.hpp"

namespace tou::script {
namespace {

class CwndValidation : public ::testing::TestWithParam<std::string> {
 protected:
  ScriptTest make() {
    ConnectionConfig c = ScriptTest::default_config();
    c.congestion_control = GetParam();
    c.nodelay = true;
    c.send_buffer = 1 << 20;
    return ScriptTest(c);
  }
  // One round trip: `bytes` from the application (0: as much as the window takes), every
  // segment taken off the wire, then one ACK of everything 50 ms later.
  static void round(ScriptTest& t, int n, size_t bytes) {
    t.at_ms(n * 100);
    t.app_send(bytes == 0 ? size_t{t.conn().info().cwnd} : bytes);
    while (t.pending() > 0) t.take();
    t.at_ms(n * 100 + 50);
    const uint32_t acked = 1001 + static_cast<uint32_t>(t.conn().stats().bytes_sent);
    t.inject(seg().seq(5001).ack(acked).win(65535));
  }
};

INSTANTIATE_TEST_SUITE_P(AllControllers, CwndValidation, ::testing::ValuesIn(all_controllers()),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(CwndValidation, AnApplicationLimitedSenderDoesNotGrowTheWindow_RFC7661) {
  ScriptTest t = make();
  t.establish_active();
  const uint32_t initial = t.conn().info().cwnd;
  for (int n = 1; n <= 200; ++n) round(t, n, 2 * 1460);  // a fifth of the initial window
  EXPECT_EQ(t.conn().stats().bytes_acked, 200u * 2 * 1460);
  EXPECT_EQ(t.conn().stats().retransmitted_segments, 0u);
  EXPECT_LE(t.conn().info().cwnd, initial);
}

TEST_P(CwndValidation, ACwndLimitedSenderGrowsTheWindow) {
  ScriptTest t = make();
  t.establish_active();
  const uint32_t initial = t.conn().info().cwnd;
  for (int n = 1; n <= 5; ++n) round(t, n, 0);
  EXPECT_EQ(t.conn().stats().retransmitted_segments, 0u);
  EXPECT_GT(t.conn().info().cwnd, initial);
}

}  // namespace
}  // namespace tou::script
