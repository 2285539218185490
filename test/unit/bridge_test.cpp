// The engine side of a connection's socket pair (engine::FdBridge), driven
// without the engine: a real AF_UNIX pair, two in-memory cores, virtual time.
// A small write is held in the pair (peeked, not read) until the response
// frees it, so that the program blocked in read() is woken once per response,
// not also when the engine takes its request.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/connection.hpp"
#include "engine/bridge.hpp"

namespace tou {
namespace {

using std::chrono::milliseconds;

// Two cores joined in memory, established; `app` is the program's end of the
// client's pair, `bridge` the engine's.
struct BridgeFixture : ::testing::Test {
  // No Nagle: each small write leaves at once, as a request with TCP_NODELAY.
  ConnectionConfig config = [] {
    ConnectionConfig c;
    c.nodelay = true;
    return c;
  }();
  Connection client{config};
  Connection server{config};
  Instant now{};
  engine::FdBridge bridge;
  int app = -1;
  std::vector<uint8_t> scratch = std::vector<uint8_t>(64 * 1024);

  void SetUp() override {
    int engine_fd = -1;
    ASSERT_EQ(engine::make_pair(false, true, app, engine_fd), 0);
    bridge.reset(engine_fd);
    client.connect(now, {.local_port = 1, .remote_port = 2, .iss = SeqNum(100), .ts_offset = 1});
    server.listen({.local_port = 2, .remote_port = 1, .iss = SeqNum(900), .ts_offset = 2});
    exchange();
    ASSERT_TRUE(client.is_established());
    ASSERT_TRUE(server.is_established());
  }
  void TearDown() override {
    if (app >= 0) ::close(app);
  }

