// SYN cookies (see syn_cookie.hpp): RFC 4987 3.6, encoded as Linux does.
#include "core/syn_cookie.hpp"

#include <sodium.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/connection.hpp"

namespace tou {

namespace {

constexpr uint32_t kCookieBits = 24;  // Linux COOKIEBITS: the counter takes the top 8 bits
constexpr uint32_t kCookieMask = (1u << kCookieBits) - 1;
constexpr uint32_t kCountMask = 0xffu;  // what of the counter the cookie carries
// Our TSval's low bits (Linux TS_OPT_*): window scale (15 = none), SACK, and a
// bit Linux uses for ECN, which tou does not do (a cookie with it is forged).
constexpr uint32_t kTsBits = 6;
constexpr uint32_t kTsMask = (1u << kTsBits) - 1;
constexpr uint32_t kTsWscaleMask = 0x0f;
constexpr uint32_t kTsNoWscale = 0x0f;
constexpr uint32_t kTsSack = 1u << 4;
constexpr uint32_t kTsUnused = 1u << 5;
constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 2.3
constexpr size_t kMaxTuple = 64;
constexpr uint16_t kDefaultMss = 536;  // RFC 9293 3.7.1: without the option

uint32_t period_count(Instant now) {
  return static_cast<uint32_t>(to_us(now) / to_us(SynCookies::kPeriod));
}

// Index of the largest table MSS not above the client's.
uint32_t mss_index(uint16_t peer_mss) {
  uint32_t i = 0;
  while (i + 1 < kSynCookieMss.size() && kSynCookieMss[i + 1] <= peer_mss) ++i;
  return i;
}

}  // namespace

uint32_t SynCookies::hash(std::span<const uint8_t> tuple, const SegmentHeader& h, uint32_t count,
                          uint8_t which) const {
  assert(tuple.size() <= kMaxTuple);
  std::array<uint8_t, kMaxTuple + 9> in{};
  size_t n = std::min(tuple.size(), kMaxTuple);
  std::memcpy(in.data(), tuple.data(), n);
  std::memcpy(in.data() + n, &h.src_port, 2);
  std::memcpy(in.data() + n + 2, &h.dst_port, 2);
  std::memcpy(in.data() + n + 4, &count, 4);
  in[n + 8] = which;
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, in.data(), n + 9, secret_.data());  // SipHash-2-4
  uint32_t v;
  std::memcpy(&v, out, sizeof v);
  return v;
}

SynCookie SynCookies::make(Instant now, std::span<const uint8_t> tuple, const SegmentHeader& syn,
                           std::optional<uint32_t> ts_clock) const {
  const TcpOptions& o = syn.options;
  uint32_t count = period_count(now);
  uint32_t data = mss_index(o.mss.value_or(kDefaultMss));
  uint32_t cookie = hash(tuple, syn, 0, 1) + syn.seq.raw() + (count << kCookieBits) +
                    ((hash(tuple, syn, count, 2) + data) & kCookieMask);
  SynCookie c{SeqNum(cookie), std::nullopt};
  if (ts_clock && o.timestamps) {
    uint32_t bits = o.window_scale ? std::min(*o.window_scale, kMaxWindowScale) : kTsNoWscale;
    if (o.sack_permitted) bits |= kTsSack;
    uint32_t ts = (*ts_clock & ~kTsMask) | bits;
    // Never ahead of the clock, so that the echo gives an RTT >= 0.
    if (static_cast<int32_t>(ts - *ts_clock) > 0) ts -= 1u << kTsBits;
    c.tsval = ts;
  }
  return c;
}

std::optional<SynCookieOptions> SynCookies::check(Instant now, std::span<const uint8_t> tuple,
                                                  const SegmentHeader& ack,
                                                  std::optional<uint32_t> ts_clock) const {
  if (!ack.has(flags::kAck) || ack.has(flags::kSyn) || ack.has(flags::kRst)) return std::nullopt;
  uint32_t count = period_count(now);
  uint32_t client_isn = ack.seq.raw() - 1;
  uint32_t c = (ack.ack.raw() - 1) - hash(tuple, ack, 0, 1) - client_isn;
  uint32_t age = (count - (c >> kCookieBits)) & kCountMask;
  if (age >= kMaxAge) return std::nullopt;
  uint32_t data = (c - hash(tuple, ack, count - age, 2)) & kCookieMask;
  if (data >= kSynCookieMss.size()) return std::nullopt;

  SynCookieOptions opts;
  opts.mss = kSynCookieMss[data];
  const auto& ts = ack.options.timestamps;
  if (!ts_clock || !ts) return opts;  // RFC 7323 3.2: no timestamps, no scaling, no SACK
  // The echo must be one of our TSvals of the cookie's lifetime.
  uint32_t since = *ts_clock - ts->echo_reply;
  if (since > static_cast<uint32_t>(to_us(kLifetime))) return std::nullopt;
  uint32_t bits = ts->echo_reply & kTsMask;
  if (bits & kTsUnused) return std::nullopt;
  uint32_t ws = bits & kTsWscaleMask;
  if (ws != kTsNoWscale) {
    if (ws > kMaxWindowScale) return std::nullopt;
    opts.window_scale = static_cast<uint8_t>(ws);
  }
  opts.sack_permitted = (bits & kTsSack) != 0;
  opts.timestamps = true;
  return opts;
}

SegmentHeader cookie_syn_ack(const ConnectionConfig& config, const SegmentHeader& syn,
                             const SynCookie& c) {
  SegmentHeader h;
  h.src_port = syn.dst_port;
  h.dst_port = syn.src_port;
  h.seq = c.iss;
  h.ack = syn.seq + 1;
  h.flags = flags::kSyn | flags::kAck;
  // The window in a SYN-ACK is never scaled (RFC 7323 2.2), as Connection::window_field.
  h.window = static_cast<uint16_t>(std::min<size_t>(config.receive_buffer, 0xffff));
  TcpOptions& o = h.options;
  o.mss = config.mss;
  if (c.tsval && syn.options.timestamps) {
    o.timestamps = Timestamps{*c.tsval, syn.options.timestamps->value};
    if (config.window_scaling && syn.options.window_scale) {
      o.window_scale = receive_window_shift(config);
    }
    o.sack_permitted = config.sack && syn.options.sack_permitted;
  }
  return h;
}

}  // namespace tou
