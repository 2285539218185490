// The transmission control block (RFC 9293 3.3.1), grouped as the RFC and
// Seastar do: what we send (snd) and what we receive (rcv), plus the timers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "base/time.hpp"
#include "core/receive_buffer.hpp"
#include "core/send_buffer.hpp"
#include "wire/segment.hpp"
#include "wire/seq_num.hpp"

namespace tou {

struct SendSequence {
  explicit SendSequence(size_t buffer_size) : buffer(buffer_size) {}

  SeqNum iss;
  SeqNum una;            // SND.UNA
  SeqNum nxt;            // SND.NXT: next new sequence number (never moves back)
  uint32_t wnd = 0;      // SND.WND, scaled
  uint32_t max_wnd = 0;  // largest window the peer offered (sender SWS, RFC 9293 3.8.6.2.1)
  SeqNum wl1;            // SND.WL1
  SeqNum wl2;            // SND.WL2
  uint8_t wscale = 0;    // the peer's shift (Snd.Wind.Shift, RFC 7323 2.2)
  uint16_t mss = 536;    // effective send MSS: min(peer's MSS option, ours); RFC 9293 3.7.1 default
  uint16_t peer_mss = 536;  // the peer's MSS option (RFC 9293 3.7.1 default without it)

  // Unacknowledged and unsent data from buffer_seq on; the records of what is in flight
  // live in loss recovery (core/recovery).
  SendBuffer buffer;
  SeqNum buffer_seq;  // sequence number of buffer offset 0

  bool wscale_ok = false;    // window scaling agreed (or offered, before the SYN-ACK)
  bool pacing_wait = false;  // data is waiting for next_paced
  bool fin_queued = false;   // shutdown() asked for a FIN after the data
  bool fin_sent = false;
  SeqNum fin_seq;  // sequence number the FIN occupies, once sent

  // Our TSval when the last RTO fired: echoes older than it measure the RTO wait too.
  std::optional<uint32_t> rto_tsval;

  int rto_backoffs = 0;    // consecutive RTO expiries (reset by progress)
  Instant stall_start{};   // since when outstanding data has seen no ACK progress (user timeout)
  Instant last_send{};     // for the idle restart (RFC 5681 4.1)
  Instant next_paced{};    // pacing: earliest time for the next data segment
  size_t paced_burst = 0;  // bytes sent since next_paced last moved (pacing quantum)
  uint64_t challenge_window_start_us = 0;  // RFC 5961 7 rate limit
  int challenge_acks_in_window = 0;
};

struct ReceiveSequence {
  explicit ReceiveSequence(size_t buffer_size) : buffer(buffer_size), space(buffer_size) {}

  SeqNum irs;
  SeqNum nxt;           // RCV.NXT
  uint8_t wscale = 0;   // our shift (Rcv.Wind.Shift)
  uint16_t mss = 1460;  // what we advertised
  SeqNum adv_edge;      // RCV.NXT + the window last advertised (never moves back)

  ReceiveBuffer buffer;
  // The buffer's size as autotuning or SO_RCVBUF set it. The buffer's capacity may
  // exceed it while it keeps room for a window already offered (RFC 9293 3.8.6.2.2),
  // and comes down to it as the program reads.
  size_t space = 0;
  std::optional<SeqNum> fin_seq;  // FIN seen (maybe ahead of RCV.NXT)
  bool fin_received = false;      // FIN consumed into the sequence space
  bool read_closed = false;       // close(): nothing more will be read

  // RFC 7323 4.3 / 5.
  uint32_t ts_recent = 0;
  Instant ts_recent_at{};
  uint32_t last_tsecr = 0;  // the TSecr of autotuning's last RTT sample (rcv_rtt_last_tsecr)
  SeqNum last_ack_sent;
  Instant last_input{};  // the last acceptable segment (keep-alive idle time, RFC 9293 3.8.4)
  bool last_full_sized = false;  // the last datagram carried a full-sized payload (coalesce_window)
  std::optional<Instant> last_invalid_ack;  // ConnectionConfig::invalid_ack_interval

  // Delivery coalescing (Connection::delivery_due): the end of the latest
  // segment that carried PSH, and whether held bytes waited long enough.
  std::optional<SeqNum> push_end;
  bool delivery_overdue = false;

  // Acknowledgment policy (RFC 9293 3.8.6.3, RFC 5681 4.2).
  bool ack_now = false;           // send an ACK at the next poll_transmit
  uint32_t unacked_segments = 0;  // full-sized segments received since the last ACK
  // RFC 2018 4: the first block reports the most recently received segment.
  std::optional<SackBlock> last_ooo_block;
  // RFC 2883 4: a duplicate segment to report as the first block of the next ACK (D-SACK).
  std::optional<SackBlock> dsack;
};

// One deadline per timer; next_deadline() is their minimum.
struct ConnectionTimers {
  std::optional<Instant> retransmit;       // RTO, also SYN / SYN-ACK retransmission
  std::optional<Instant> tail_loss_probe;  // RFC 8985 7.2 PTO, earlier than the RTO
  std::optional<Instant> rack_reorder;     // RFC 8985 6.3 reordering timer
  std::optional<Instant> delayed_ack;
  std::optional<Instant> delivery;  // readable bytes held back (delivery_coalesce) until then
  std::optional<Instant> persist;
  std::optional<Instant> keepalive;
  std::optional<Instant> time_wait;
  int persist_backoff = 0;
  int keepalive_probes_sent = 0;
  bool persist_probe_due = false;
  bool keepalive_probe_due = false;
};

}  // namespace tou
