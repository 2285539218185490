#include "integration/raw_peer.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <array>

namespace tou_test {

RawPeer::RawPeer(uint16_t to_port, uint8_t host)
    : to_(loopback(AF_INET, to_port)), sock_(::socket(AF_INET, SOCK_DGRAM, 0)) {
  sockaddr_in me{};
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(0x7f000000u | host);
  ::bind(sock_.get(), reinterpret_cast<sockaddr*>(&me), sizeof me);
  socklen_t len = sizeof me;
  ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&me), &len);
  port_ = ntohs(me.sin_port);
}

tou::SegmentHeader RawPeer::header(uint8_t flags, uint32_t seq, uint32_t ack) const {
  tou::SegmentHeader h;
  h.src_port = port_;
  h.dst_port = to_.port();
  h.seq = tou::SeqNum(seq);
  h.ack = tou::SeqNum(ack);
  h.flags = flags;
  h.window = 65535;
  if (flags & tou::flags::kSyn) h.options.mss = 1400;
  return h;
}

void RawPeer::send(const tou::SegmentHeader& h, std::span<const uint8_t> payload) {
  std::array<uint8_t, 2048> buf;
  size_t n = tou::emit_segment(h, payload, buf);
  ::sendto(sock_.get(), buf.data(), n, 0, to_.get(), to_.len);
}

std::optional<RawPeer::Received> RawPeer::receive(int ms) {
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
  return Received{r.segment.header, r.segment.payload.size(), from.port()};
}

tou_listener_info listener_info(int fd) {
  tou_listener_info info{};
  socklen_t len = sizeof info;
  EXPECT_EQ(tou_getsockopt(fd, SOL_TOU, TOU_LISTENER_INFO, &info, &len), 0);
  return info;
}

}  // namespace tou_test
