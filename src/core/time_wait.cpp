#include "core/time_wait.hpp"

#include <algorithm>

#include "core/connection.hpp"

namespace tou {

std::optional<TimeWait> TimeWait::of(const Connection& c, std::span<const uint8_t> last_ack) {
  std::optional<Instant> ends = c.time_wait_ends();
  if (c.state() != TcpState::kTimeWait || !ends || last_ack.size() > kMaxAck) return std::nullopt;
  ParseResult p = parse_segment(last_ack);
  if (!p.ok()) return std::nullopt;
  TimeWait tw;
  std::copy(last_ack.begin(), last_ack.end(), tw.ack_.begin());
  tw.ack_len_ = last_ack.size();
  tw.rcv_nxt_ = p.segment.header.ack;
  tw.msl_ = c.config().msl;
  tw.invalid_ack_interval_ = c.config().invalid_ack_interval;
  tw.expires_ = *ends;
  return tw;
}

TimeWait::Verdict TimeWait::on_segment(Instant now, const Segment& seg, bool listening) {
  const SegmentHeader& h = seg.header;
  // An RST ends TIME-WAIT when its sequence number is exactly RCV.NXT (RFC
  // 5961 3.2), as the full connection's TIME-WAIT does (Linux's default,
  // tcp_rfc1337 = 0); any other is dropped. An RST is never answered.
  if (h.has(flags::kRst)) return h.seq == rcv_nxt_ ? Verdict::kEnd : Verdict::kIgnore;
  // A new incarnation from the peer's address and port ends TIME-WAIT (RFC
  // 9293 3.10.7.4 allows it). Any SYN is taken, as tou has always done: a
  // client reconnecting through a NAT or proxy that reuses the port may pick
  // an ISN below the old RCV.NXT, and refusing it would cost the client a
  // retransmitted SYN. (RFC 6191's sequence-or-timestamp check is stricter.)
  if (listening && h.has(flags::kSyn) && !h.has(flags::kAck)) return Verdict::kNewIncarnation;
  // The peer's FIN again (our last ACK was lost): acknowledge it at once and
  // restart the 2 MSL timeout (RFC 9293 3.10.7.4, TIME-WAIT, "fourth" step).
  if (h.has(flags::kFin) && h.seq + seg.seq_len() == rcv_nxt_) {
    expires_ = now + 2 * msl_;
    return Verdict::kRepeatAck;
  }
  // Anything else gets the ACK again, at most once per interval, so that
  // forged segments reflect little (RFC 5961 7, as Linux's TIME-WAIT does).
  if (last_invalid_ack_ && now - *last_invalid_ack_ < invalid_ack_interval_) {
    ++acks_suppressed_;
    return Verdict::kIgnore;
  }
  last_invalid_ack_ = now;
  return Verdict::kRepeatAck;
}

}  // namespace tou
