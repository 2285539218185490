// HOST PORT -> sockaddr for the peer transports (numeric hosts only: the
// benchmark runs on loopback and in its own namespaces).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tou_bench {

struct PeerAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

std::optional<PeerAddress> numeric_address(const std::string& host, uint16_t port);
// The IPv4 wildcard with a port, for listening.
PeerAddress any_address(uint16_t port);

}  // namespace tou_bench
