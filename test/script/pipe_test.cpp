// Two real cores joined by an in-memory pipe (script/pipe.hpp): end to end
// transfers with exact control over what is lost.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <random>
#include <vector>

#include "core/connection.hpp"
#include "script/pipe.hpp"

namespace tou {
namespace {

void run_transfer(Pipe& p, size_t bytes) {
  std::vector<uint8_t> data(bytes);
  std::mt19937 rng(7);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  p.client.connect(p.now,
                   {.local_port = 1, .remote_port = 2, .iss = SeqNum(0xfffff000u), .ts_offset = 5});
  p.server.listen({.local_port = 2, .remote_port = 1, .iss = SeqNum(77), .ts_offset = 9});
  size_t written_c = 0, written_s = 0;
  std::vector<uint8_t> got_s, got_c;
  std::array<uint8_t, 65536> buf;
  bool closed_c = false, closed_s = false;
  for (int i = 0; i < 2'000'000 && p.step(); ++i) {
    auto pump = [&](Connection& c, size_t& written, std::vector<uint8_t>& got, bool& closed) {
      while (size_t n = c.recv(p.now, buf)) got.insert(got.end(), buf.begin(), buf.begin() + n);
      if (!c.is_established()) return;
      if (written < data.size()) {
        written += c.send(p.now, std::span(data).subspan(written));
        if (written == data.size()) c.shutdown(p.now);
      }
      while (size_t n = c.recv(p.now, buf)) got.insert(got.end(), buf.begin(), buf.begin() + n);
      if (!closed && c.read_eof()) {
        closed = true;
        c.close(p.now);
      }
    };
    pump(p.client, written_c, got_c, closed_c);
    pump(p.server, written_s, got_s, closed_s);
  }
  EXPECT_EQ(got_s.size(), data.size());
  EXPECT_EQ(got_c.size(), data.size());
  auto dump = [](const char* name, const Connection& c) {
    const ConnectionStats& s = c.stats();
    ADD_FAILURE() << name << " " << to_string(c.state()) << " sent " << s.segments_sent << " rcvd "
                  << s.segments_received << " unacceptable " << s.dropped_unacceptable
                  << " bad_ack " << s.dropped_bad_ack << " paws " << s.dropped_paws << " other "
                  << s.dropped_other << " malformed " << s.dropped_malformed_total() << " ooo "
                  << s.out_of_order_segments << " rexmit " << s.retransmitted_segments << " rto "
                  << s.rto_timeouts << " queued " << c.send_queued();
  };
  if (::testing::Test::HasFailure()) {
    dump("client", p.client);
    dump("server", p.server);
  }
  EXPECT_TRUE(got_s == data) << "client to server bytes differ";
  EXPECT_TRUE(got_c == data) << "server to client bytes differ";
  EXPECT_EQ(p.client.state(), TcpState::kClosed) << to_string(p.client.state());
  EXPECT_EQ(p.server.state(), TcpState::kClosed) << to_string(p.server.state());
  EXPECT_EQ(p.client.error(), 0);
  EXPECT_EQ(p.server.error(), 0);
  EXPECT_EQ(p.client.next_deadline(), std::nullopt);
  EXPECT_EQ(p.server.next_deadline(), std::nullopt);
}

ConnectionConfig pipe_config() {
  ConnectionConfig c;
  c.msl = std::chrono::seconds(1);
  c.send_buffer = c.receive_buffer = 256 * 1024;
  return c;
}

TEST(Pipe, CleanTransferBothWays) {
  Pipe p(pipe_config());
  run_transfer(p, 2'000'000);
  EXPECT_EQ(p.client.stats().retransmitted_segments, 0u);
}

TEST(Pipe, EveryTenthDatagramLost) {
  Pipe p(pipe_config());
  p.keep = [](bool, uint64_t i) { return i % 10 != 3; };
  run_transfer(p, 1'000'000);
  EXPECT_GT(p.client.stats().retransmitted_segments, 0u);
}

TEST(Pipe, LossWithoutSackUsesNewReno) {
  ConnectionConfig c = pipe_config();
  c.sack = false;
  c.timestamps = false;
  Pipe p(c);
  p.keep = [](bool, uint64_t i) { return i % 17 != 5; };
  run_transfer(p, 500'000);
  EXPECT_GT(p.client.stats().fast_recoveries + p.server.stats().fast_recoveries, 0u);
}

TEST(Pipe, RandomLossManySeeds) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    Pipe p(pipe_config());
    std::mt19937 rng(seed);
    p.keep = [&](bool, uint64_t) { return rng() % 100 >= 15; };
    run_transfer(p, 200'000);
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
  }
}

}  // namespace
}  // namespace tou
