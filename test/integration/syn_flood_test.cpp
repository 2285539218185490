// A listener under a SYN flood (RFC 4987) on loopback: SYN cookies once the
// backlog is full, connections made from them, forged cookies reset, the
// half-open table bounded, RSTs to strays rate-limited; and legitimate
// clients connecting while hundreds of sources flood the port. Assertions are
// on counts, never on timing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "integration/raw_peer.hpp"
#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {
namespace {

using tou::SegmentHeader;
using tou::SeqNum;
namespace flags = tou::flags;

void set_cookies(int fd, int mode) {
  ASSERT_EQ(tou_setsockopt(fd, SOL_TOU, TOU_SYNCOOKIES, &mode, sizeof mode), 0);
}

TEST(SynFlood, CookieOptionValidated) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
  ASSERT_TRUE(ls);
  int v = -1;
  socklen_t len = sizeof v;
  ASSERT_EQ(tou_getsockopt(ls.get(), SOL_TOU, TOU_SYNCOOKIES, &v, &len), 0);
  EXPECT_EQ(v, 1) << "on once the backlog is full, by default";
  int bad = 3;
  EXPECT_EQ(tou_setsockopt(ls.get(), SOL_TOU, TOU_SYNCOOKIES, &bad, sizeof bad), -1);
  EXPECT_EQ(errno, EINVAL);
}

// The backlog is full of half-open connections: the next SYN gets a cookie,
// its ACK makes a connection at once, and data flows both ways.
TEST(SynFlood, FullBacklogAnswersWithCookieAndTheAckConnects_RFC4987_3_6) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
  ASSERT_TRUE(ls);
  RawPeer a(port), b(port), c(port);
  a.send(a.header(flags::kSyn, 1));
  ASSERT_TRUE(a.receive(5000));
  b.send(b.header(flags::kSyn, 1));
  ASSERT_TRUE(b.receive(5000));
  c.send(c.header(flags::kSyn, 70000));
  auto synack = c.receive(5000);
  ASSERT_TRUE(synack) << "a cookie, not a drop";
  EXPECT_EQ(synack->header.flags, flags::kSyn | flags::kAck);
  EXPECT_EQ(synack->header.ack, SeqNum(70001));
  EXPECT_EQ(synack->header.options.mss.has_value(), true);
  EXPECT_FALSE(synack->header.options.window_scale) << "no timestamps in the SYN: MSS only";
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.half_open, 2u);
  EXPECT_EQ(info.syn_cookies_sent, 1u);

  // The ACK carries the first bytes.
  const std::array<uint8_t, 5> hello = {'h', 'e', 'l', 'l', 'o'};
  SeqNum iss = synack->header.seq;
  c.send(c.header(flags::kAck | flags::kPsh, 70001, iss.raw() + 1), hello);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  set_timeouts(s.get());
  std::array<uint8_t, 5> got{};
  ASSERT_TRUE(read_exact(s.get(), got.data(), got.size()));
  EXPECT_EQ(got, hello);
  info = listener_info(ls.get());
  EXPECT_EQ(info.syn_cookies_validated, 1u);
  EXPECT_EQ(info.half_open, 2u) << "the cookie's connection never was half-open";
  // And back.
  ASSERT_TRUE(write_all(s.get(), hello.data(), hello.size()));
  std::optional<RawPeer::Received> seg;
  for (int i = 0; i < 20 && (!seg || seg->payload == 0); ++i) seg = c.receive(5000);
  ASSERT_TRUE(seg);
  EXPECT_EQ(seg->payload, hello.size());
  EXPECT_EQ(seg->header.seq, iss + 1);
}

TEST(SynFlood, ForgedCookieIsRejectedAndReset_RFC4987_3_6) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 1, &port);
  ASSERT_TRUE(ls);
  RawPeer a(port), c(port);
  a.send(a.header(flags::kSyn, 1));
  ASSERT_TRUE(a.receive(5000));
  c.send(c.header(flags::kSyn, 500));
  auto synack = c.receive(5000);
  ASSERT_TRUE(synack);
  // The right ISN + 1000: not a cookie of ours.
  c.send(c.header(flags::kAck, 501, synack->header.seq.raw() + 1001));
  auto rst = c.receive(5000);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->header.flags, flags::kRst);
  // Another client ISN with the right cookie: also not ours.
  c.send(c.header(flags::kAck, 601, synack->header.seq.raw() + 1));
  ASSERT_TRUE(c.receive(5000));
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.syn_cookies_rejected, 2u);
  EXPECT_EQ(info.syn_cookies_validated, 0u);
  EXPECT_EQ(info.handed_over, 0u);
}

