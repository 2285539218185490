// The receive buffer's size on an open connection: autotuning as the program reads
// (core/receive_autotune.hpp, Linux's tcp_rcv_space_adjust) and SO_RCVBUF set by the
// program (set_receive_buffer_limit). Neither takes back a window already offered
// (RFC 9293 3.8.6.2.2, RFC 7323 2.4).
#include <algorithm>

#include "core/connection.hpp"

namespace tou {

size_t Connection::promised_receive_space() const {
  if (!is_synchronized(state_)) return 0;
  return rcv_.buffer.readable() + static_cast<uint32_t>(rcv_.adv_edge - rcv_.nxt);
}

void Connection::set_receive_buffer_limit(size_t bytes) {
  const size_t window_before = rcv_.buffer.window();
  config_.receive_buffer = bytes;
  rcv_.space = bytes;
  // Linux's SOCK_RCVBUF_LOCK: a buffer the program sized is not autotuned.
  autotune_.stop();
  // The capacity stays above the bytes held plus the window offered, until the
  // program reads (resize_receive_buffer).
  rcv_.buffer.set_capacity(std::max(bytes, promised_receive_space()));
  // Growth beyond 0xffff << Rcv.Wind.Shift is capped by window_field().
  maybe_update_window(window_before);
}

void Connection::start_receive_autotune(Instant now) {
  if (!config_.receive_autotune) return;
  autotune_.start(now, {.initial = rcv_.space,
                        .limit = std::max(config_.receive_buffer, rcv_.space),
                        .mss = rcv_.mss});
}

void Connection::autotune_on_segment(Instant now, const Segment& seg, size_t advanced) {
  if (!autotune_.enabled()) return;
  std::optional<Duration> ts_sample;
  const auto& ts = seg.header.options.timestamps;
  if (ts_ok_ && ts && ts->echo_reply != 0 && ts->echo_reply != rcv_.last_tsecr) {
    // RFC 7323 4.1: TSecr echoes one of our TSvals, in the microseconds of ts_now().
    rcv_.last_tsecr = ts->echo_reply;
    int32_t us = static_cast<int32_t>(ts_now(now) - ts->echo_reply);
    if (us > 0) ts_sample = Duration{us};
  }
  autotune_.on_data(now, seg.payload.size(), ts_sample, rcv_.buffer.readable() - advanced, rcv_.nxt,
                    rcv_.adv_edge);
  const auto& ooo = rcv_.buffer.out_of_order();
  if (!ooo.empty()) grow_receive_space(autotune_.on_out_of_order(ooo.back().end, rcv_.space));
}

void Connection::grow_receive_space(size_t size) {
  if (size <= rcv_.space) return;
  rcv_.space = size;
  ++stats_.receive_buffer_growths;
  if (rcv_.buffer.capacity() < size) rcv_.buffer.set_capacity(size);
}

void Connection::resize_receive_buffer(Instant now, size_t n) {
  if (autotune_.enabled()) grow_receive_space(autotune_.on_consumed(now, n, rcv_.space));
  if (rcv_.buffer.capacity() > rcv_.space) {
    // Room kept for a window offered before SO_RCVBUF was lowered (or for the bytes
    // window_field() rounded up): as the program reads, the buffer comes down to its
    // size, so the right edge moves on no further than that size allows.
    rcv_.buffer.set_capacity(std::max(rcv_.space, promised_receive_space()));
  }
}

}  // namespace tou
