// Initial sequence numbers (RFC 6528 3): ISN = M + F(4-tuple, secretkey), with M
// a clock ticking every 4 microseconds and F a keyed hash.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <vector>

#include "core/isn.hpp"

namespace tou {
namespace {

using Key = std::array<uint8_t, IsnGenerator::kKeySize>;

Key key(uint8_t seed) {
  Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i);
  return k;
}

// A 4-tuple encoding: local address, local port, remote address, remote port.
std::vector<uint8_t> tuple(uint16_t local_port, uint16_t remote_port, uint8_t remote_host = 2) {
  return {10,
          0,
          0,
          1,
          static_cast<uint8_t>(local_port >> 8),
          static_cast<uint8_t>(local_port),
          10,
          0,
          0,
          remote_host,
          static_cast<uint8_t>(remote_port >> 8),
          static_cast<uint8_t>(remote_port)};
}

const Instant kT = instant_from_us(123'456'000);

TEST(Isn, DifferentTuplesGiveDifferentIsns_RFC6528_3) {
  IsnGenerator g(key(1));
  std::set<uint32_t> seen;
  for (uint16_t port = 1000; port < 2000; ++port)
    seen.insert(g.generate(kT, tuple(80, port)).raw());
  seen.insert(g.generate(kT, tuple(81, 1000)).raw());
  seen.insert(g.generate(kT, tuple(80, 1000, 3)).raw());
  EXPECT_EQ(seen.size(), 1002u) << "every connection id gets its own sequence number space";
}

TEST(Isn, SameTupleAndTimeGiveSameIsn_RFC6528_3) {
  IsnGenerator g(key(1));
  EXPECT_EQ(g.generate(kT, tuple(80, 1234)), g.generate(kT, tuple(80, 1234)));
  IsnGenerator g2(key(1));
  EXPECT_EQ(g.generate(kT, tuple(80, 1234)), g2.generate(kT, tuple(80, 1234)));
}

TEST(Isn, SameTupleAdvancesWithFourMicrosecondClock_RFC6528_3) {
  IsnGenerator g(key(1));
  const std::vector<uint8_t> id = tuple(80, 1234);
  const SeqNum base = g.generate(kT, id);
  EXPECT_EQ(g.generate(kT + Duration{3}, id), base) << "M ticks every 4 microseconds";
  EXPECT_EQ(g.generate(kT + Duration{4}, id), base + 1);
  EXPECT_EQ(g.generate(kT + Duration{4000}, id), base + 1000);
  EXPECT_EQ(g.generate(kT + std::chrono::seconds(1), id), base + 250'000);
  EXPECT_GT(g.generate(kT + std::chrono::seconds(1), id), base);
}

TEST(Isn, ClockWrapsAfterTwoToThe32Ticks_RFC6528_3) {
  IsnGenerator g(key(1));
  const std::vector<uint8_t> id = tuple(80, 1234);
  const Duration wrap{(int64_t{1} << 32) * 4};  // about 4.77 hours
  EXPECT_EQ(g.generate(kT + wrap, id), g.generate(kT, id));
}

TEST(Isn, DifferentKeysGiveDifferentIsns_RFC6528_3) {
  IsnGenerator a(key(1));
  IsnGenerator b(key(2));
  int same = 0;
  for (uint16_t port = 1000; port < 1100; ++port) {
    same += a.generate(kT, tuple(80, port)) == b.generate(kT, tuple(80, port));
  }
  EXPECT_EQ(same, 0) << "the secret key makes the offset unpredictable";
}

}  // namespace
}  // namespace tou
