// Counters for every notable event of a connection (gVisor style): tests
// assert on them and users read them through the stats call.
#pragma once

#include <array>
#include <cstdint>

#include "base/time.hpp"
#include "core/plpmtud.hpp"
#include "core/tcp_state.hpp"
#include "wire/segment.hpp"

namespace tou {

struct ConnectionStats {
  uint64_t segments_sent = 0;
  uint64_t segments_received = 0;    // parsed and handed to the state machine
  uint64_t bytes_sent = 0;           // payload, first transmissions
  uint64_t bytes_retransmitted = 0;  // payload, retransmissions
  uint64_t bytes_received = 0;       // payload delivered in order
  uint64_t bytes_acked = 0;          // our payload acknowledged by the peer
  uint64_t retransmitted_segments = 0;
  // SND.UNA's segment sent again while the RTO ran: the timer restarted from it.
  uint64_t rto_restarts_on_head_retransmit = 0;
  uint64_t fast_recoveries = 0;   // RFC 6675 / RFC 6582 recovery episodes
  uint64_t rto_timeouts = 0;      // RFC 6298 (5.4)-(5.6)
  uint64_t tail_loss_probes = 0;  // RFC 8985 7
  uint64_t rack_losses = 0;       // segments RACK judged lost (RFC 8985 6.2)
  uint64_t syn_retransmits = 0;
  uint64_t dup_acks_received = 0;
  uint64_t sack_blocks_received = 0;
  uint64_t dsacks_sent = 0;      // RFC 2883: duplicates reported
  uint64_t dsacks_received = 0;  // RFC 2883: the peer reported a duplicate of ours
  uint64_t spurious_undos = 0;   // RFC 3708: a window reduction undone (all rexmits D-SACKed)
  uint64_t spurious_undos_by_timestamp = 0;  // of which RFC 3522 (Eifel, timestamps) found
  uint64_t frto_spurious_rtos = 0;           // RFC 5682: timeouts F-RTO found spurious
  uint64_t out_of_order_segments = 0;        // held by the reassembler
  uint64_t duplicate_segments = 0;           // wholly old data
  uint64_t window_probes = 0;                // persist timer (RFC 9293 3.8.6.1)
  uint64_t keepalive_probes = 0;
  uint64_t challenge_acks = 0;             // RFC 5961
  uint64_t challenge_acks_suppressed = 0;  // over the RFC 5961 7 limit
  uint64_t invalid_acks_suppressed = 0;    // ACKs to unacceptable segments, rate-limited
  uint64_t resets_sent = 0;
  uint64_t resets_received = 0;
  uint64_t delayed_acks = 0;  // ACKs sent by the delayed-ACK timer
  uint64_t window_updates = 0;
  uint64_t receive_buffer_growths = 0;  // autotuning grew the receive buffer
  // Dropped input, by reason.
  std::array<uint64_t, static_cast<size_t>(ParseError::kCount)> dropped_malformed{};
  uint64_t dropped_unacceptable = 0;  // RFC 9293 3.10.7.4 first check (sequence)
  uint64_t dropped_bad_ack = 0;       // RFC 5961 5.2 / ack of unsent data
  uint64_t dropped_paws = 0;          // RFC 7323 5
  uint64_t dropped_other = 0;         // wrong state, ports, no ACK bit

  uint64_t dropped_malformed_total() const {
    uint64_t n = 0;
    for (uint64_t v : dropped_malformed) n += v;
    return n;
  }
};

// A TCP_INFO-like snapshot.
struct ConnectionInfo {
  TcpState state = TcpState::kClosed;
  Duration srtt{0};
  Duration rttvar{0};
  Duration min_rtt{0};
  Duration rto{0};
  uint32_t cwnd = 0;
  uint32_t ssthresh = 0;
  uint32_t flight_size = 0;
  uint32_t snd_wnd = 0;    // peer's window, scaled
  uint32_t rcv_wnd = 0;    // our advertised window
  uint32_t rcv_space = 0;  // the receive buffer's size (autotuned, or SO_RCVBUF)
  Duration rcv_rtt{0};     // the receiver's RTT estimate (autotuning), 0 before a sample
  uint16_t snd_mss = 0;
  uint16_t rcv_mss = 0;
  uint8_t snd_wscale = 0;
  uint8_t rcv_wscale = 0;
  bool sack = false;
  bool timestamps = false;
  bool in_recovery = false;
  uint16_t pmtu = 0;  // the path MTU sent with (IP bytes), 0 without DPLPMTUD
  Plpmtud::State pmtud_state = Plpmtud::State::kDisabled;
  PlpmtudStats pmtud;
  ConnectionStats stats;
};

}  // namespace tou
