// SYN cookies (RFC 4987 3.6), laid out as Linux's (net/ipv4/syncookies.c): when
// a listener's SYN queue is full, the SYN-ACK's initial sequence number is a
// keyed hash of the connection, the client's ISN, a minute counter and the
// index of the client's MSS in a small table; the client's window scale and
// SACK-permitted ride in the low bits of our TSval, which the client echoes.
// The listener keeps no state; the ACK that completes the handshake carries
// the cookie back (SEG.ACK - 1) and the connection is rebuilt from it
// (Connection::accept_cookie).
//
//   ISN = H1(tuple) + client ISN + (count << 24) + ((H2(tuple, count) + mss_index) mod 2^24)
//   TSval = (TS clock & ~63) | sack << 4 | (window scale, or 15 for none)
//
// Without timestamps in the SYN only the MSS is kept (no window scale, no
// SACK), as on Linux. Sans-I/O: the secret, the time and the TS clock are
// arguments; the same inputs always give the same cookie.
//
//   SynCookies cookies(secret);
//   SynCookie c = cookies.make(now, tuple, syn, ts_clock);
//   SegmentHeader synack = cookie_syn_ack(config, syn, c);   // send it, forget the SYN
//   ... later, for an ACK to no connection:
//   if (auto opts = cookies.check(now, tuple, ack, ts_clock)) conn.accept_cookie(now, p, *opts,
//   ack);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "wire/segment.hpp"
#include "wire/seq_num.hpp"

namespace tou {

struct ConnectionConfig;

// The MSS values a cookie can name (3 bits): tou's own MSS for common MTUs
// (MTU - IP - UDP - TCP: IPv4 1500 -> 1452, IPv6 1280 -> 1212, loopback ...).
// A cookie names the largest entry not above the client's MSS option.
inline constexpr std::array<uint16_t, 8> kSynCookieMss = {536,  1212, 1432,  1452,
                                                          8932, 8952, 65468, 65487};

// What the client's SYN asked for, as far as a cookie remembers it.
struct SynCookieOptions {
  uint16_t mss = 536;
  std::optional<uint8_t> window_scale;  // only with timestamps
  bool sack_permitted = false;          // only with timestamps
  bool timestamps = false;
  friend bool operator==(const SynCookieOptions&, const SynCookieOptions&) = default;
};

// The stateless SYN-ACK's choices: our ISS and, with timestamps, our TSval.
struct SynCookie {
  SeqNum iss;
  std::optional<uint32_t> tsval;
};

class SynCookies {
 public:
  static constexpr size_t kKeySize = 16;
  // Linux: TCP_SYNCOOKIE_PERIOD (a minute) and MAX_SYNCOOKIE_AGE (2 periods).
  static constexpr Duration kPeriod = std::chrono::seconds(64);
  static constexpr uint32_t kMaxAge = 2;
  // How long a cookie stays valid: a listener that sent none for this long
  // need not check ACKs for one (Linux's tcp_synq_no_recent_overflow).
  static constexpr Duration kLifetime = kPeriod * kMaxAge;

  explicit SynCookies(const std::array<uint8_t, kKeySize>& secret) : secret_(secret) {}

  // The cookie for `syn`. `tuple` is any stable encoding of the connection's
  // addresses (the engine uses the UDP addresses); the segment's ports are
  // mixed in too. `ts_clock` is our TS clock now (nullopt: we do not use
  // timestamps); the TSval is only set when the SYN carries timestamps.
  SynCookie make(Instant now, std::span<const uint8_t> tuple, const SegmentHeader& syn,
                 std::optional<uint32_t> ts_clock) const;

  // The options the cookie in `ack` (an ACK without SYN or RST, for no known
  // connection) remembers, or nullopt when it is forged, older than
  // kLifetime, made for another tuple or client ISN, or its TSecr is not one
  // of our recent TSvals.
  std::optional<SynCookieOptions> check(Instant now, std::span<const uint8_t> tuple,
                                        const SegmentHeader& ack,
                                        std::optional<uint32_t> ts_clock) const;

 private:
  uint32_t hash(std::span<const uint8_t> tuple, const SegmentHeader& h, uint32_t count,
                uint8_t which) const;
  std::array<uint8_t, kKeySize> secret_;
};

// The SYN-ACK a listener with `config` sends for `syn` with cookie `c`: what
// a Connection in SYN-RECEIVED would send, except that the options the
// cookie cannot remember (window scale and SACK without timestamps) are not
// offered. The caller fills in nothing else; emit it with emit_segment().
SegmentHeader cookie_syn_ack(const ConnectionConfig& config, const SegmentHeader& syn,
                             const SynCookie& c);

}  // namespace tou
