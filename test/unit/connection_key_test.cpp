// The demultiplexer's key (engine/address.hpp, ConnectionKey): the peer's UDP
// address and the TCP ports a segment carries, read from its first four
// bytes, so that one UDP port carries several connections with one peer
// apart by their TCP ports (RFC 6951's way).
#include <gtest/gtest.h>

#include <array>
#include <unordered_set>

#include "engine/address.hpp"
#include "wire/segment.hpp"

namespace tou::engine {
namespace {

std::array<uint8_t, 64> segment_bytes(uint16_t src, uint16_t dst, size_t& len) {
  SegmentHeader h;
  h.src_port = src;
  h.dst_port = dst;
  h.seq = SeqNum(1);
  h.flags = flags::kAck;
  h.window = 1000;
  std::array<uint8_t, 64> buf{};
  len = emit_segment(h, {}, buf);
  return buf;
}

TEST(ConnectionKey, ADatagramsKeyIsItsSourceAndItsTcpPortsPeersFirst) {
  const SockAddr peer = SockAddr::loopback(AF_INET, 7000);
  size_t len = 0;
  auto bytes = segment_bytes(40001, 7000, len);
  std::optional<ConnectionKey> k = ConnectionKey::of_datagram(peer, {bytes.data(), len});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->peer, AddrKey::of(peer));
  EXPECT_EQ(k->peer_port, 40001);  // the segment's source: the peer's TCP port
  EXPECT_EQ(k->local_port, 7000);  // its destination: ours
  EXPECT_EQ(*k, ConnectionKey::of(peer, 40001, 7000));
}

TEST(ConnectionKey, ShorterThanThePortsHasNoKey) {
  const SockAddr peer = SockAddr::loopback(AF_INET6, 7000);
  const std::array<uint8_t, 3> three{1, 2, 3};
  EXPECT_FALSE(ConnectionKey::of_datagram(peer, {three.data(), 0}));
  EXPECT_FALSE(ConnectionKey::of_datagram(peer, three));
  const std::array<uint8_t, 4> four{0x9c, 0x41, 0x1b, 0x58};
  std::optional<ConnectionKey> k = ConnectionKey::of_datagram(peer, four);
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, ConnectionKey::of(peer, 40001, 7000));
}

// One UDP address, several connections: each key differs in one part only,
// and each is its own entry in a map keyed by it.
TEST(ConnectionKey, EachPartTellsConnectionsApart) {
  const SockAddr a = SockAddr::loopback(AF_INET, 7000);
  const SockAddr other_udp_port = SockAddr::loopback(AF_INET, 7001);
  const SockAddr v6 = SockAddr::loopback(AF_INET6, 7000);
  const ConnectionKey base = ConnectionKey::of(a, 40001, 7000);
  const std::array<ConnectionKey, 5> keys = {
      base, ConnectionKey::of(a, 40002, 7000), ConnectionKey::of(a, 40001, 7001),
      ConnectionKey::of(other_udp_port, 40001, 7000), ConnectionKey::of(v6, 40001, 7000)};
  std::unordered_set<ConnectionKey, ConnectionKeyHash> set(keys.begin(), keys.end());
  EXPECT_EQ(set.size(), keys.size());
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_FALSE(keys[i] == base) << i;
  EXPECT_EQ(ConnectionKeyHash{}(base), ConnectionKeyHash{}(ConnectionKey::of(a, 40001, 7000)));
  EXPECT_TRUE(set.contains(ConnectionKey::of(a, 40002, 7000)));
}

}  // namespace
}  // namespace tou::engine
