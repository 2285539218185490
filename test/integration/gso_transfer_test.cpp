// Byte-exact transfers whose segments travel in GSO trains and GRO batches:
// loopback's MTU would make every segment a lone 64 KiB datagram, so the
// connections here use a 1200-byte MSS (TCP_MAXSEG), as on an Ethernet path.
// TOU_GSO=fail makes the engine's first train fail as on a kernel without
// UDP_SEGMENT (the fallback sends one by one); TOU_GSO=off never uses trains.
// The environment is read when the engine first sends, so each test is run in
// its own process by ctest.
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

constexpr int kMss = 1200;

void small_mss(int fd) {
  int mss = kMss;
  ASSERT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss), 0);
}

// Both directions at once, then each side's FIN; every byte checked.
void transfer_both_ways(size_t bytes) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port, small_mss);
  ASSERT_TRUE(ls) << strerror(errno);
  Fd c = connect_to(AF_INET, port, small_mss);
  ASSERT_TRUE(c) << strerror(errno);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s) << strerror(errno);
  set_timeouts(s.get());
  const std::vector<uint8_t> up = random_bytes(bytes, 1), down = random_bytes(bytes, 2);
  std::vector<uint8_t> got_up, got_down;
  std::thread server([&] {
    std::thread w([&] {
      EXPECT_TRUE(write_all(s.get(), down.data(), down.size()));
      EXPECT_EQ(tou_shutdown(s.get(), SHUT_WR), 0);
    });
    EXPECT_TRUE(read_to_eof(s.get(), got_up, bytes));
    w.join();
  });
  std::thread w([&] {
    EXPECT_TRUE(write_all(c.get(), up.data(), up.size()));
    EXPECT_EQ(tou_shutdown(c.get(), SHUT_WR), 0);
  });
  EXPECT_TRUE(read_to_eof(c.get(), got_down, bytes));
  w.join();
  server.join();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
  tou_info info{};
  socklen_t len = sizeof info;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_LE(info.snd_mss, static_cast<uint32_t>(kMss));
}

TEST(GsoTransfer, TrainsAndGroBatchesDeliverEveryByte) {
  ::unsetenv("TOU_GSO");
  transfer_both_ways(scaled(8 << 20));
}

TEST(GsoTransfer, AKernelThatRefusesTrainsStillDeliversEveryByte) {
  ::setenv("TOU_GSO", "fail", 1);
  transfer_both_ways(scaled(8 << 20));
}

TEST(GsoTransfer, WithoutGsoEveryByteArrives) {
  ::setenv("TOU_GSO", "off", 1);
  transfer_both_ways(scaled(4 << 20));
}

}  // namespace
}  // namespace tou_test
