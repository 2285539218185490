// "host port" on the command line to socket addresses, as nc and iperf3 take them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tou/socket.hpp"

namespace tou::tools {

// A port number "1".."65535"; nullopt-like 0 when the text is not one.
uint16_t parse_port(const std::string& text);

// getaddrinfo for a stream socket. family: AF_UNSPEC, AF_INET or AF_INET6.
// passive: an address to bind (an empty host is the wildcard of the family,
// IPv4 unless AF_INET6). Throws std::runtime_error("host: reason").
std::vector<Address> resolve(const std::string& host, uint16_t port, int family, bool passive);

// "127.0.0.1" / "::1" (no port).
std::string host_of(const Address& address);
// "127.0.0.1 port 9", nc's way of naming an address in messages.
std::string describe(const Address& address);

}  // namespace tou::tools
