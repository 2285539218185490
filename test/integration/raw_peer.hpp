// A plain UDP socket on 127.0.0.<host> that speaks hand-made segments to a
// tou port on loopback (the demultiplexer's and the SYN path's tests), and
// the listener's counters.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {

class RawPeer {
 public:
  explicit RawPeer(uint16_t to_port, uint8_t host = 1);
  uint16_t port() const { return port_; }

  // A segment from this peer: our port, theirs, window 65535, MSS 1400 on a SYN.
  tou::SegmentHeader header(uint8_t flags, uint32_t seq, uint32_t ack = 0) const;
  void send(const tou::SegmentHeader& h, std::span<const uint8_t> payload = {});
  void send(uint8_t flags, uint32_t seq, uint32_t ack = 0) { send(header(flags, seq, ack)); }

  struct Received {
    tou::SegmentHeader header;
    size_t payload = 0;      // payload bytes
    uint16_t from_port = 0;  // the UDP port it came from
  };
  // The next segment within `ms`.
  std::optional<Received> receive(int ms);

 private:
  Addr to_;
  Fd sock_;
  uint16_t port_ = 0;
};

// TOU_LISTENER_INFO of a listening tou socket.
tou_listener_info listener_info(int fd);

}  // namespace tou_test
