// Receive buffer autotuning, as Linux's tcp_rcv_space_adjust() (net/ipv4/tcp_input.c,
// "dynamic right-sizing", DRS: Fisk and Feng, 2001). The receive buffer, and with it the
// window we offer, starts small; once per round trip the receiver measures what the
// program consumed in it and grows the buffer to about twice that, plus headroom for a
// sender that is still doubling its window, up to the configured limit. A reader that
// keeps up gets a window that follows the sender's; a slow reader keeps a small one, so
// a SO_RCVBUF set later bounds what the peer may send at once (a window once offered is
// not taken back, RFC 9293 3.8.6.2.2).
//
// The round trip is the receiver's own estimate (Linux's rcv_rtt_est): with timestamps,
// now minus the TSecr of a full-sized data segment (tcp_rcv_rtt_measure_ts); without, the
// time to receive one advertised window of data (tcp_rcv_rtt_measure), which only ever
// lowers the estimate. A larger sample counts only while the program has read
// everything: a reader that holds the window back makes the sender's echoes late.
//
//   ReceiveAutotune drs;
//   drs.start(now, {.initial = 64 << 10, .limit = 4 << 20, .mss = 1460});
//   drs.on_data(now, payload, ts_sample, unread, rcv_nxt, adv_edge);  // each data segment
//   size_t grown = drs.on_consumed(now, n, capacity);          // each read by the program
//
// Sans-I/O: time comes in as arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/time.hpp"
#include "wire/seq_num.hpp"

namespace tou {

struct ReceiveAutotuneParams {
  size_t initial = 0;  // the buffer (window) offered from the handshake on
  size_t limit = 0;    // the largest it may grow to (Linux's tcp_rmem[2])
  uint16_t mss = 1460;
};

class ReceiveAutotune {
 public:
  // The first round trip's "space": Linux's tcp_init_buffer_space() takes TCP_INIT_CWND
  // (10) segments, so a sender's whole initial window (RFC 6928) delivered in the first
  // round trip grows nothing, and the window lags a round trip behind a sender in
  // startup (on a 200 ms path, BBR's third round was held to 64 KiB). Half of it here,
  // and at most half the initial window (a loopback MSS near 64 KiB): a reader that
  // takes the initial window in the first round trip grows the window at its end.
  static constexpr uint32_t kInitialSpaceSegments = 5;
  // tcp_rcv_space_adjust(): rcvwin = 2 * copied + 16 * advmss ("minimal window to
  // cope with packet losses, assuming steady state", plus a cushion).
  static constexpr uint32_t kHeadroomSegments = 16;
  // Out-of-order growth counts the extent past the hole twice where Linux counts it
  // once: while the hole is repaired (a round trip) the sender sends about as much
  // again. In the simulator (BBR, 100 ms and 5% loss, 200 ms and 2%), once cost 5-7%
  // of goodput beside a 4 MiB window from the start, twice about 1-2%.
  static constexpr uint32_t kOutOfOrderFactor = 2;
  // tcp_rcv_rtt_update(): the estimate moves by 1/8 of a larger sample.
  static constexpr int kRttGainShift = 3;

  bool enabled() const { return enabled_; }
  // Starts measuring (the handshake is done); the buffer is params.initial now.
  void start(Instant now, const ReceiveAutotuneParams& params);
  // The program set SO_RCVBUF (Linux's SOCK_RCVBUF_LOCK): no more growth.
  void stop() { enabled_ = false; }

  // A segment with `payload` bytes arrived; `ts_sample` is now - TSecr when it carried
  // a timestamp echo that differs from the last one; `unread` is what the program had
  // not read when it came. `rcv_nxt` and `adv_edge` are after the segment was taken in
  // (RCV.NXT, the right edge last advertised).
  void on_data(Instant now, size_t payload, std::optional<Duration> ts_sample, size_t unread,
               SeqNum rcv_nxt, SeqNum adv_edge);
  // Out-of-order data reaches `ooo_end` bytes past RCV.NXT (Linux's tcp_rcvbuf_grow()
  // from tcp_data_queue_ofo(), "tcp: adjust rcvbuf in presence of reorders", 6.16): the
  // buffer grows to twice the last round trip's space plus that extent (counted
  // kOutOfOrderFactor times), so that a loss does not leave the sender without window
  // while the hole is repaired. Returns the size the buffer should grow to (never less
  // than `capacity`).
  size_t on_out_of_order(size_t ooo_end, size_t capacity) const;
  // The program consumed `n` bytes at `now`; `capacity` is the buffer's size. Returns
  // the size the buffer should grow to (never less than `capacity`).
  size_t on_consumed(Instant now, size_t n, size_t capacity);

  // The receiver's RTT estimate; nullopt before the first sample.
  std::optional<Duration> rtt() const { return rtt_; }
  // What the program consumed in the last round trip that grew the buffer.
  size_t space() const { return space_; }

 private:
  void update_rtt(Duration sample, bool window_based, size_t unread);

  bool enabled_ = false;
  size_t limit_ = 0;
  uint16_t mss_ = 1460;
  size_t space_ = 0;         // Linux's rcvq_space.space
  size_t copied_ = 0;        // consumed since measure_start_
  Instant measure_start_{};  // rcvq_space.time
  std::optional<Duration> rtt_;
  size_t largest_segment_ = 0;  // Linux's icsk_ack.rcv_mss: what a full-sized segment is
  std::optional<SeqNum> window_measure_end_;  // rcv_rtt_est.seq (without timestamps)
  Instant window_measure_start_{};            // rcv_rtt_est.time
};

}  // namespace tou