  // Moves every datagram both ways until neither core has one (bounded).
  void exchange() {
    std::array<uint8_t, 70000> buf;
    for (int i = 0; i < 100; ++i) {
      bool any = false;
      while (size_t n = client.poll_transmit(now, buf)) {
        server.on_datagram(now, std::span(buf).first(n));
        any = true;
      }
      while (size_t n = server.poll_transmit(now, buf)) {
        client.on_datagram(now, std::span(buf).first(n));
        any = true;
      }
      if (!any) return;
    }
  }
  // The program writes; the engine sees the edge and pulls.
  void app_writes(const std::string& s) {
    ASSERT_EQ(::send(app, s.data(), s.size(), MSG_DONTWAIT), static_cast<ssize_t>(s.size()));
    bridge.on_events(EPOLLIN);
    bridge.pull(client, now, scratch);
  }
  std::string server_reads() {
    std::array<uint8_t, 70000> buf;
    std::string out;
    while (size_t n = server.recv(now, buf)) out.append(buf.begin(), buf.begin() + n);
    return out;
  }
  void server_writes(const std::string& s) {
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ASSERT_EQ(server.send(now, bytes), s.size());
  }
  std::string app_reads() {
    std::array<char, 70000> buf;
    ssize_t n = ::recv(app, buf.data(), buf.size(), MSG_DONTWAIT);
    return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string();
  }
  // What the program's end is charged for bytes the engine has not taken.
  int charged() const {
    int n = -1;
    EXPECT_EQ(::ioctl(app, SIOCOUTQ, &n), 0);
    return n;
  }
};

TEST_F(BridgeFixture, ASmallRequestIsHeldUntilItsResponseIsPushed) {
  app_writes("request");
  EXPECT_EQ(bridge.held(), 7u);
  exchange();
  EXPECT_EQ(server_reads(), "request");  // sent at once, before it is freed
  EXPECT_GT(charged(), 0);               // still in the pair: nobody was woken
  server_writes("response");
  exchange();
  EXPECT_TRUE(bridge.push(client, now));
  EXPECT_EQ(bridge.held(), 0u);
  EXPECT_EQ(charged(), 0);
  EXPECT_EQ(app_reads(), "response");
}

TEST_F(BridgeFixture, TheNextWriteFreesTheHeldOneAndNoByteIsSentTwice) {
  std::string sent;
  for (int i = 0; i < 20; ++i) {
    std::string part = "part" + std::to_string(i) + ";";
    app_writes(part);
    sent += part;
    EXPECT_EQ(bridge.held(), part.size()) << i;
    exchange();
  }
  EXPECT_EQ(server_reads(), sent);
}

TEST_F(BridgeFixture, HeldBytesDoNotCountAsUnpulled) {
  app_writes("abc");
  EXPECT_EQ(bridge.held(), 3u);
  EXPECT_EQ(bridge.unpulled(), 0u);  // SO_LINGER waits for nothing of ours
  ASSERT_EQ(::send(app, "defg", 4, MSG_DONTWAIT), 4);
  EXPECT_EQ(bridge.unpulled(), 4u);
}

TEST_F(BridgeFixture, ALargeWriteIsReadNotHeld) {
  std::string big(40000, 'b');
  app_writes(big);
  EXPECT_EQ(bridge.held(), 0u);
  EXPECT_EQ(charged(), 0);
  for (int i = 0; i < 100 && client.send_queued() > 0; ++i) exchange();
  EXPECT_EQ(server_reads(), big);
}

// A sender whose buffer the peer's ACKs free a little at a time: a write
// that finds less room in the core than a small write is a stream's, read
// once, not peeked and read again at every ACK.
TEST_F(BridgeFixture, AWriteIsReadNotHeldWhenTheCoreHasLittleRoom) {
  client.set_send_buffer_limit(64 * 1024);
  std::vector<uint8_t> fill(client.send_space() - 3000, 'f');
  ASSERT_EQ(client.send(now, fill), fill.size());
  app_writes("abc");
  EXPECT_EQ(bridge.held(), 0u);
  EXPECT_EQ(charged(), 0);
  EXPECT_EQ(client.send_queued(), fill.size() + 3);
}

// A stream whose core has plenty left to send is read once a batch of room
// is free (a quarter of the core's buffer, at most FdBridge::kPullBatch), not
// at every ACK that frees a few segments.
TEST_F(BridgeFixture, AStreamIsReadOnceABatchOfRoomIsFree) {
  client.set_send_buffer_limit(128 * 1024);
  const size_t batch = std::min(engine::FdBridge::kPullBatch, client.send_space() / 4);
  ASSERT_EQ(batch, 32u * 1024);
  std::vector<uint8_t> chunk(64 * 1024, 's');
  size_t written = 0;
  while (written < 512 * 1024) {
    ssize_t n = ::send(app, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ASSERT_GT(written, client.send_space() + batch);
  bridge.on_events(EPOLLIN);
  ASSERT_TRUE(bridge.pull(client, now, scratch));
  ASSERT_EQ(client.send_space(), 0u) << "the first pull fills the core";
  // Two segments sent and acknowledged at a time: their room waits for a batch.
  std::array<uint8_t, 70000> buf;
  int pulls_before_batch = 0;
  while (client.send_space() < batch) {
    for (int i = 0; i < 2; ++i) {
      size_t n = client.poll_transmit(now, buf);
      ASSERT_GT(n, 0u);
      server.on_datagram(now, std::span(buf).first(n));
    }
    while (size_t n = server.poll_transmit(now, buf))
      client.on_datagram(now, std::span(buf).first(n));
    if (client.send_space() >= batch) break;
    const size_t room = client.send_space();
    if (bridge.pull(client, now, scratch)) ++pulls_before_batch;
    EXPECT_EQ(client.send_space(), room);
  }
  EXPECT_EQ(pulls_before_batch, 0);
  EXPECT_TRUE(bridge.pull(client, now, scratch));
  EXPECT_EQ(client.send_space(), 0u) << "a batch of room is filled at once";
}

TEST_F(BridgeFixture, AnOldHeldWriteIsFreedWithoutAResponse) {
  app_writes("ping");
  bridge.release_held_since(now + milliseconds(1) - std::chrono::microseconds(1), milliseconds(1));
  EXPECT_EQ(bridge.held(), 4u);
  bridge.release_held_since(now + milliseconds(1), milliseconds(1));
  EXPECT_EQ(bridge.held(), 0u);
  EXPECT_EQ(charged(), 0);
}

TEST_F(BridgeFixture, EndOfFileAfterAHeldWriteDeliversItOnce) {
  app_writes("last words");
  ASSERT_EQ(::shutdown(app, SHUT_WR), 0);
  bridge.on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_TRUE(bridge.pull(client, now, scratch));
  EXPECT_TRUE(bridge.app_write_shut());
  EXPECT_EQ(bridge.held(), 0u);
  exchange();
  EXPECT_EQ(server_reads(), "last words");
}

TEST_F(BridgeFixture, ClosingWithAWriteHeldReadsAsEndOfFileNotAReset) {
  app_writes("unanswered");
  ASSERT_GT(bridge.held(), 0u);
  bridge.close();
  std::array<char, 16> buf;
  EXPECT_EQ(::recv(app, buf.data(), buf.size(), MSG_DONTWAIT), 0) << std::strerror(errno);
}

// --- input_drained(): may a write skip the pair (Engine::send_inline)? ---

TEST(BridgeInline, AnEmptyOpenPairIsDrained) {
  int app = -1, engine_fd = -1;
  ASSERT_EQ(engine::make_pair(false, true, app, engine_fd), 0);
  engine::FdBridge bridge(engine_fd);
  EXPECT_TRUE(bridge.input_drained());
  ::close(app);
}

TEST_F(BridgeFixture, BytesStillInThePairAreNotDrainedAndArePulledWhole) {
  app_writes("a");  // held: the pair's peek offset is in use from now on
  exchange();
  ASSERT_EQ(::send(app, "first", 5, MSG_DONTWAIT), 5);
  EXPECT_FALSE(bridge.input_drained()) << "a later write must not pass these bytes";
  EXPECT_TRUE(bridge.input_pending());
  // The probe's peek left the peek offset where it was: the pull takes all
  // five bytes from the first one.
  bridge.pull(client, now, scratch);
  exchange();
  EXPECT_EQ(server_reads(), "afirst");
}

TEST_F(BridgeFixture, AHeldWriteIsFreedAndThePairIsThenDrained) {
  app_writes("held");  // peeked: in the core, still in the pair
  ASSERT_EQ(bridge.held(), 4u);
  EXPECT_TRUE(bridge.input_drained());
  EXPECT_EQ(bridge.held(), 0u);
  EXPECT_EQ(charged(), 0);
  // A later write through the pair is pulled from its first byte (the peek
  // offset is back at 0).
  app_writes("next");
  exchange();
  EXPECT_EQ(server_reads(), "heldnext");
}

TEST_F(BridgeFixture, AWriteSideShutOnTheDescriptorIsNotDrained) {
  ASSERT_EQ(::shutdown(app, SHUT_WR), 0);
  EXPECT_FALSE(bridge.input_drained()) << "end-of-file waits in the pair";
}

TEST_F(BridgeFixture, AFillerIsNotDrained) {
  bridge.set_filler(10);
  EXPECT_FALSE(bridge.input_drained());
}

}  // namespace
}  // namespace tou
