// TCP_INFO on a socket whose connection has ended reports how it ended: when
// the peer closed first and we then shut down our side, the state reaches
// CLOSED once our FIN is acknowledged (tou-cat -v waits for that, and printed
// stale counters after waiting 2 s in vain when the snapshot stopped at LAST-ACK).
#include <gtest/gtest.h>

#include <chrono>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

TEST(InfoAfterClose, PeerClosedFirstThenOurFinIsAcknowledged) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client && p.server);
  const uint8_t byte = 'x';
  ASSERT_TRUE(write_all(p.server.get(), &byte, 1));
  p.server.reset();  // the peer closes first
  std::vector<uint8_t> got;
  ASSERT_TRUE(read_to_eof(p.client.get(), got));
  EXPECT_EQ(got.size(), 1u);
  ASSERT_EQ(tou_shutdown(p.client.get(), SHUT_WR), 0);  // then our FIN
  EXPECT_TRUE(wait_until([&] { return info_of(p.client.get()).state == TOU_STATE_CLOSED; },
                         std::chrono::milliseconds(30000)))
      << "state " << int(info_of(p.client.get()).state);
  const tou_info info = info_of(p.client.get());
  EXPECT_EQ(info.bytes_received, 1u);
  EXPECT_EQ(info.flight_size, 0u);  // everything we sent (our FIN) was acknowledged
}

}  // namespace
}  // namespace tou_test
