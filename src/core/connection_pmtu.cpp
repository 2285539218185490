// The connection's side of DPLPMTUD (RFC 8899; the state machine is
// core/plpmtud.*): probes are data segments of the probed size, their loss
// is not congestion, a validated PTB lowers the MSS at once, and repeated
// timeouts of full-sized segments fall back to the base size.
#include <algorithm>

#include "core/connection.hpp"

namespace tou {

namespace {

constexpr uint32_t kTcpHeader = 20;  // the fixed TCP header (RFC 9293 3.1)
// RFC 8899 4.3: consecutive RTO expiries on a segment larger than the base
// before the path counts as a black hole (Linux's tcp_mtu_probing waits for
// tcp_retries1 = 3; two keep the stall short, and a false alarm only costs a
// new search).
constexpr int kBlackHoleRtos = 2;
// The quoted segment must hold at least the ports and the sequence number.
constexpr size_t kQuotedMinimum = 8;

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

uint32_t Connection::mss_for_plpmtu(uint32_t mtu) const {
  uint32_t headers = plpmtud_.overhead() + kTcpHeader;
  return mtu > headers ? mtu - headers : 1;
}

// RFC 8899 4.1 / RFC 4821 7.3: a probe is one new data segment of the probed
// size, sent when the windows allow it whole, outside loss recovery.
std::optional<uint32_t> Connection::pmtu_probe_len(Instant now, size_t out_size) {
  if (!plpmtud_.enabled() || pmtu_probe_seq_ || rec_.in_recovery || !is_established() ||
      rec_.sent.first_lost()) {
    return std::nullopt;
  }
  std::optional<uint16_t> size = plpmtud_.probe_size(now);
  if (!size) return std::nullopt;
  // A probe carries the same options as a full segment, SACK blocks aside
  // (emit() adds none beyond the MSS).
  uint32_t options = snd_.mss - max_payload(false);
  uint32_t mss = std::min<uint32_t>(mss_for_plpmtu(*size), 0xffff);
  if (mss <= options || *size > out_size) return std::nullopt;
  return mss - options;
}

void Connection::on_pmtu_probe_sent(Instant now, SeqNum seq, uint32_t len) {
  pmtu_probe_seq_ = seq;
  pmtu_probe_end_ = seq + len;
  plpmtud_.on_probe_sent(now);
}

// Settles the probe in flight: delivered (cumulatively or SACKed) or judged
// lost by loss detection. Returns true when it was just found lost.
bool Connection::check_pmtu_probe(Instant now) {
  if (pmtu_hole_end_ && snd_.una >= *pmtu_hole_end_) pmtu_hole_end_.reset();
  if (!pmtu_probe_seq_) return false;
  bool acked = snd_.una > *pmtu_probe_seq_;
  bool lost = false;
  if (!acked) {
    std::optional<size_t> i = rec_.sent.find(*pmtu_probe_seq_);
    if (!i) {
      pmtu_probe_seq_.reset();  // gone with the connection's state
      return false;
    }
    acked = rec_.sent[*i].sacked;
    lost = rec_.sent[*i].lost;
  }
  if (!acked && !lost) return false;
  pmtu_probe_seq_.reset();
  if (acked) {
    plpmtud_.on_probe_acked(now);
  } else {
    plpmtud_.on_probe_lost(now);
    pmtu_hole_end_ = pmtu_probe_end_;
  }
  refresh_send_mss();
  return lost;
}

// RFC 8899 4.4: of the segments loss detection just marked lost, the path
// MTU probe is no sign of congestion. Returns how many others there are.
size_t Connection::discount_probe_loss(Instant now, size_t newly_lost) {
  if (check_pmtu_probe(now) && newly_lost > 0) --newly_lost;
  return newly_lost;
}

// Duplicate ACKs while the lost probe's bytes are missing at the peer report
// that hole, not congestion.
bool Connection::in_probe_hole() const {
  return pmtu_hole_end_ && snd_.una < *pmtu_hole_end_;
}

bool Connection::on_packet_too_big(Instant now, uint32_t mtu, std::span<const uint8_t> quoted) {
  if (!plpmtud_.enabled()) return false;
  // RFC 8899 4.6.1: the quoted datagram must be one of ours, in flight.
  bool ours = quoted.size() >= kQuotedMinimum && is_synchronized(state_) &&
              load16(quoted.data()) == local_port_ && load16(quoted.data() + 2) == remote_port_;
  SeqNum seq(ours ? load32(quoted.data() + 4) : 0);
  if (!ours || rec_.sent.empty() || seq < snd_.una || seq >= snd_.nxt) {
    plpmtud_.count_rejected_ptb();
    return false;
  }
  bool quoted_probe = pmtu_probe_seq_ && seq == *pmtu_probe_seq_;
  uint32_t quoted_size = 0;  // the quoted segment's IP size, as sent
  if (std::optional<size_t> i = rec_.sent.find(seq)) {
    const SentSegment& r = rec_.sent[*i];
    uint32_t payload = r.len - (r.syn ? 1 : 0) - (r.fin ? 1 : 0);
    uint32_t options = snd_.mss - max_payload(false);
    quoted_size = payload + options + kTcpHeader + plpmtud_.overhead();
  }
  uint16_t mss_before = snd_.mss;
  if (!plpmtud_.on_ptb(now, mtu, quoted_probe, quoted_size)) return false;
  if (quoted_probe) {
    // The probe was dropped: resend its bytes at once, in segments that fit.
    pmtu_probe_seq_.reset();
    if (std::optional<size_t> i = rec_.sent.find(seq)) rec_.sent.mark_lost(*i);
    pmtu_hole_end_ = pmtu_probe_end_;
  }
  refresh_send_mss();
  after_mtu_drop(mss_before);
  return true;
}

void Connection::on_local_mtu(Instant now, uint32_t mtu) {
  if (!plpmtud_.enabled()) return;
  uint16_t mss_before = snd_.mss;
  plpmtud_.lower_max(now, static_cast<uint16_t>(std::min<uint32_t>(mtu, 0xffff)));
  if (pmtu_probe_seq_ && !plpmtud_.probe_in_flight()) {
    if (std::optional<size_t> i = rec_.sent.find(*pmtu_probe_seq_)) rec_.sent.mark_lost(*i);
    pmtu_probe_seq_.reset();
  }
  refresh_send_mss();
  after_mtu_drop(mss_before);
}

// A smaller MSS: every segment in flight larger than it was dropped on the
// way (RFC 8899 4.6.2); resend them now, split to fit (send_retransmission),
// without treating the drops as congestion (as Linux's tcp_simple_retransmit).
void Connection::after_mtu_drop(uint16_t mss_before) {
  if (snd_.mss >= mss_before) return;
  if (rec_.sent.mark_lost_longer_than(max_payload(false)) > 0 && !rec_.in_recovery) {
    rec_.recover = snd_.nxt;
  }
}

// RFC 8899 4.3: called after an RTO. When timeouts repeat on a segment larger
// than the base size, full-sized packets no longer cross the path: back to
// the base size, and the segments in flight go out again in pieces. (At the
// base size a timeout is a dead path or peer, not a size problem: the RTO
// alone handles it.)
void Connection::check_black_hole(Instant now) {
  if (!plpmtud_.enabled() || snd_.rto_backoffs < kBlackHoleRtos || rec_.sent.empty() ||
      plpmtud_.plpmtu() <= plpmtud_.base_mtu()) {
    return;
  }
  const SentSegment& head = rec_.sent.front();
  uint32_t payload = head.len - (head.syn ? 1 : 0) - (head.fin ? 1 : 0);
  uint32_t options = snd_.mss - max_payload(false);
  uint32_t ip_size = payload + options + kTcpHeader + plpmtud_.overhead();
  if (ip_size <= plpmtud_.base_mtu()) return;
  plpmtud_.on_black_hole(now);
  pmtu_probe_seq_.reset();
  refresh_send_mss();
}

}  // namespace tou
