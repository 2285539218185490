// A connection in TIME-WAIT reduced to what RFC 9293 3.10.7.4 needs once the
// program has closed it (as Linux's inet_timewait_sock): the last ACK to
// repeat, RCV.NXT and when it ends. The engine keeps one per such connection,
// keyed by the peer, and does what on_segment() says; the rules live here.
//
//   std::optional<TimeWait> tw = TimeWait::of(conn, last_ack_datagram);
//   switch (tw->on_segment(now, seg, listening)) { ... }   // kRepeatAck: send tw->ack()
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "wire/segment.hpp"

namespace tou {

class Connection;

class TimeWait {
 public:
  // Holds a datagram of at most this size: a bare ACK with every option.
  static constexpr size_t kMaxAck = kTcpHeaderSize + kMaxOptionsSize;

  // The TIME-WAIT of `c` (in TIME-WAIT, with its TIME-WAIT timer running), whose
  // last ACK sent was `last_ack` (one whole datagram); nullopt otherwise.
  static std::optional<TimeWait> of(const Connection& c, std::span<const uint8_t> last_ack);

  enum class Verdict : uint8_t {
    kIgnore,          // nothing to send
    kRepeatAck,       // send ack() again (expires() may have moved)
    kEnd,             // TIME-WAIT ends; nothing to send
    kNewIncarnation,  // TIME-WAIT ends and the SYN goes to the listener
  };
  // A segment for this connection. `listening`: a listener on the port could
  // take a new connection from the peer.
  Verdict on_segment(Instant now, const Segment& seg, bool listening);

  std::span<const uint8_t> ack() const { return {ack_.data(), ack_len_}; }
  Instant expires() const { return expires_; }
  // Repeated ACKs held back by the rate limit (RFC 5961 7, Linux's
  // tcp_timewait_check_oow_rate_limit) since this TIME-WAIT began.
  uint64_t acks_suppressed() const { return acks_suppressed_; }

 private:
  std::array<uint8_t, kMaxAck> ack_{};
  size_t ack_len_ = 0;
  SeqNum rcv_nxt_;
  Duration msl_{};
  Duration invalid_ack_interval_{};
  Instant expires_{};
  std::optional<Instant> last_invalid_ack_;
  uint64_t acks_suppressed_ = 0;
};

}  // namespace tou
