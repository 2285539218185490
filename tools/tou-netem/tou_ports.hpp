// Port rewriting for tou segments (proxy mode, --tou). tou carries the TCP
// header's ports inside the UDP payload and each end checks them against the
// UDP ports (src/core: a segment for another port is dropped), so a proxy that
// changes UDP ports must rewrite them in the segment too, as a NAT rewrites the
// ports of TCP over IP.
#pragma once

#include <cstdint>
#include <span>

namespace tou::netem {

// Sets the source and destination ports of the tou segment in `datagram` and
// adjusts its checksum incrementally (RFC 1624), so a segment whose checksum
// was wrong stays wrong. Datagrams shorter than a TCP header are left alone.
void rewrite_tou_ports(std::span<uint8_t> datagram, uint16_t src_port, uint16_t dst_port);

}  // namespace tou::netem
