// Reads in the caller's thread (engine/inline_receive.cpp): a blocking
// tou_recv that finds nothing after a write from its thread waits on the
// connection's UDP socket itself for a short while and serves what arrives there, for every
// connection of that socket. Each behaviour runs against the kernel's TCP too: request/response
// bytes, a reader waiting on one connection beside traffic on another of the
// same listener, and the non-blocking and timed-out reads must not tell the
// paths apart.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "integration/stacks.hpp"
#include "integration/util.hpp"

namespace tou_test {
namespace {

class InlineReceive : public StackTest {};

// Echoes messages of the sizes in `sizes` back on fd, then returns.
void echo(const Stack& api, int fd, const std::vector<size_t>& sizes, bool& ok) {
  std::vector<uint8_t> buf(*std::max_element(sizes.begin(), sizes.end()));
  ok = true;
  for (size_t n : sizes) {
    if (!recv_all(api, fd, buf.data(), n) || !send_all(api, fd, buf.data(), n)) {
      ok = false;
      return;
    }
  }
}

std::vector<size_t> message_sizes(size_t count, uint64_t seed) {
  std::vector<size_t> sizes(count);
  for (size_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    sizes[i] = 1 + (seed >> 33) % (i % 3 == 0 ? 4000 : 100);
  }
  return sizes;
}

// Request, response, one outstanding, sizes from 1 byte to several segments:
// every response is the request's bytes.
TEST_P(InlineReceive, RequestsAndResponsesArriveExactly) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const std::vector<size_t> sizes = message_sizes(scaled(600, 60), 3);
  bool served = false;
  std::thread server([&] { echo(api(), c.server.get(), sizes, served); });
  std::vector<uint8_t> back(4000);
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint8_t> request = random_bytes(sizes[i], static_cast<uint32_t>(i));
    ASSERT_TRUE(send_all(api(), c.client.get(), request.data(), request.size())) << i;
    ASSERT_TRUE(recv_all(api(), c.client.get(), back.data(), request.size())) << i;
    ASSERT_EQ(std::memcmp(back.data(), request.data(), request.size()), 0) << "response " << i;
  }
  server.join();
  EXPECT_TRUE(served);
  if (api().is_tou) {
    std::printf("inline reads: client %llu, server %llu of %zu round trips\n",
                static_cast<unsigned long long>(info_of(c.client.get()).inline_reads),
                static_cast<unsigned long long>(info_of(c.server.get()).inline_reads),
                sizes.size());
  }
}

