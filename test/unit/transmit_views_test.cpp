// Zero-copy transmit: a datagram from poll_transmit_views() (a header plus views
// of the send buffer) is byte for byte the one poll_transmit() writes, checksum
// included. Two twin clients get exactly the same input, one read each way, and
// a real server core is their peer: data, retransmissions, FIN and a ring that
// wraps all go through both.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/connection.hpp"
#include "core/send_buffer.hpp"
#include "wire/segment.hpp"

namespace tou {
namespace {

std::vector<uint8_t> pattern(size_t n, size_t from) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((from + i) * 131 + 7);
  return v;
}

std::vector<uint8_t> gather(std::span<const uint8_t> header, const TransmitViews& v) {
  std::vector<uint8_t> d(header.begin(), header.begin() + static_cast<ptrdiff_t>(v.header_len));
  for (std::span<const uint8_t> p : v.payload) d.insert(d.end(), p.begin(), p.end());
  return d;
}

struct Twins {
  static constexpr uint16_t kClientPort = 40000, kServerPort = 7000;
  ConnectionConfig config;
  Connection copy, views, server;
  Instant now{};
  std::array<uint8_t, 70000> buf{};
  std::array<uint8_t, 70000> header{};
  std::vector<uint8_t> received;
  size_t written = 0;
  bool shut = false;
  size_t datagrams = 0, payload_datagrams = 0, wrapped = 0;
  uint64_t client_sent = 0;
  // Drop client datagram number i when this says so (a retransmission follows).
  bool (*drop)(uint64_t) = [](uint64_t) { return false; };

  explicit Twins(ConnectionConfig c) : config(c), copy(c), views(c), server(c) {
    server.listen({.local_port = kServerPort, .remote_port = kClientPort, .iss = SeqNum(9000)});
    const OpenParams p{.local_port = kClientPort, .remote_port = kServerPort, .iss = SeqNum(1000)};
    copy.connect(now, p);
    views.connect(now, p);
  }

  // Both clients send their next datagrams: they must agree byte for byte.
  void client_out() {
    for (int i = 0; i < 100000; ++i) {
      const size_t n = copy.poll_transmit(now, buf);
      const TransmitViews v = views.poll_transmit_views(now, header);
      ASSERT_EQ(v.size(), n);
      if (n == 0) return;
      const std::vector<uint8_t> gathered = gather(header, v);
      ASSERT_TRUE(std::equal(gathered.begin(), gathered.end(), buf.begin()))
          << "datagram " << datagrams;
      ASSERT_TRUE(parse_segment(gathered).ok());  // the checksum verifies
      ++datagrams;
      if (v.payload_size() > 0) ++payload_datagrams;
      if (!v.payload[1].empty()) ++wrapped;
      if (!drop(client_sent++)) server.on_datagram(now, {buf.data(), n});
    }
    FAIL() << "no end to the client's datagrams";
  }
  void server_out() {
    while (size_t n = server.poll_transmit(now, buf)) {
      copy.on_datagram(now, {buf.data(), n});
      views.on_datagram(now, {buf.data(), n});
    }
    std::array<uint8_t, 65536> in;
    while (size_t n = server.recv(now, in))
      received.insert(received.end(), in.begin(), in.begin() + n);
  }
  void write_up_to(size_t total) {
    if (written >= total) return;
    const std::vector<uint8_t> data = pattern(total - written, written);
    const size_t a = copy.send(now, data);
    ASSERT_EQ(views.send(now, data), a);
    written += a;
  }
  // Runs until both sides are idle or `steps` turns passed.
  void run(size_t total, bool close_after, int steps) {
    for (int i = 0; i < steps; ++i) {
      write_up_to(total);
      if (close_after && written == total && !shut && copy.is_established()) {
        copy.shutdown(now);
        views.shutdown(now);
        shut = true;
      }
      client_out();
      server_out();
      std::optional<Instant> next = copy.next_deadline();
      ASSERT_EQ(next, views.next_deadline());
      if (auto d = server.next_deadline(); d && (!next || *d < *next)) next = d;
      if (received.size() == total && (!close_after || server.state() == TcpState::kCloseWait))
        return;
      if (!next) continue;
      now = std::max(now, *next);
      copy.on_timer(now);
      views.on_timer(now);
      server.on_timer(now);
    }
    FAIL() << "not done after " << steps << " turns: client " << to_string(copy.state())
           << " server " << to_string(server.state()) << " datagrams " << datagrams << " written "
           << written << " received " << received.size();
  }
};

TEST(TransmitViews, DataAndFinAreTheBytesPollTransmitWrites) {
  Twins t(ConnectionConfig{});
  t.run(300000, true, 10000);
  EXPECT_EQ(t.received, pattern(300000, 0));
  EXPECT_GT(t.payload_datagrams, 200u);
  EXPECT_EQ(t.copy.stats().segments_sent, t.views.stats().segments_sent);
}

TEST(TransmitViews, RetransmissionsAreTheSameBytes) {
  Twins t(ConnectionConfig{});
  t.drop = [](uint64_t i) { return i % 9 == 5; };
  t.run(200000, true, 20000);
  EXPECT_EQ(t.received, pattern(200000, 0));
  EXPECT_GT(t.views.stats().retransmitted_segments, 0u);
  EXPECT_EQ(t.copy.stats().retransmitted_segments, t.views.stats().retransmitted_segments);
}

TEST(TransmitViews, APayloadAcrossTheRingsWrapIsTwoViews) {
  ConnectionConfig c;
  c.mss = 1000;  // segments that straddle the 16 KiB ring's end
  c.send_buffer = SendBuffer::kInitialAllocation;
  Twins t(c);
  t.drop = [](uint64_t i) { return i % 13 == 7; };
  t.run(150000, true, 20000);
  EXPECT_EQ(t.received, pattern(150000, 0));
  EXPECT_GT(t.wrapped, 0u);
  EXPECT_GT(t.views.stats().retransmitted_segments, 0u);
}

TEST(TransmitViews, NoPayloadMeansTheWholeDatagramIsTheHeader) {
  Connection c;
  c.connect(Instant{}, {.local_port = 1, .remote_port = 2, .iss = SeqNum(77)});
  std::array<uint8_t, 1600> out{};
  const TransmitViews v = c.poll_transmit_views(Instant{}, out);
  EXPECT_GT(v.header_len, 20u);  // a SYN with options
  EXPECT_EQ(v.payload_size(), 0u);
  const ParseResult r = parse_segment({out.data(), v.header_len});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.segment.header.has(flags::kSyn));
  EXPECT_EQ(c.poll_transmit_views(Instant{}, out).header_len, 0u);
}

}  // namespace
}  // namespace tou
