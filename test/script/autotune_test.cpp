// Receive buffer autotuning (core/receive_autotune.hpp, Linux's
// tcp_rcv_space_adjust) end to end in virtual time: two cores joined by the
// in-memory pipe, the server reading at a chosen rate. The window grows when
// the reader keeps up, stays small when it is slow, and its right edge never
// moves back (RFC 9293 3.8.6.2.2), even when SO_RCVBUF is lowered on the open
// connection. Then the exact segments of that last case, scripted.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <random>
#include <vector>

#include "core/connection.hpp"
#include "script/pipe.hpp"
#include "script/script.hpp"

namespace tou {
namespace {

constexpr size_t kLimit = 4 << 20;
constexpr size_t kInitial = 64 * 1024;

ConnectionConfig autotune_config() {
  ConnectionConfig c;
  c.msl = std::chrono::seconds(1);
  c.send_buffer = kLimit;
  c.receive_buffer = kLimit;
  c.receive_autotune = true;
  c.receive_autotune_initial = kInitial;
  return c;
}

uint8_t pattern(size_t i) {
  return static_cast<uint8_t>(i * 7 % 251);
}

// Watches the server's segments: the right edge it offers (ACK + window, scaled).
struct EdgeWatch {
  uint8_t shift = 0;  // the server's Rcv.Wind.Shift, from its SYN-ACK
  std::optional<SeqNum> edge;
  int moved_back = 0;
  uint32_t max_window = 0;
  // Windows offered by segments that acknowledge `from` or more.
  std::optional<SeqNum> from;
  uint32_t max_window_from = 0;

  void on(std::span<const uint8_t> bytes) {
    ParseResult r = parse_segment(bytes);
    if (r.error != ParseError::kNone) return;
    const SegmentHeader& h = r.segment.header;
    if (h.has(flags::kSyn)) {
      shift = h.options.window_scale.value_or(0);  // RFC 7323 2.2: the SYN's is unscaled
      return;
    }
    if (!h.has(flags::kAck) || h.has(flags::kRst)) return;
    const uint32_t window = uint32_t{h.window} << shift;
    const SeqNum e = h.ack + window;
    if (edge && e < *edge) ++moved_back;
    edge = edge ? seq_max(*edge, e) : e;
    max_window = std::max(max_window, window);
    if (from && h.ack >= *from) max_window_from = std::max(max_window_from, window);
  }
};

// The client sends `total` bytes; the server reads what `may_have_read(now)`
// allows by then.
struct Bulk {
  Pipe p;
  EdgeWatch watch;
  size_t total;
  size_t written = 0;
  size_t read = 0;
  bool bytes_ok = true;

  Bulk(const ConnectionConfig& c, size_t total_bytes) : p(c), total(total_bytes) {
    p.tap = [this](bool from_client, std::span<const uint8_t> d) {
      if (!from_client) watch.on(d);
    };
    p.client.connect(p.now, {.local_port = 1, .remote_port = 2, .iss = SeqNum(0xfffff000u)});
    p.server.listen({.local_port = 2, .remote_port = 1, .iss = SeqNum(77), .ts_offset = 9});
  }