// Two connections to one listener (their accepted ends share its UDP
// socket): a thread blocked reading one of them does not hold up the other's
// exchanges, whichever thread ends up serving their datagrams.
TEST_P(InlineReceive, AReaderWaitingOnOneConnectionDoesNotHoldUpAnother) {
  uint16_t port = 0;
  SFd l = listener(AF_INET, &port);
  ASSERT_TRUE(l);
  SFd client_a = connect(AF_INET, port), client_b = connect(AF_INET, port);
  ASSERT_TRUE(client_a && client_b);
  SFd server_a = accept(l.get()), server_b = accept(l.get());
  ASSERT_TRUE(server_a && server_b);
  // Which accepted end is whose: the first byte says.
  ASSERT_TRUE(send_all(api(), client_a.get(), reinterpret_cast<const uint8_t*>("a"), 1));
  ASSERT_TRUE(send_all(api(), client_b.get(), reinterpret_cast<const uint8_t*>("b"), 1));
  uint8_t first_a = 0, first_b = 0;
  ASSERT_TRUE(recv_all(api(), server_a.get(), &first_a, 1));
  ASSERT_TRUE(recv_all(api(), server_b.get(), &first_b, 1));
  if (first_a != 'a') std::swap(server_a, server_b);
  ASSERT_EQ(first_a + first_b, 'a' + 'b');

  // A reader waits on A, which stays silent until the end; it wrote last, in
  // its own thread (a read after its thread's write waits on the wire).
  uint8_t last = 0;
  bool got_last = false;
  std::thread waiting([&] {
    got_last = send_all(api(), server_a.get(), reinterpret_cast<const uint8_t*>("w"), 1) &&
               recv_all(api(), server_a.get(), &last, 1);
  });
  EXPECT_TRUE(recv_all(api(), client_a.get(), &first_a, 1));
  EXPECT_EQ(first_a, 'w');
  const std::vector<size_t> sizes = message_sizes(scaled(300, 40), 9);
  bool served = false;
  std::thread server([&] { echo(api(), server_b.get(), sizes, served); });
  std::vector<uint8_t> back(4000);
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint8_t> request = random_bytes(sizes[i], static_cast<uint32_t>(100 + i));
    ASSERT_TRUE(send_all(api(), client_b.get(), request.data(), request.size())) << i;
    ASSERT_TRUE(recv_all(api(), client_b.get(), back.data(), request.size())) << i;
    ASSERT_EQ(std::memcmp(back.data(), request.data(), request.size()), 0) << "response " << i;
  }
  server.join();
  EXPECT_TRUE(served);
  ASSERT_TRUE(send_all(api(), client_a.get(), reinterpret_cast<const uint8_t*>("z"), 1));
  waiting.join();
  EXPECT_TRUE(got_last);
  EXPECT_EQ(last, 'z');
}

// Only a read in the thread that wrote waits on the wire (the engine's
// socket_answer_awaited_here): a thread that reads what another thread's
// requests bring back keeps the plain path, one recv on the descriptor.
TEST_P(InlineReceive, AReadInAnotherThreadThanTheWriteKeepsThePlainPath) {
  if (!api().is_tou) GTEST_SKIP() << "tou's reads in the caller's thread";
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const std::vector<size_t> sizes = message_sizes(scaled(200, 40), 5);
  bool served = false;
  std::thread server([&] { echo(api(), c.server.get(), sizes, served); });
  bool replies = true;
  std::thread reader([&] {
    std::vector<uint8_t> back(4000);
    for (size_t i = 0; i < sizes.size() && replies; ++i) {
      replies = recv_all(api(), c.client.get(), back.data(), sizes[i]);
    }
  });
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint8_t> request = random_bytes(sizes[i], static_cast<uint32_t>(200 + i));
    if (!send_all(api(), c.client.get(), request.data(), request.size())) break;
  }
  reader.join();
  server.join();
  EXPECT_TRUE(replies);
  EXPECT_TRUE(served);
  EXPECT_EQ(info_of(c.client.get()).inline_reads, 0u);
}

// A non-blocking read of an empty connection fails at once, and a blocking
// one with a receive timeout fails with EAGAIN once it has passed.
TEST_P(InlineReceive, NonBlockingAndTimedReadsOfNothingFailWithEagain) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  uint8_t byte = 0;
  ASSERT_EQ(::fcntl(c.server.get(), F_SETFL, ::fcntl(c.server.get(), F_GETFL) | O_NONBLOCK), 0);
  errno = 0;
  EXPECT_EQ(api().recv(c.server.get(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(::fcntl(c.server.get(), F_SETFL, ::fcntl(c.server.get(), F_GETFL) & ~O_NONBLOCK), 0);
  timeval tv{0, 50'000};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  errno = 0;
  EXPECT_EQ(api().recv(c.server.get(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  // And the connection still carries bytes both ways afterwards.
  ASSERT_TRUE(send_all(api(), c.client.get(), reinterpret_cast<const uint8_t*>("k"), 1));
  tv = {10, 0};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  ASSERT_TRUE(recv_all(api(), c.server.get(), &byte, 1));
  EXPECT_EQ(byte, 'k');
}

INSTANTIATE_STACKS(InlineReceive);

}  // namespace
}  // namespace tou_test
