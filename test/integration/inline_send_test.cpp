// Writes from the caller's thread (engine/inline_send.cpp): tou_send puts a
// small write straight into the connection when nothing written earlier is
// still in the descriptor's pair, and sends the rest through the pair. Each
// behaviour runs against the kernel's TCP too: order across send() and
// write(), the errors, non-blocking sockets and a full send buffer must not
// tell the two paths apart.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "integration/relay.hpp"
#include "integration/stacks.hpp"

namespace tou_test {
namespace {

class InlineSend : public StackTest {};

// Reads n bytes on another thread while `write` runs; the bytes read.
std::vector<uint8_t> read_while(int fd, size_t n, const std::function<void()>& write) {
  std::vector<uint8_t> got(n);
  bool ok = false;
  std::thread reader([&] { ok = read_exact(fd, got.data(), n); });
  write();
  reader.join();
  if (!ok) got.clear();
  return got;
}

TEST_P(InlineSend, SmallSendsArriveInOrder) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const size_t kWrites = scaled(2000, 100);
  std::vector<uint8_t> data = random_bytes(kWrites * 7, 11);
  std::vector<uint8_t> got = read_while(c.server.get(), data.size(), [&] {
    for (size_t i = 0; i < kWrites; ++i)
      ASSERT_TRUE(send_all(api(), c.client.get(), &data[i * 7], 7));
  });
  EXPECT_EQ(got, data);
  if (api().is_tou) {
    EXPECT_GT(info_of(c.client.get()).inline_writes, 0u) << "small writes go from this thread";
  }
}

// send() and write() interleaved, with writes large enough to stay in the pair
// for a while: each later small send must wait behind them.
TEST_P(InlineSend, SendAndWriteInterleavedKeepTheirOrder) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const size_t kRounds = scaled(200, 20);
  std::vector<size_t> sizes;
  size_t total = 0;
  for (size_t i = 0; i < kRounds; ++i) {
    // A large write through the descriptor, then small sends, then one
    // send too large to go inline (it takes the pair too).
    for (size_t s : {size_t{96 * 1024}, size_t{1}, size_t{300}, size_t{5}, size_t{70 * 1024}}) {
      sizes.push_back(s);
      total += s;
    }
  }
  std::vector<uint8_t> data = random_bytes(total, 12);
  std::vector<uint8_t> got = read_while(c.server.get(), total, [&] {
    size_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (i % 5 == 0) {
        ASSERT_TRUE(write_all(c.client.get(), &data[at], sizes[i]));  // ::send on the fd
      } else {
        ASSERT_TRUE(send_all(api(), c.client.get(), &data[at], sizes[i]));
      }
      at += sizes[i];
    }
  });
  ASSERT_EQ(got.size(), total);
  EXPECT_TRUE(got == data) << "bytes out of order or lost";
}

// Two threads each alternate send() and write() of tagged records: every
// record arrives whole and each thread's records in its order.
TEST_P(InlineSend, TwoThreadsMixingPathsKeepEachThreadsOrder) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const uint32_t kRecords = static_cast<uint32_t>(scaled(2000, 200));
  constexpr size_t kRecord = 8;  // thread id, sequence number
  std::vector<uint8_t> got = read_while(c.server.get(), 2 * kRecords * kRecord, [&] {
    auto writer = [&](uint32_t id) {
      for (uint32_t seq = 0; seq < kRecords; ++seq) {
        uint32_t rec[2] = {id, seq};
        const auto* p = reinterpret_cast<const uint8_t*>(rec);
        // One call per record (a record is never split: both paths take
        // 8 bytes whole into an empty enough buffer).
        bool ok = seq % 2 == 0 ? api().send(c.client.get(), p, kRecord, MSG_NOSIGNAL) == kRecord
                               : ::write(c.client.get(), p, kRecord) == kRecord;
        if (!ok) return;
      }
    };
    std::thread a(writer, 1), b(writer, 2);
    a.join();
    b.join();
  });
  ASSERT_EQ(got.size(), 2 * kRecords * kRecord);
  uint32_t next[3] = {0, 0, 0};
  for (size_t at = 0; at < got.size(); at += kRecord) {
    uint32_t rec[2];
    std::memcpy(rec, &got[at], kRecord);
    ASSERT_TRUE(rec[0] == 1 || rec[0] == 2) << "a record torn at byte " << at;
    ASSERT_EQ(rec[1], next[rec[0]]) << "thread " << rec[0] << " out of order";
    ++next[rec[0]];
  }
}