// TOU_SYNCOOKIES 2: every connection is made from a cookie; a tou client's
// SYN has timestamps, so window scaling and SACK survive, and a transfer is
// byte-exact both ways.
void always_cookies_transfer(int family) {
  uint16_t port = 0;
  Fd ls = listen_on(family, 4, &port, [](int fd) { set_cookies(fd, 2); });
  ASSERT_TRUE(ls);
  Fd c = connect_to(family, port);
  ASSERT_TRUE(c);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  set_timeouts(s.get());
  tou_info ti{};
  socklen_t len = sizeof ti;
  ASSERT_EQ(tou_getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
  EXPECT_GT(ti.snd_wscale, 0) << "window scaling kept in the TSval";
  EXPECT_EQ(ti.options & TOU_OPT_SACK, TOU_OPT_SACK);
  EXPECT_EQ(ti.options & TOU_OPT_TIMESTAMPS, TOU_OPT_TIMESTAMPS);
  size_t n = scaled(4 << 20, 1 << 20);
  std::vector<uint8_t> data = random_bytes(n, 12);
  std::thread writer([&] {
    write_all(c.get(), data.data(), data.size());
    ::shutdown(c.get(), SHUT_WR);
  });
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(s.get(), got));
  writer.join();
  EXPECT_EQ(got, data);
  tou_listener_info info = listener_info(ls.get());
  EXPECT_EQ(info.syn_cookies_sent, 1u);
  EXPECT_EQ(info.syn_cookies_validated, 1u);
  EXPECT_EQ(info.half_open, 0u);
}

TEST(SynFlood, AlwaysCookiesKeepsOptionsAndTransfersExactly) {
  always_cookies_transfer(AF_INET);
}

TEST(SynFlood, AlwaysCookiesOverIpv6) {
  always_cookies_transfer(AF_INET6);
}

TEST(SynFlood, ResetsToStraysAreRateLimited) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
  ASSERT_TRUE(ls);
  RawPeer stray(port);
  constexpr uint64_t kStrays = 3000;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < kStrays; ++i) {
    stray.send(stray.header(flags::kAck, 5000, static_cast<uint32_t>(i)));
    if (i % 256 == 255) ::usleep(1000);  // room in the socket buffers
  }
  auto counted = [&] {
    tou_listener_info i = listener_info(ls.get());
    return i.resets_sent + i.resets_suppressed + i.syn_cookies_rejected;
  };
  ASSERT_TRUE(wait_until([&] { return counted() == kStrays; }, std::chrono::seconds(30)))
      << counted();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  tou_listener_info info = listener_info(ls.get());
  // 100 at once, then 1000 a second: whatever the machine's speed.
  EXPECT_LE(static_cast<double>(info.resets_sent), 100 + 1000 * elapsed + 1);
  if (elapsed < 2.0) {
    EXPECT_GT(info.resets_suppressed, 0u);
  }
}

// Linux's request-queue pruning: with more than half the backlog half-open, a
// half-open connection goes after two unanswered SYN-ACK retransmissions
// (at 1 s and 3 s, dropped at its 7 s timer); at half or less, it is retried.
// Each waits for real timers: about 7 s.
TEST(SynFlood, HalfOpenConnectionsPrunedUnderPressureOnly) {
  uint16_t crowded_port = 0, calm_port = 0;
  Fd crowded = listen_on(AF_INET, 8, &crowded_port);  // 8 of 8 half-open: pressure
  Fd calm = listen_on(AF_INET, 16, &calm_port);       // 8 of 16: none
  ASSERT_TRUE(crowded && calm);
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 16; ++i) {
    peers.push_back(std::make_unique<RawPeer>(i < 8 ? crowded_port : calm_port));
    peers.back()->send(flags::kSyn, 100);
  }
  ASSERT_TRUE(wait_until([&] { return listener_info(crowded.get()).half_open == 8; },
                         std::chrono::seconds(5)));
  ASSERT_TRUE(wait_until([&] { return listener_info(calm.get()).half_open == 8; },
                         std::chrono::seconds(5)));
  // Pruning stops once half the backlog is free (Linux keeps half for young ones).
  ASSERT_TRUE(wait_until([&] { return listener_info(crowded.get()).half_open_evicted == 4; },
                         std::chrono::seconds(30)));
  EXPECT_EQ(listener_info(crowded.get()).half_open, 4u);
  // The pruned ones saw their SYN-ACK three times (the first and two retries);
  // the others, met at their 7 s timer with the pressure gone, a fourth time.
  // (The next retry is due at 15 s: no more can come while this waits.)
  std::array<int, 8> synacks{};
  auto total = [&] {
    int sum = 0;
    for (size_t i = 0; i < 8; ++i) {
      while (peers[i]->receive(0)) ++synacks[i];
      sum += synacks[i];
    }
    return sum;
  };
  EXPECT_TRUE(wait_until([&] { return total() == 4 * 3 + 4 * 4; }, std::chrono::seconds(6)))
      << total();
  std::array<int, 5> peers_by_synacks{};
  for (int n : synacks) ++peers_by_synacks[static_cast<size_t>(std::min(n, 4))];
  EXPECT_EQ(peers_by_synacks[3], 4);
  EXPECT_EQ(peers_by_synacks[4], 4);
  tou_listener_info c = listener_info(calm.get());
  EXPECT_EQ(c.half_open_evicted, 0u);
  EXPECT_EQ(c.half_open, 8u) << "without pressure the SYN-ACKs are retried";
  // Room again: a new SYN gets a half-open connection, not a cookie.
  RawPeer next(crowded_port);
  next.send(flags::kSyn, 100);
  ASSERT_TRUE(next.receive(5000));
  EXPECT_EQ(listener_info(crowded.get()).half_open, 5u);
  EXPECT_EQ(listener_info(crowded.get()).syn_cookies_sent, 0u);
}

