#include "core/receive_autotune.hpp"

#include <algorithm>

namespace tou {

void ReceiveAutotune::start(Instant now, const ReceiveAutotuneParams& params) {
  enabled_ = true;
  limit_ = params.limit;
  mss_ = params.mss;
  // tcp_init_buffer_space(): min(rcv_wnd, TCP_INIT_CWND * advmss), halved (see
  // kInitialSpaceSegments).
  space_ = std::min<size_t>(params.initial / 2, size_t{kInitialSpaceSegments} * params.mss);
  space_ = std::max<size_t>(space_, 1);
  copied_ = 0;
  measure_start_ = now;
}

void ReceiveAutotune::update_rtt(Duration sample, bool window_based, size_t unread) {
  // tcp_rcv_rtt_update(): a smaller sample is taken at once; a larger one moves the
  // estimate by 1/8, and not at all when measured by the window (that measure only
  // bounds the RTT from above: the sender may not have filled the window), nor while
  // the program has bytes unread ("tcp: skip big rtt sample if receive queue is not
  // empty", Linux 6.16).
  if (sample <= Duration::zero()) sample = Duration{1};
  if (!rtt_ || sample < *rtt_) {
    rtt_ = sample;
  } else if (!window_based && unread == 0) {
    *rtt_ += (sample - *rtt_) / (1 << kRttGainShift);
  }
}

void ReceiveAutotune::on_data(Instant now, size_t payload, std::optional<Duration> ts_sample,
                              size_t unread, SeqNum rcv_nxt, SeqNum adv_edge) {
  if (!enabled_ || payload == 0) return;
  // tcp_measure_rcv_mss(): the size of a full segment is the largest seen (up to our MSS).
  largest_segment_ = std::min<size_t>(std::max(largest_segment_, payload), mss_);
  if (ts_sample) {
    // tcp_rcv_rtt_measure_ts(): full-sized segments only; a short one may answer a
    // request the program took its time over.
    if (payload >= largest_segment_) update_rtt(*ts_sample, false, unread);
    return;
  }
  // tcp_rcv_rtt_measure(): the time for RCV.NXT to pass the right edge advertised
  // when the measure began.
  if (window_measure_end_) {
    if (rcv_nxt < *window_measure_end_) return;
    update_rtt(now - window_measure_start_, true, unread);
  }
  window_measure_end_ = adv_edge;
  window_measure_start_ = now;
}

size_t ReceiveAutotune::on_out_of_order(size_t ooo_end, size_t capacity) const {
  if (!enabled_) return capacity;
  const uint64_t rcvwin = 2 * uint64_t{space_} + uint64_t{kOutOfOrderFactor} * ooo_end;
  return std::max<size_t>(capacity, std::min<uint64_t>(rcvwin, limit_));
}

size_t ReceiveAutotune::on_consumed(Instant now, size_t n, size_t capacity) {
  if (!enabled_) return capacity;
  copied_ += n;
  // tcp_rcv_space_adjust(): once per round trip of the receiver's estimate.
  if (!rtt_ || now - measure_start_ < *rtt_) return capacity;
  // Never more than the limit: the result is capped there anyway (and the product stays small).
  const uint64_t copied = std::min(copied_, limit_);
  copied_ = 0;
  measure_start_ = now;
  if (copied <= space_) return capacity;
  // "copied = bytes received in previous RTT, our base window. To cope with packet
  // losses, we need a 2x factor. To cope with slow start, and sender growing its cwin
  // by 100% every RTT, we need a 4x factor, because the ACK we are sending now is for
  // the next RTT, not the current one."
  uint64_t rcvwin = 2 * copied + uint64_t{kHeadroomSegments} * mss_;
  const uint64_t grow = rcvwin * (copied - space_) / space_;
  rcvwin += 2 * grow;
  space_ = copied;
  return std::max<size_t>(capacity, std::min<uint64_t>(rcvwin, limit_));
}

}  // namespace tou
