// The listener's demultiplexer seen from the wire: hand-made segments from
// plain UDP sockets on loopback (SYN, duplicate SYN, a stray ACK, a full
// backlog), and what comes back.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <optional>

#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {
namespace {

// A UDP socket that speaks raw segments to one port.
class RawPeer {
 public:
  explicit RawPeer(uint16_t to_port)
      : to_(loopback(AF_INET, to_port)), sock_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    Addr any = loopback(AF_INET, 0);
    ::bind(sock_.get(), any.get(), any.len);
    Addr me;
    me.len = sizeof me.storage;
    ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&me.storage), &me.len);
    port_ = me.port();
  }
  uint16_t port() const { return port_; }

  void send(uint8_t flags, uint32_t seq, uint32_t ack = 0) {
    tou::SegmentHeader h;
    h.src_port = port_;
    h.dst_port = to_.port();
    h.seq = tou::SeqNum(seq);
    h.ack = tou::SeqNum(ack);
    h.flags = flags;
    h.window = 65535;
    if (flags & tou::flags::kSyn) h.options.mss = 1400;
    std::array<uint8_t, 128> buf;
    size_t n = tou::emit_segment(h, {}, buf);
    ::sendto(sock_.get(), buf.data(), n, 0, to_.get(), to_.len);
  }

  // The next segment within `ms`, with the UDP port it came from.
  std::optional<std::pair<tou::SegmentHeader, uint16_t>> receive(int ms) {
    pollfd p{sock_.get(), POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    std::array<uint8_t, 70000> buf;
    Addr from;
    from.len = sizeof from.storage;
    ssize_t n = ::recvfrom(sock_.get(), buf.data(), buf.size(), 0,
                           reinterpret_cast<sockaddr*>(&from.storage), &from.len);
    if (n <= 0) return std::nullopt;
    tou::ParseResult r =
        tou::parse_segment(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
    if (!r.ok()) return std::nullopt;
    return std::pair{r.segment.header, from.port()};
  }

 private:
  Addr to_;
  Fd sock_;
  uint16_t port_ = 0;
};

tou_listener_info listener_info(int fd) {
  tou_listener_info info{};
  socklen_t len = sizeof info;
  EXPECT_EQ(tou_getsockopt(fd, SOL_TOU, TOU_LISTENER_INFO, &info, &len), 0);
  return info;
}

TEST(Demux, SynOpensOneHalfOpenConnectionAndDuplicatesReachIt) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(ls);
  RawPeer peer(port);
  peer.send(tou::flags::kSyn, 1000);
  auto synack = peer.receive(2000);
  ASSERT_TRUE(synack);
  EXPECT_EQ(synack->first.flags, tou::flags::kSyn | tou::flags::kAck);
  EXPECT_EQ(synack->first.ack, tou::SeqNum(1001));
  EXPECT_EQ(synack->second, port);  // the connection answers from the listener's port
  // The same SYN again: the existing half-open connection answers, no second one.
  peer.send(tou::flags::kSyn, 1000);
  auto again = peer.receive(2000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first.flags, tou::flags::kSyn | tou::flags::kAck);
  EXPECT_EQ(again->first.seq, synack->first.seq);
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.syn_received, 1u);
  EXPECT_EQ(info.half_open, 1u);
  // Completing the handshake makes it ready for accept.
  peer.send(tou::flags::kAck, 1001, static_cast<uint32_t>(synack->first.seq.raw() + 1));
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
  EXPECT_EQ(rst->first.flags, tou::flags::kRst);
  EXPECT_EQ(rst->first.seq, tou::SeqNum(777));
  // An RST is never answered.
  stray.send(tou::flags::kRst, 5000);
  EXPECT_FALSE(stray.receive(200));
  EXPECT_EQ(listener_info(ls.get()).resets_sent, 1u);
}

TEST(Demux, SynsBeyondTheBacklogAreDroppedAndCounted) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
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