  // Runs until `until` (virtual time) or until everything was read.
  void run(Instant until, const std::function<size_t(Instant)>& may_have_read) {
    std::array<uint8_t, 65536> buf;
    for (int i = 0; i < 2'000'000 && p.now < until && read < total; ++i) {
      if (!p.step()) p.now += std::chrono::milliseconds(1);
      if (p.client.is_established() && written < total) {
        auto spans = p.client.send_spans(total - written);
        size_t n = 0;
        for (std::span<uint8_t> s : spans) {
          for (uint8_t& b : s) b = pattern(written + n++);
        }
        p.client.send_commit(p.now, n);
        written += n;
      }
      const size_t allowed = std::min(total, may_have_read(p.now));
      while (read < allowed) {
        size_t n = p.server.recv(p.now, std::span(buf).first(std::min(buf.size(), allowed - read)));
        if (n == 0) break;
        for (size_t k = 0; k < n; ++k) bytes_ok = bytes_ok && buf[k] == pattern(read + k);
        read += n;
      }
    }
  }
};

size_t unlimited(Instant) {
  return SIZE_MAX;
}

Instant at_s(int s) {
  return instant_from_us(int64_t{s} * 1'000'000);
}

// Virtual time a transfer of `total` bytes takes with this configuration.
Duration transfer_time(const ConnectionConfig& c, size_t total) {
  Bulk b(c, total);
  b.run(at_s(60), unlimited);
  EXPECT_EQ(b.read, total);
  return b.p.now - Instant{};
}

TEST(Autotune, WindowGrowsWhenTheReaderKeepsUp) {
  Bulk b(autotune_config(), 8 << 20);
  EXPECT_EQ(b.p.server.info().rcv_space, 0u + kInitial);
  b.run(at_s(60), unlimited);
  ASSERT_EQ(b.read, b.total);
  EXPECT_TRUE(b.bytes_ok);
  const ConnectionInfo info = b.p.server.info();
  EXPECT_GT(info.stats.receive_buffer_growths, 0u);
  EXPECT_GE(info.rcv_space, 1u << 20) << "grew from 64 KiB";
  EXPECT_LE(info.rcv_space, kLimit);
  EXPECT_GE(b.watch.max_window, 1u << 20) << "and offered it";
  EXPECT_EQ(info.rcv_rtt, std::chrono::milliseconds(10)) << "the pipe's round trip, from TSecr";
  EXPECT_EQ(b.watch.moved_back, 0);
}

TEST(Autotune, GrowsAboutAsFastAsTheSendersWindow) {
  // A 4 MiB buffer from the start beside one that starts at 64 KiB: a reader that
  // keeps up loses a few round trips at most (the pipe's round trip is 10 ms).
  ConnectionConfig fixed = autotune_config();
  fixed.receive_autotune = false;
  const Duration with_fixed = transfer_time(fixed, 8 << 20);
  const Duration with_autotune = transfer_time(autotune_config(), 8 << 20);
  EXPECT_LE(with_autotune, with_fixed + std::chrono::milliseconds(40))
      << "fixed " << with_fixed.count() << " us, autotuned " << with_autotune.count() << " us";
}

TEST(Autotune, WindowGrowsWithoutTimestamps) {
  // The round trip measured as the time to receive one window (tcp_rcv_rtt_measure).
  ConnectionConfig c = autotune_config();
  c.timestamps = false;
  Bulk b(c, 8 << 20);
  b.run(at_s(60), unlimited);
  ASSERT_EQ(b.read, b.total);
  EXPECT_TRUE(b.bytes_ok);
  EXPECT_GE(b.p.server.info().rcv_space, 1u << 20);
  EXPECT_GT(b.p.server.info().rcv_rtt, std::chrono::milliseconds(0));
  EXPECT_EQ(b.watch.moved_back, 0);
}

TEST(Autotune, WindowStaysSmallWhenTheReaderIsSlow) {
  // One read of 2 KiB every 10 ms (the round trip) while there is data: a measure of
  // at least a round trip sees at most three reads, less than the first round trip's
  // space (5 segments).
  Bulk b(autotune_config(), 8 << 20);
  b.p.max_step = std::chrono::milliseconds(1);
  int64_t last_tick = -1;
  size_t allowed = 0;
  b.run(at_s(5), [&](Instant now) {
    const int64_t tick = to_us(now) / 10'000;
    if (tick != last_tick && b.p.server.readable() > 0) {
      last_tick = tick;
      allowed = b.read + 2048;
    }
    return allowed;
  });
  EXPECT_GE(b.read, 950'000u) << "the reader was served";
  EXPECT_TRUE(b.bytes_ok);
  const ConnectionInfo info = b.p.server.info();
  EXPECT_EQ(info.stats.receive_buffer_growths, 0u);
  EXPECT_EQ(info.rcv_space, 0u + kInitial);
  EXPECT_LE(b.watch.max_window, kInitial);
  EXPECT_EQ(b.watch.moved_back, 0);
}

TEST(Autotune, RightEdgeNeverMovesBackUnderLoss) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    Bulk b(autotune_config(), 2 << 20);
    std::mt19937 rng(seed);
    b.p.keep = [&](bool, uint64_t) { return rng() % 100 >= 3; };
    b.run(at_s(120), unlimited);
    EXPECT_EQ(b.read, b.total) << "seed " << seed;
    EXPECT_TRUE(b.bytes_ok) << "seed " << seed;
    EXPECT_EQ(b.watch.moved_back, 0) << "seed " << seed;
  }
}

TEST(Autotune, RcvbufSetOnTheOpenConnectionStopsGrowthAndLowersTheEdge) {
  Bulk b(autotune_config(), 12 << 20);
  b.run(at_s(60), [&](Instant) { return b.read < (2 << 20) ? SIZE_MAX : b.read; });
  ASSERT_GE(b.read, 2u << 20);
  const ConnectionInfo grown = b.p.server.info();
  ASSERT_GE(grown.rcv_space, 512u * 1024) << "grown before SO_RCVBUF";

  // SO_RCVBUF 64 KiB: the window already offered stays, nothing grows any more.
  constexpr size_t kRcvbuf = 64 * 1024;
  b.p.server.set_receive_buffer_limit(kRcvbuf);
  ASSERT_TRUE(b.watch.edge);
  b.watch.from = *b.watch.edge;  // once this is acknowledged, windows fit in kRcvbuf
  EXPECT_EQ(b.p.server.info().rcv_wnd, grown.rcv_wnd) << "the window offered is kept";
  const uint64_t growths = grown.stats.receive_buffer_growths;

  b.run(at_s(120), unlimited);
  ASSERT_EQ(b.read, b.total);
  EXPECT_TRUE(b.bytes_ok);
  const ConnectionInfo after = b.p.server.info();
  EXPECT_EQ(after.stats.receive_buffer_growths, growths) << "no growth after SO_RCVBUF";
  EXPECT_EQ(after.rcv_space, kRcvbuf) << "the buffer came down as the program read";
  EXPECT_GT(b.watch.max_window_from, 0u) << "segments after the promise were seen";
  EXPECT_LE(b.watch.max_window_from, kRcvbuf);
  EXPECT_EQ(b.watch.moved_back, 0);
}

}  // namespace

