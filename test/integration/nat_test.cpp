// A connection through a NAT or proxy: the UDP ports the server sees differ
// from the ports written inside the segments, and the connection still works
// both ways (the server answers with the peer's own view of the ports).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <tou/tou.h>

#include <cstring>
#include <vector>

#include "integration/relay.hpp"
#include "integration/util.hpp"

namespace tou_test {
namespace {

TEST(Nat, ConnectionThroughAPortChangingRelayCarriesBothDirections) {
  uint16_t port = 0;
  Fd listener = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(listener);
  Relay relay(port);
  Fd client = connect_to(AF_INET, relay.port());
  ASSERT_TRUE(client) << std::strerror(errno);
  Fd server(tou_accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(server) << std::strerror(errno);
  set_timeouts(server.get());

  // The relay changes the UDP port, never the TCP ports inside the segments:
  // the names both ends report are the TCP 4-tuple, the same at both ends.
  Addr peer;
  peer.len = sizeof peer.storage;
  ASSERT_EQ(tou_getpeername(server.get(), reinterpret_cast<sockaddr*>(&peer.storage), &peer.len),
            0);
  Addr client_local;
  client_local.len = sizeof client_local.storage;
  ASSERT_EQ(tou_getsockname(client.get(), reinterpret_cast<sockaddr*>(&client_local.storage),
                            &client_local.len),
            0);
  EXPECT_EQ(peer.port(), client_local.port());

  const std::vector<uint8_t> up = random_bytes(scaled(1 << 20), 11);
  const std::vector<uint8_t> down = random_bytes(scaled(1 << 20), 12);
  ASSERT_TRUE(write_all(client.get(), up.data(), up.size()));
  ASSERT_EQ(tou_shutdown(client.get(), SHUT_WR), 0);
  std::vector<uint8_t> got_up;
  ASSERT_TRUE(read_to_eof(server.get(), got_up));
  EXPECT_EQ(got_up, up);

  ASSERT_TRUE(write_all(server.get(), down.data(), down.size()));
  ASSERT_EQ(tou_shutdown(server.get(), SHUT_WR), 0);
  std::vector<uint8_t> got_down;
  ASSERT_TRUE(read_to_eof(client.get(), got_down));
  EXPECT_EQ(got_down, down);
  EXPECT_GT(relay.relayed(), 0u);
}

}  // namespace
}  // namespace tou_test
