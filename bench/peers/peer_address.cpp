#include "peer_address.hpp"

#include <netdb.h>

#include <cstring>

namespace tou_bench {

std::optional<PeerAddress> numeric_address(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return std::nullopt;
  }
  PeerAddress a;
  std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
  a.len = found->ai_addrlen;
  freeaddrinfo(found);
  return a;
}

PeerAddress any_address(uint16_t port) {
  PeerAddress a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_ANY);
  a.len = sizeof(sockaddr_in);
  return a;
}

}  // namespace tou_bench
