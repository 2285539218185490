// Socket addresses as text: "127.0.0.1:9000", "[::1]:9000", "localhost:9000".
#pragma once

#include <sys/socket.h>

#include <string>

namespace tou::netem {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  std::string to_string() const;
};

// Resolves "HOST:PORT" (HOST may be a name or a bracketed IPv6 address) for UDP.
// Returns an empty string on success, else what is wrong.
std::string parse_address(const std::string& text, SocketAddress& out);

}  // namespace tou::netem
