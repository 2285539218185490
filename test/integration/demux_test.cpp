// The listener's demultiplexer seen from the wire: hand-made segments from
// plain UDP sockets on loopback (SYN, duplicate SYN, a stray ACK, a full
// backlog), and what comes back.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <optional>

#include "integration/raw_peer.hpp"
#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {
namespace {

TEST(Demux, SynOpensOneHalfOpenConnectionAndDuplicatesReachIt) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(ls);
  RawPeer peer(port);
  peer.send(tou::flags::kSyn, 1000);
  auto synack = peer.receive(2000);
  ASSERT_TRUE(synack);
  EXPECT_EQ(synack->header.flags, tou::flags::kSyn | tou::flags::kAck);
  EXPECT_EQ(synack->header.ack, tou::SeqNum(1001));
  EXPECT_EQ(synack->from_port, port);  // the connection answers from the listener's port
  // The same SYN again: the existing half-open connection answers, no second one.
  peer.send(tou::flags::kSyn, 1000);
  auto again = peer.receive(2000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header.flags, tou::flags::kSyn | tou::flags::kAck);
  EXPECT_EQ(again->header.seq, synack->header.seq);
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.syn_received, 1u);
  EXPECT_EQ(info.half_open, 1u);
  // Completing the handshake makes it ready for accept.
  peer.send(tou::flags::kAck, 1001, static_cast<uint32_t>(synack->header.seq.raw() + 1));
  Fd c(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(c);
  info = listener_info(ls.get());
  EXPECT_EQ(info.half_open, 0u);
  EXPECT_EQ(info.handed_over, 1u);
}

TEST(Demux, SegmentForNoConnectionIsAnsweredWithReset) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(ls);
  RawPeer stray(port);
  stray.send(tou::flags::kAck, 5000, 777);
  auto rst = stray.receive(2000);
  ASSERT_TRUE(rst);
  // RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>.
  EXPECT_EQ(rst->header.flags, tou::flags::kRst);
  EXPECT_EQ(rst->header.seq, tou::SeqNum(777));
  // An RST is never answered.
  stray.send(tou::flags::kRst, 5000);
  EXPECT_FALSE(stray.receive(200));
  EXPECT_EQ(listener_info(ls.get()).resets_sent, 1u);
}

TEST(Demux, SynsBeyondTheBacklogAreDroppedAndCountedWithoutCookies) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port, [](int fd) {
    int off = 0;  // (with cookies, the default, see syn_flood_test.cpp)
    ASSERT_EQ(tou_setsockopt(fd, SOL_TOU, TOU_SYNCOOKIES, &off, sizeof off), 0);
  });
  ASSERT_TRUE(ls);
  RawPeer a(port), b(port), c(port);
  a.send(tou::flags::kSyn, 1);
  ASSERT_TRUE(a.receive(2000));
  b.send(tou::flags::kSyn, 1);
  ASSERT_TRUE(b.receive(2000));
  c.send(tou::flags::kSyn, 1);
  EXPECT_FALSE(c.receive(300));  // two half-open already: dropped, the peer will retry
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.half_open, 2u);
  EXPECT_EQ(info.syn_dropped, 1u);
}

TEST(Demux, GarbageIsCountedNotAnswered) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
  ASSERT_TRUE(ls);
  Fd u(::socket(AF_INET, SOCK_DGRAM, 0));
  Addr to = loopback(AF_INET, port);
  const uint8_t junk[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                          12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};
  for (size_t len : {0, 3, 19, 22}) ::sendto(u.get(), junk, len, 0, to.get(), to.len);
  ASSERT_TRUE(
      wait_until([&] { return listener_info(ls.get()).malformed == 4; }, std::chrono::seconds(30)));
  pollfd p{u.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0);
}

}  // namespace
}  // namespace tou_test
