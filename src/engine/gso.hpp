// UDP segmentation offload, the parts that are plain arithmetic: which queued
// datagrams one sendmsg() can carry as a GSO train (UDP_SEGMENT), and how a
// GRO batch (UDP_GRO) splits back into the datagrams the peer sent. No
// sockets here, so tests drive both with fake buffers (test/unit/gso_test.cpp).
//
// The kernel's rules (Linux udp_send_skb, udp_gro_receive): every segment of a
// train has the train's segment size except the last, which may be shorter;
// at most kMaxGsoSegments segments; and the whole train is one IP datagram's
// worth of payload. A GRO batch follows the same shape.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tou::engine {

// UDP_MAX_SEGMENTS of Linux before 6.9 (128 after): the smaller one, so that
// older kernels accept every train.
constexpr size_t kMaxGsoSegments = 64;
// One IPv4 datagram's payload (65535 - 20 IP - 8 UDP), which also fits IPv6.
constexpr size_t kMaxGsoBytes = 65535 - 20 - 8;

// What a queued datagram looks like to the train planner.
struct QueuedDatagram {
  size_t offset = 0;  // where it starts in the bytes the batch sends, in order
  size_t length = 0;
  uint64_t route = 0;  // equal for datagrams with the same socket, destination and source
};

// How many datagrams, starting at q[0], one GSO send carries: they share a
// route, lie back to back in the buffer, all have q[0]'s length except a
// shorter last one, and fit the segment and byte limits. At least 1.
inline size_t gso_train_length(std::span<const QueuedDatagram> q) {
  if (q.empty()) return 0;
  const size_t size = q[0].length;
  size_t n = 1, bytes = size;
  while (n < q.size() && n < kMaxGsoSegments && size > 0) {
    const QueuedDatagram& d = q[n];
    if (d.route != q[0].route || d.offset != q[n - 1].offset + q[n - 1].length) break;
    if (d.length > size || d.length == 0 || bytes + d.length > kMaxGsoBytes) break;
    bytes += d.length;
    ++n;
    if (d.length < size) break;  // a shorter segment ends the train
  }
  return n;
}

// Calls fn(segment) for each datagram of a received buffer: `segment_size`
// bytes each and a shorter last one (UDP_GRO's cmsg), or the whole buffer
// when segment_size is 0 (not coalesced). Returns the number of segments.
template <typename Fn>
size_t for_each_gro_segment(std::span<const uint8_t> buffer, size_t segment_size, Fn&& fn) {
  if (segment_size == 0 || segment_size >= buffer.size()) {
    fn(buffer);
    return 1;
  }
  size_t n = 0;
  for (size_t at = 0; at < buffer.size(); at += segment_size, ++n) {
    fn(buffer.subspan(at, std::min(segment_size, buffer.size() - at)));
  }
  return n;
}

}  // namespace tou::engine