// shutdown(SHUT_WR) made on the descriptor itself (not through the stack):
// a send after it fails with EPIPE, and nothing of it reaches the peer.
TEST_P(InlineSend, SendAfterShutdownOnTheDescriptorFailsWithEpipe) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  ASSERT_TRUE(send_all(api(), c.client.get(), reinterpret_cast<const uint8_t*>("ab"), 2));
  ASSERT_EQ(::shutdown(c.client.get(), SHUT_WR), 0);
  errno = 0;
  EXPECT_EQ(api().send(c.client.get(), "cd", 2, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
  std::vector<uint8_t> all;
  ASSERT_TRUE(read_to_eof(c.server.get(), all));
  EXPECT_EQ(std::string(all.begin(), all.end()), "ab");
}

// After the peer reset the connection: ECONNRESET once, then EPIPE.
TEST_P(InlineSend, SendAfterResetFailsAsThroughThePair) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  linger lg{1, 0};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  c.server.reset();  // RST
  // The reset arrives; until then sends succeed (bounded).
  int err = 0;
  for (int i = 0; i < 2000 && err == 0; ++i) {
    if (api().send(c.client.get(), "x", 1, MSG_NOSIGNAL) < 0) err = errno;
    if (err == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(err, ECONNRESET);
  errno = 0;
  EXPECT_EQ(api().send(c.client.get(), "y", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
}

// Non-blocking, toward a peer that does not read: sends succeed until
// EAGAIN (no byte taken is lost and none is taken twice), the socket polls
// writable again once the peer reads, and every accepted byte arrives.
TEST_P(InlineSend, NonBlockingSendsStopAtEagainAndLoseNothing) {
  Conn c = pair(
      AF_INET, [&](int fd) { set_int(fd, SOL_SOCKET, SO_SNDBUF, 32 * 1024); },
      [&](int fd) { set_int(fd, SOL_SOCKET, SO_RCVBUF, 32 * 1024); });
  ASSERT_TRUE(c.server);
  ASSERT_EQ(::fcntl(c.client.get(), F_SETFL, ::fcntl(c.client.get(), F_GETFL) | O_NONBLOCK), 0);
  std::vector<uint8_t> chunk = random_bytes(1000, 13);
  std::vector<uint8_t> sent;
  bool blocked = false;
  // Bounded: the buffers along the path hold a few MiB at most.
  for (int i = 0; i < 20000 && !blocked; ++i) {
    ssize_t n = api().send(c.client.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n < 0) {
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      // The stacks may free room as segments leave: EAGAIN three times in a
      // row, 20 ms apart, is full.
      int again = 1;
      for (; again < 3; ++again) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        n = api().send(c.client.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n >= 0) break;
        ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      }
      if (again == 3) {
        blocked = true;
        break;
      }
    }
    sent.insert(sent.end(), chunk.begin(), chunk.begin() + n);
  }
  ASSERT_TRUE(blocked) << "never EAGAIN after " << sent.size() << " bytes";
  std::vector<uint8_t> got(sent.size());
  ASSERT_TRUE(read_exact(c.server.get(), got.data(), got.size()));
  EXPECT_TRUE(got == sent);
  EXPECT_NE(wait_events(c.client.get(), POLLOUT) & POLLOUT, 0);
}

INSTANTIATE_STACKS(InlineSend);

// A write sent from the caller's thread to an idle connection, lost on the
// way: its retransmission timer was set by that thread while the worker's
// thread slept without a deadline, so the worker must have been woken for it
// (Engine::wake_if_behind), or the bytes never arrive.
TEST(InlineSendTou, ALostWriteFromTheCallersThreadIsRetransmitted) {
  uint16_t port = 0;
  Fd listener = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(listener);
  Relay relay(port);
  Fd client = connect_to(AF_INET, relay.port(), [](int fd) {
    int one = 1;
    tou_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  });
  ASSERT_TRUE(client);
  Fd server(tou_accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(server);
  set_timeouts(server.get(), std::chrono::seconds(10));
  // Idle: the handshake's last ACK is out and no timer is left to run.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  relay.drop_from_client(1);
  ASSERT_EQ(tou_send(client.get(), "lost", 4, MSG_NOSIGNAL), 4);
  EXPECT_EQ(info_of(client.get()).inline_writes, 1u) << "sent from this thread";
  uint8_t got[4] = {};
  ASSERT_TRUE(read_exact(server.get(), got, sizeof got)) << "never retransmitted";
  EXPECT_EQ(std::string(reinterpret_cast<char*>(got), 4), "lost");
  EXPECT_EQ(relay.dropped(), 1u);
  EXPECT_GE(info_of(client.get()).segments_lost, 1u);
}

// The SYN leaves from connect()'s thread too: lost, it is retransmitted by
// the worker's thread, woken for that timer.
TEST(InlineSendTou, ALostSynFromTheCallersThreadIsRetransmitted) {
  uint16_t port = 0;
  Fd listener = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(listener);
  Relay relay(port);
  relay.drop_from_client(1);
  Fd client = connect_to(AF_INET, relay.port());
  ASSERT_TRUE(client) << std::strerror(errno);
  EXPECT_EQ(relay.dropped(), 1u);
}

}  // namespace
}  // namespace tou_test
