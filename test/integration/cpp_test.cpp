// The C++ layer (include/tou/socket.hpp) over real UDP on loopback.
#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <thread>

#include "tou/socket.hpp"

namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

TEST(Cpp, EchoWithRaii) {
  for (int family : {AF_INET, AF_INET6}) {
    tou::Socket server = tou::Socket::open(family);
    server.bind(tou::Address::loopback(family, 0));
    server.listen(8);
    tou::Address where = server.local_address();
    EXPECT_NE(where.port(), 0);
    std::thread t([&] {
      tou::Socket conn = server.accept();
      conn.set_receive_timeout(10s);
      std::array<std::byte, 1024> buf;
      while (size_t n = conn.recv(buf)) conn.send_all(std::span(buf).first(n));
    });
    tou::Socket client = tou::Socket::open(family);
    client.set_receive_timeout(10s);
    client.set_nodelay(true);
    client.connect(where);
    EXPECT_EQ(client.peer_address().port(), where.port());
    client.send_all(bytes("hello, tou"));
    client.shutdown(SHUT_WR);
    std::array<std::byte, 10> back;
    ASSERT_TRUE(client.recv_all(back));
    EXPECT_EQ(std::memcmp(back.data(), "hello, tou", 10), 0);
    std::array<std::byte, 1> more;
    EXPECT_EQ(client.recv(more), 0u);  // end-of-file
    t.join();
    tou_info info = client.info();
    EXPECT_GE(info.bytes_sent, 10u);
  }
}

TEST(Cpp, ErrorsAreSystemErrors) {
  tou::Socket s = tou::Socket::open(AF_INET);
  s.bind(tou::Address::loopback(AF_INET, 0));
  tou::Address bound = s.local_address();
  tou::Socket other = tou::Socket::open(AF_INET);
  try {
    other.bind(bound);
    FAIL() << "second bind succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
  }
  tou::Socket c = tou::Socket::open(AF_INET);
  try {
    c.connect(bound);  // bound, not listening: RST
    FAIL() << "connect succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_refused);
  }
  EXPECT_THROW(tou::Address::parse("not an address", 1), std::invalid_argument);
  EXPECT_THROW(c.set_congestion_control("bogus"), std::system_error);
}

TEST(Cpp, MoveOnlyOwnership) {
  tou::Socket a = tou::Socket::open(AF_INET);
  int fd = a.fd();
  tou::Socket b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(b.fd(), fd);
  tou::Socket c;
  c = std::move(b);
  EXPECT_EQ(c.fd(), fd);
  int raw = c.release();
  EXPECT_FALSE(c);
  tou::Socket adopt(raw);
  EXPECT_EQ(adopt.get_option<int>(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
}

TEST(Cpp, NonBlockingConnect) {
  tou::Socket server = tou::Socket::open(AF_INET);
  server.bind(tou::Address::loopback(AF_INET, 0));
  server.listen();
  tou::Socket c = tou::Socket::open(AF_INET, SOCK_NONBLOCK);
  EXPECT_EQ(c.try_connect(server.local_address()), std::errc::operation_in_progress);
  pollfd p{c.fd(), POLLOUT, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_FALSE(c.pending_error());
  std::array<std::byte, 4> buf;
  EXPECT_EQ(c.try_recv(buf), std::nullopt);
  EXPECT_EQ(c.try_send(bytes("ping")), 4u);
  tou::Socket conn = server.accept();
  conn.set_receive_timeout(5s);
  ASSERT_TRUE(conn.recv_all(buf));
}

}  // namespace
