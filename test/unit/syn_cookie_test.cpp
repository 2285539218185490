// SYN cookies (RFC 4987 3.6, Linux's layout): every option combination round
// trips; forged, expired and foreign cookies are rejected; the stateless
// SYN-ACK is the one a Connection would send. And the token bucket.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "core/connection.hpp"
#include "core/syn_cookie.hpp"
#include "core/token_bucket.hpp"

namespace tou {
namespace {

constexpr std::array<uint8_t, SynCookies::kKeySize> kKey = {1, 2,  3,  4,  5,  6,  7,  8,
                                                            9, 10, 11, 12, 13, 14, 15, 16};
constexpr uint32_t kTsOffset = 0x12345678;

std::vector<uint8_t> tuple(uint8_t last = 1) {
  std::vector<uint8_t> t(40, 0);
  t[0] = 127;
  t[3] = 1;
  t[20] = 127;
  t[23] = last;
  return t;
}

SegmentHeader syn(uint32_t isn = 777) {
  SegmentHeader h;
  h.src_port = 40000;
  h.dst_port = 7000;
  h.seq = SeqNum(isn);
  h.flags = flags::kSyn;
  h.window = 65535;
  return h;
}

// The client's ACK of a cookie SYN-ACK (its TS clock far from ours).
SegmentHeader ack_for(const SegmentHeader& s, const SynCookie& c) {
  SegmentHeader h;
  h.src_port = s.src_port;
  h.dst_port = s.dst_port;
  h.seq = s.seq + 1;
  h.ack = c.iss + 1;
  h.flags = flags::kAck;
  h.window = 1000;
  if (c.tsval && s.options.timestamps) h.options.timestamps = Timestamps{999'999, *c.tsval};
  return h;
}

Instant at_s(int64_t s) {
  return instant_from_us(s * 1'000'000 + 12'345);
}

TEST(SynCookie, EveryOptionCombinationRoundTrips) {
  SynCookies cookies(kKey);
  const std::vector<std::optional<uint16_t>> mss_values = {
      std::nullopt, 100, 536, 1000, 1212, 1220, 1440, 1452, 1460, 9000, 65487, 65535};
  const std::vector<std::optional<uint8_t>> scales = {std::nullopt, 0, 7, 14, 15};
  int cases = 0;
  for (auto mss : mss_values) {
    for (auto ws : scales) {
      for (bool sack : {false, true}) {
        for (bool ts : {false, true}) {
          SegmentHeader s = syn(1000u + static_cast<uint32_t>(cases) * 7919u);
          s.options.mss = mss;
          s.options.window_scale = ws;
          s.options.sack_permitted = sack;
          if (ts) s.options.timestamps = Timestamps{5555, 0};
          Instant now = at_s(100);
          uint32_t clock = ts_clock(now, kTsOffset);
          SynCookie c = cookies.make(now, tuple(), s, clock);
          ASSERT_EQ(c.tsval.has_value(), ts);
          if (ts) {
            EXPECT_LE(clock - *c.tsval, 63u) << "TSval is our clock, low 6 bits replaced";
          }
          // The ACK comes 3 ms later.
          Instant later = now + std::chrono::milliseconds(3);
          auto got = cookies.check(later, tuple(), ack_for(s, c), ts_clock(later, kTsOffset));
          ASSERT_TRUE(got.has_value()) << cases;
          uint16_t peer_mss = mss.value_or(536);
          uint16_t want_mss = kSynCookieMss[0];
          for (uint16_t m : kSynCookieMss) {
            if (m <= peer_mss) want_mss = m;
          }
          SynCookieOptions want;
          want.mss = want_mss;
          if (ts) {
            want.timestamps = true;
            if (ws) want.window_scale = std::min<uint8_t>(*ws, 14);
            want.sack_permitted = sack;
          }
          EXPECT_EQ(got->mss, want.mss) << cases;
          EXPECT_EQ(got->window_scale, want.window_scale) << cases;
          EXPECT_EQ(got->sack_permitted, want.sack_permitted) << cases;
          EXPECT_EQ(got->timestamps, want.timestamps) << cases;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 12 * 5 * 2 * 2);
}

TEST(SynCookie, ExpiresAfterTwoPeriods) {
  SynCookies cookies(kKey);
  SegmentHeader s = syn();
  Instant made = at_s(0);
  SynCookie c = cookies.make(made, tuple(), s, std::nullopt);
  SegmentHeader a = ack_for(s, c);
  EXPECT_TRUE(cookies.check(made, tuple(), a, std::nullopt));
  EXPECT_TRUE(cookies.check(made + SynCookies::kPeriod, tuple(), a, std::nullopt)) << "age 1";
  EXPECT_FALSE(cookies.check(made + 2 * SynCookies::kPeriod, tuple(), a, std::nullopt))
      << "age 2: expired";
  EXPECT_FALSE(cookies.check(made + 300 * SynCookies::kPeriod, tuple(), a, std::nullopt));
}

TEST(SynCookie, WrongTuplePortIsnOrKeyRejected) {
  SynCookies cookies(kKey);
  SegmentHeader s = syn();
  Instant now = at_s(50);
  SynCookie c = cookies.make(now, tuple(), s, std::nullopt);
  SegmentHeader a = ack_for(s, c);
  ASSERT_TRUE(cookies.check(now, tuple(), a, std::nullopt));
  EXPECT_FALSE(cookies.check(now, tuple(2), a, std::nullopt)) << "another address";
  SegmentHeader port = a;
  port.src_port = 40001;
  EXPECT_FALSE(cookies.check(now, tuple(), port, std::nullopt)) << "another port";
  SegmentHeader isn = a;
  isn.seq = a.seq + 1;
  EXPECT_FALSE(cookies.check(now, tuple(), isn, std::nullopt)) << "another client ISN";
  std::array<uint8_t, SynCookies::kKeySize> other = kKey;
  other[0] ^= 1;
  EXPECT_FALSE(SynCookies(other).check(now, tuple(), a, std::nullopt)) << "another secret";
  SegmentHeader rst = a;
  rst.flags |= flags::kRst;
  EXPECT_FALSE(cookies.check(now, tuple(), rst, std::nullopt)) << "an RST carries no cookie";
}

TEST(SynCookie, ForgedCookiesRejected) {
  SynCookies cookies(kKey);
  std::mt19937 rng(4987);
  Instant now = at_s(1000);
  int accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    SegmentHeader a = ack_for(syn(rng()), SynCookie{SeqNum(rng()), std::nullopt});
    if (cookies.check(now, tuple(), a, std::nullopt)) ++accepted;
  }
  // A guess passes with probability about 2^-27 (Linux's is 2^-28).
  EXPECT_EQ(accepted, 0);
}

TEST(SynCookie, StaleOrBadTimestampEchoRejected) {
  SynCookies cookies(kKey);
  SegmentHeader s = syn();
  s.options.timestamps = Timestamps{5555, 0};
  s.options.window_scale = 7;
  Instant now = at_s(10);
  SynCookie c = cookies.make(now, tuple(), s, ts_clock(now, kTsOffset));
  SegmentHeader a = ack_for(s, c);
  ASSERT_TRUE(cookies.check(now, tuple(), a, ts_clock(now, kTsOffset)));
  // Our TS clock a whole lifetime later: the echo is too old to be ours.
  Instant late = now + SynCookies::kLifetime + std::chrono::seconds(1);
  EXPECT_FALSE(cookies.check(now, tuple(), a, ts_clock(late, kTsOffset)));
  SegmentHeader unused = a;
  unused.options.timestamps->echo_reply |= 1u << 5;  // Linux's ECN bit: never set by tou
  EXPECT_FALSE(cookies.check(now, tuple(), unused, ts_clock(now, kTsOffset)));
  SegmentHeader wide = a;
  wide.options.timestamps->echo_reply = (wide.options.timestamps->echo_reply & ~0x3fu) | 0x0e;
  EXPECT_TRUE(cookies.check(now, tuple(), wide, ts_clock(now, kTsOffset))) << "shift 14";
  // Without timestamps on our side the echo is not looked at: the MSS only.
  auto plain = cookies.check(now, tuple(), a, std::nullopt);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->timestamps);
  EXPECT_FALSE(plain->window_scale);
}

// The stateless SYN-ACK is byte for byte what a Connection in SYN-RECEIVED
// sends, but for the TSval's low bits.
TEST(SynCookie, SynAckMatchesTheConnections) {
  for (bool ts : {false, true}) {
    ConnectionConfig cfg;
    cfg.mss = 1452;
    cfg.receive_buffer = 1 << 20;
    cfg.window_scale_space = 64 << 20;
    SegmentHeader s = syn();
    s.options.mss = 1460;
    s.options.window_scale = 7;
    s.options.sack_permitted = true;
    if (ts) s.options.timestamps = Timestamps{5555, 0};
    Instant now = at_s(5);
    SynCookies cookies(kKey);
    SynCookie c = cookies.make(now, tuple(), s, ts_clock(now, kTsOffset));
    SegmentHeader mine = cookie_syn_ack(cfg, s, c);

    Connection conn(cfg);
    conn.listen({.local_port = 7000, .remote_port = 0, .iss = c.iss, .ts_offset = kTsOffset});
    conn.on_segment(now, Segment{s, {}});
    std::array<uint8_t, 128> out;
    size_t n = conn.poll_transmit(now, out);
    ParseResult p = parse_segment({out.data(), n});
    ASSERT_TRUE(p.ok());
    SegmentHeader theirs = p.segment.header;
    EXPECT_EQ(mine.seq, theirs.seq);
    EXPECT_EQ(mine.ack, theirs.ack);
    EXPECT_EQ(mine.flags, theirs.flags);
    EXPECT_EQ(mine.window, theirs.window);
    EXPECT_EQ(mine.src_port, theirs.src_port);
    EXPECT_EQ(mine.dst_port, theirs.dst_port);
    EXPECT_EQ(mine.options.mss, theirs.options.mss);
    if (ts) {
      EXPECT_EQ(mine.options.window_scale, theirs.options.window_scale);
      EXPECT_EQ(mine.options.sack_permitted, theirs.options.sack_permitted);
      ASSERT_TRUE(mine.options.timestamps && theirs.options.timestamps);
      EXPECT_EQ(mine.options.timestamps->echo_reply, theirs.options.timestamps->echo_reply);
      EXPECT_LE(theirs.options.timestamps->value - mine.options.timestamps->value, 63u);
    } else {
      // Without timestamps the cookie cannot remember scaling or SACK: not offered.
      EXPECT_FALSE(mine.options.window_scale);
      EXPECT_FALSE(mine.options.sack_permitted);
      EXPECT_FALSE(mine.options.timestamps);
    }
  }
}

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(1000, 10);  // 1 token a millisecond, 10 saved up
  Instant t = at_s(1);
  int passed = 0;
  for (int i = 0; i < 50; ++i) passed += b.take(t) ? 1 : 0;
  EXPECT_EQ(passed, 10) << "the burst";
  EXPECT_FALSE(b.take(t + std::chrono::microseconds(500)));
  EXPECT_TRUE(b.take(t + std::chrono::microseconds(1500)));
  // A long pause refills to the burst, never beyond.
  Instant later = t + std::chrono::seconds(60);
  passed = 0;
  for (int i = 0; i < 50; ++i) passed += b.take(later) ? 1 : 0;
  EXPECT_EQ(passed, 10);
}

}  // namespace
}  // namespace tou