namespace script {
namespace {

Seg peer(uint32_t seq, uint32_t ack) {
  return seg().ack_flag().seq(seq).ack(ack).win(65535);
}

ConnectionConfig scripted_autotune_config() {
  ConnectionConfig c = ScriptTest::default_config();  // no window scaling
  c.receive_autotune = true;
  c.receive_buffer = 64 * 1024;
  c.receive_autotune_initial = 16 * 1024;
  return c;
}

TEST(AutotuneScript, HandshakeOffersTheInitialWindow) {
  ScriptTest t(scripted_autotune_config());
  t.conn().connect(t.now(), t.params());
  t.expect(seg().syn().seq(1000).win(16 * 1024));
  t.inject(seg().syn().ack_flag().seq(5000).ack(1001).mss(1460).win(65535));
  t.expect(seg().ack_flag().seq(1001).ack(5001).win(16 * 1024));
}

// SO_RCVBUF 4096 after a 16 KiB window was offered: the peer may still fill
// that window (it is not taken back), and reads move the right edge on only
// once it lies less than 4096 bytes past what was read.
TEST(AutotuneScript, RcvbufOnAnOpenConnectionLowersTheEdgeAsDataIsRead_RFC9293_3_8_6_2_2) {
  ScriptTest t(scripted_autotune_config());
  t.establish_active();
  constexpr uint32_t kPromised = 5001 + 16 * 1024;  // the right edge offered so far
  t.conn().set_receive_buffer_limit(4096);
  t.expect_nothing();
  t.inject(peer(5001, 1001).data(1460));
  t.at_ms(100);
  t.expect(seg().ack_flag().ack(6461).win(16384 - 1460), "delayed ACK: the edge stays");
  EXPECT_EQ(t.app_recv().size(), 1460u);
  t.expect_nothing();  // reading frees room, but the edge stays where it was
  // The peer sends what each ACK allows, the program reading along.
  uint32_t seq = 6461;
  uint32_t edge = kPromised;
  int acks = 0;
  for (int i = 0; i < 40 && seq < kPromised + 8192; ++i) {
    const uint32_t len = std::min<uint32_t>(1460, edge - seq);
    ASSERT_GT(len, 0u) << "the window closed though the program read everything";
    t.inject(peer(seq, 1001).data(len));
    seq += len;
    EXPECT_EQ(t.app_recv().size(), len);
    t.at_ms(200 + 100 * i);  // the delayed ACK
    t.drain();
    while (t.pending() > 0) {
      Captured a = t.take();
      ++acks;
      const uint32_t right = a.h.ack.raw() + a.h.window;
      EXPECT_GE(right, edge) << "the right edge moved back: " << a.str();
      EXPECT_LE(right, std::max(kPromised, a.h.ack.raw() + 4096)) << "past SO_RCVBUF: " << a.str();
      edge = std::max(edge, right);
    }
  }
  EXPECT_GT(acks, 10);
  EXPECT_GT(edge, kPromised) << "the edge moved on past the promise";
  EXPECT_EQ(t.conn().info().rcv_space, 4096u);
  EXPECT_EQ(t.conn().info().rcv_wnd, edge - seq);
  t.inject(peer(seq, 1001).data(edge - seq + 100));
  EXPECT_EQ(t.conn().readable(), edge - seq) << "past the edge: not accepted";
}

}  // namespace
}  // namespace script
}  // namespace tou
