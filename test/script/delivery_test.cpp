// Delivery coalescing (Connection::delivery_due, ConnectionConfig::delivery_coalesce):
// bytes up to a PSH go to the program at once (RFC 9293 3.9.1.2); a stream's
// segments without PSH wait for a batch, the peer's FIN, or the coalescing
// time. The peer's data starts at RCV.NXT = 5001; our SND.NXT is 1001.
#include "script/script.hpp"

namespace tou::script {
namespace {

constexpr auto kCoalesce = std::chrono::milliseconds(1);

ConnectionConfig coalescing_config() {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = true;
  c.delivery_coalesce = kCoalesce;
  return c;
}

Seg peer_data(uint32_t seq, size_t len) {
  return seg().seq(seq).ack(1001).win(65535).data(len);
}

TEST(Delivery, WithoutCoalescingEveryReadableByteIsDue) {
  ScriptTest t;  // delivery_coalesce = 0
  t.establish_active();
  t.inject(peer_data(5001, 100));
  EXPECT_EQ(t.conn().readable(), 100u);
  EXPECT_TRUE(t.conn().delivery_due());
}

TEST(Delivery, DataWithoutPshWaitsForTheCoalescingTime) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.at_ms(10);
  t.inject(peer_data(5001, 1460));
  EXPECT_EQ(t.conn().readable(), 1460u);
  EXPECT_FALSE(t.conn().delivery_due());
  // The hold is a timer of the connection's: the engine wakes for it.
  ASSERT_TRUE(t.conn().next_deadline().has_value());
  EXPECT_LE(*t.conn().next_deadline(), t.now() + kCoalesce);
  t.advance_to(t.now() + kCoalesce);
  EXPECT_TRUE(t.conn().delivery_due());
}

TEST(Delivery, PshDeliversAtOnce_RFC9293_3_9_1_2) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 1460));
  EXPECT_FALSE(t.conn().delivery_due());
  t.inject(peer_data(6461, 200).psh());
  EXPECT_TRUE(t.conn().delivery_due()) << "the end of the peer's write";
  EXPECT_EQ(t.app_recv().size(), 1660u);
  // Read past the PSH: the next bytes wait for a PSH of their own.
  t.inject(peer_data(6661, 1460));
  EXPECT_FALSE(t.conn().delivery_due());
}

TEST(Delivery, ReadingUpToThePshLeavesLaterBytesWaiting) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 500).psh());
  t.inject(peer_data(5501, 1460));
  EXPECT_TRUE(t.conn().delivery_due());
  EXPECT_EQ(t.app_recv(400).size(), 400u);
  EXPECT_TRUE(t.conn().delivery_due()) << "100 bytes before the PSH are still unread";
  EXPECT_EQ(t.app_recv(100).size(), 100u);
  EXPECT_FALSE(t.conn().delivery_due()) << "only bytes after the PSH are left";
}

TEST(Delivery, APshAboveAHoleIsDueOnceTheHoleFills) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 1460));
  t.inject(peer_data(7921, 100).psh());  // 6461..7921 missing
  t.drain();
  EXPECT_FALSE(t.conn().delivery_due());
  t.inject(peer_data(6461, 1460));
  EXPECT_EQ(t.conn().readable(), 3020u);
  EXPECT_TRUE(t.conn().delivery_due());
}

TEST(Delivery, ABatchIsDueWithoutPsh) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  // A quarter of the 64 KiB receive buffer: the window never closes on held bytes.
  const size_t batch = t.conn().delivery_batch();
  EXPECT_EQ(batch, 16u * 1024);
  uint32_t seq = 5001;
  while (t.conn().readable() + 1460 < batch) {
    t.inject(peer_data(seq, 1460));
    seq += 1460;
  }
  EXPECT_FALSE(t.conn().delivery_due());
  t.inject(peer_data(seq, 1460));
  EXPECT_GE(t.conn().readable(), batch);
  EXPECT_TRUE(t.conn().delivery_due());
}

TEST(Delivery, TheFinIsDueAtOnce) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 300));
  EXPECT_FALSE(t.conn().delivery_due());
  t.inject(seg().seq(5301).ack(1001).win(65535).fin());
  EXPECT_TRUE(t.conn().delivery_due());
}

TEST(Delivery, TheTimerRestartsAfterEverythingWasRead) {
  ScriptTest t(coalescing_config());
  t.establish_active(seg().sack_ok());
  t.inject(peer_data(5001, 1000));
  t.advance_to(t.now() + kCoalesce);
  EXPECT_TRUE(t.conn().delivery_due());
  EXPECT_EQ(t.app_recv().size(), 1000u);
  t.at_ms(100);
  t.inject(peer_data(6001, 1000));
  EXPECT_FALSE(t.conn().delivery_due()) << "new bytes wait their own coalescing time";
  t.advance_to(t.now() + kCoalesce);
  EXPECT_TRUE(t.conn().delivery_due());
}

}  // namespace
}  // namespace tou::script
