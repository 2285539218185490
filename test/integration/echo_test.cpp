// Connect, listen, accept, read, write and close over real UDP on loopback.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// Accepts `count` connections one after another and echoes each until EOF.
std::thread echo_server(int listen_fd, int count) {
  return std::thread([listen_fd, count] {
    for (int i = 0; i < count; ++i) {
      Fd c(tou_accept(listen_fd, nullptr, nullptr));
      if (!c) return;
      uint8_t buf[65536];
      for (;;) {
        ssize_t n = ::read(c.get(), buf, sizeof buf);
        if (n <= 0) break;
        if (!write_all(c.get(), buf, static_cast<size_t>(n))) break;
      }
    }
  });
}

void echo_once(int family, size_t bytes) {
  uint16_t port = 0;
  Fd ls = listen_on(family, 16, &port);
  ASSERT_TRUE(ls) << strerror(errno);
  std::thread server = echo_server(ls.get(), 1);
  Fd c = connect_to(family, port);
  ASSERT_TRUE(c) << strerror(errno);
  std::vector<uint8_t> data = random_bytes(bytes, 42);
  std::thread writer([&] {
    EXPECT_TRUE(write_all(c.get(), data.data(), data.size()));
    EXPECT_EQ(tou_shutdown(c.get(), SHUT_WR), 0);
  });
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(c.get(), got, data.size()));
  writer.join();
  server.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST(Echo, SmallIPv4) {
  echo_once(AF_INET, 5);
}

TEST(Echo, OneMegabyteIPv4) {
  echo_once(AF_INET, scaled(1 << 20));
}

TEST(Echo, OneMegabyteIPv6) {
  echo_once(AF_INET6, scaled(1 << 20));
}

TEST(Echo, ListenerKeepsListening) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 16, &port);
  ASSERT_TRUE(ls);
  const int kClients = 5;
  std::thread server = echo_server(ls.get(), kClients);
  for (int i = 0; i < kClients; ++i) {
    Fd c = connect_to(AF_INET, port);
    ASSERT_TRUE(c) << strerror(errno);
    const char msg[] = "hello";
    ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>(msg), sizeof msg));
    char back[sizeof msg];
    ASSERT_TRUE(read_exact(c.get(), reinterpret_cast<uint8_t*>(back), sizeof back));
    EXPECT_STREQ(back, msg);
  }
  server.join();
}

}  // namespace
}  // namespace tou_test