// TIME-WAIT answers the peer's FIN retransmitted every time (RFC 9293
// 3.10.7.4), anything else once per 500 ms.
TEST(SynFlood, TimeWaitAcksToStraysAreRateLimited) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 2, &port);
  ASSERT_TRUE(ls);
  RawPeer p(port);
  p.send(flags::kSyn, 1000);
  auto synack = p.receive(5000);
  ASSERT_TRUE(synack);
  uint32_t iss = synack->header.seq.raw();
  p.send(flags::kAck, 1001, iss + 1);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  s.reset();  // the server closes first: FIN
  auto fin = p.receive(5000);
  ASSERT_TRUE(fin);
  ASSERT_TRUE(fin->header.has(flags::kFin));
  // Our FIN with the ACK of theirs: the server enters TIME-WAIT and acknowledges.
  p.send(flags::kFin | flags::kAck, 1001, iss + 2);
  auto last = p.receive(5000);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header.ack, SeqNum(1002));
  ASSERT_TRUE(
      wait_until([&] { return listener_info(ls.get()).half_open == 0; }, std::chrono::seconds(5)));
  for (int i = 0; i < 3; ++i) {
    p.send(flags::kFin | flags::kAck, 1001, iss + 2);  // a retransmitted FIN: always answered
    auto again = p.receive(5000);
    ASSERT_TRUE(again) << i;
    EXPECT_EQ(again->header.ack, SeqNum(1002));
  }
  p.send(flags::kAck, 90000, iss + 2);  // a stray: answered once...
  EXPECT_TRUE(p.receive(5000));
  for (int i = 0; i < 5; ++i) p.send(flags::kAck, 90000 + static_cast<uint32_t>(i), iss + 2);
  ASSERT_TRUE(wait_until([&] { return listener_info(ls.get()).time_wait_acks_suppressed == 5; },
                         std::chrono::seconds(5)));
  EXPECT_EQ(listener_info(ls.get()).time_wait_acks_suppressed, 5u) << "...then limited";
}

// Hundreds of sources flood the port with SYNs while legitimate clients
// connect: every legitimate connection succeeds and carries its byte, the
// half-open table never exceeds the backlog, and cookies are counted.
TEST(SynFlood, LegitimateClientsConnectDuringAFlood_RFC4987) {
  constexpr int kBacklog = 16;
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, kBacklog, &port);
  ASSERT_TRUE(ls);
  std::vector<std::unique_ptr<RawPeer>> flood;
  for (uint8_t host = 2; host < 10; ++host) {
    for (int i = 0; i < 32; ++i) flood.push_back(std::make_unique<RawPeer>(port, host));
  }
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> max_half_open{0};
  std::thread flooder([&] {
    std::mt19937 rng(4987);
    const int rounds = static_cast<int>(scaled(40, 10));
    for (int r = 0; r < rounds && !stop; ++r) {
      for (auto& p : flood) p->send(p->header(flags::kSyn, rng()));
      uint32_t h = listener_info(ls.get()).half_open;
      if (h > max_half_open) max_half_open = h;
      ::usleep(2000);
    }
  });
  std::thread acceptor([&] {
    for (int i = 0; i < 20; ++i) {
      Fd s(tou_accept(ls.get(), nullptr, nullptr));
      if (!s) return;
      set_timeouts(s.get());
      uint8_t b = 0;
      if (read_exact(s.get(), &b, 1)) write_all(s.get(), &b, 1);
    }
  });
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    Fd c = connect_to(AF_INET, port);
    if (!c) continue;
    uint8_t b = static_cast<uint8_t>(i), back = 0;
    if (write_all(c.get(), &b, 1) && read_exact(c.get(), &back, 1) && back == b) ++ok;
  }
  flooder.join();
  stop = true;
  acceptor.join();
  EXPECT_EQ(ok, 20);
  tou_listener_info info = listener_info(ls.get());
  EXPECT_LE(max_half_open.load(), static_cast<uint32_t>(kBacklog));
  EXPECT_LE(info.half_open, static_cast<uint32_t>(kBacklog));
  EXPECT_GT(info.syn_cookies_sent, 0u);
  EXPECT_GE(info.syn_received, flood.size());
  EXPECT_EQ(info.handed_over, 20u);
}

}  // namespace
}  // namespace tou_test
