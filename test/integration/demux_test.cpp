// The listener's demultiplexer seen from the wire: hand-made segments from
// plain UDP sockets on loopback (SYN, duplicate SYN, a stray ACK, a full
// backlog), and what comes back.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <optional>

#include "integration/raw_peer.hpp"
#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {
namespace {

// A listener on loopback and a raw peer that sent it a SYN (sequence number
// 1000), with the SYN-ACK that came back.
struct SynSent {
  uint16_t port = 0;
  Fd listener;
  std::unique_ptr<RawPeer> peer;
  std::optional<RawPeer::Received> synack;
};
SynSent syn_to_a_listener() {
  SynSent s;
  s.listener = listen_on(AF_INET, 8, &s.port);
  if (!s.listener) return s;
  s.peer = std::make_unique<RawPeer>(s.port);
  s.peer->send(tou::flags::kSyn, 1000);
  s.synack = s.peer->receive(2000);
  return s;
}

TEST(Demux, SynOpensOneHalfOpenConnectionAndDuplicatesReachIt) {
  SynSent h = syn_to_a_listener();
  ASSERT_TRUE(h.listener && h.synack);
  RawPeer& peer = *h.peer;
  Fd& ls = h.listener;
  const uint16_t port = h.port;
  auto& synack = h.synack;
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

// The server closes first and its program is gone: what is left of the
// connection in TIME-WAIT (core::TimeWait, kept by the listener's port)
// acknowledges the peer's FIN again, answers other segments at most twice a
// second, and a new SYN from the same port opens a new connection.
TEST(Demux, TimeWaitAfterTheProgramClosedAcksTheFinAgainAndANewSynOpens) {
  SynSent h = syn_to_a_listener();
  ASSERT_TRUE(h.listener && h.synack);
  RawPeer& peer = *h.peer;
  Fd& ls = h.listener;
  auto& synack = h.synack;
  const uint32_t server_next = synack->header.seq.raw() + 1;
  peer.send(tou::flags::kAck, 1001, server_next);
  Fd c(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(c);
  c.reset();  // FIN first: TIME-WAIT on the server's side
  auto fin = peer.receive(2000);
  ASSERT_TRUE(fin);
  ASSERT_TRUE(fin->header.has(tou::flags::kFin));
  const uint8_t fin_ack = tou::flags::kFin | tou::flags::kAck;
  peer.send(fin_ack, 1001, server_next + 1);
  auto last = peer.receive(2000);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header.ack, tou::SeqNum(1002));
  // Our FIN again, as if that ACK were lost: acknowledged again, twice in a row.
  for (int i = 0; i < 2; ++i) {
    peer.send(fin_ack, 1001, server_next + 1);
    auto again = peer.receive(2000);
    ASSERT_TRUE(again) << i;
    EXPECT_EQ(again->header.flags, tou::flags::kAck);
    EXPECT_EQ(again->header.seq, tou::SeqNum(server_next + 1));
    EXPECT_EQ(again->header.ack, tou::SeqNum(1002));
  }
  // Anything else: one ACK, then silence within the interval.
  peer.send(tou::flags::kAck, 1002, server_next + 1);
  EXPECT_TRUE(peer.receive(2000));
  peer.send(tou::flags::kAck, 1002, server_next + 1);
  EXPECT_FALSE(peer.receive(200));
  EXPECT_EQ(listener_info(ls.get()).time_wait_acks_suppressed, 1u);
  // A new incarnation from the same address and port.
  peer.send(tou::flags::kSyn, 90000);
  auto synack2 = peer.receive(2000);
  ASSERT_TRUE(synack2);
  EXPECT_EQ(synack2->header.flags, tou::flags::kSyn | tou::flags::kAck);
  EXPECT_EQ(synack2->header.ack, tou::SeqNum(90001));
}

}  // namespace
}  // namespace tou_test
