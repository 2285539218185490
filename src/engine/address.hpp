// Socket addresses for the engine: a sockaddr_storage with its length, and a
// compact key for hash maps (the demultiplexer looks up every datagram by its
// source address).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tou::engine {

class SockAddr {
 public:
  SockAddr() = default;
  // Checks family and length as bind()/connect() do: EINVAL for a short
  // length, EAFNOSUPPORT for a family other than AF_INET / AF_INET6.
  static int parse(const sockaddr* addr, socklen_t len, SockAddr& out);
  // The wildcard address (0.0.0.0 or ::) with port 0.
  static SockAddr any(int family);
  static SockAddr loopback(int family, uint16_t port);

  int family() const { return storage_.ss_family; }
  socklen_t size() const { return len_; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t* size_ptr() { return &len_; }
  void set_size(socklen_t len) { len_ = len; }
  uint16_t port() const;  // host order
  void set_port(uint16_t port);
  bool is_wildcard() const;
  bool is_loopback() const;  // 127/8, ::1, ::ffff:127/104
  // The address part only (4 or 16 bytes), for v4 the 4 bytes.
  std::span<const uint8_t> ip() const;
  // Copies into a caller's buffer with BSD truncation rules: writes at most
  // *len bytes and sets *len to the full size.
  void copy_out(sockaddr* addr, socklen_t* len) const;
  std::string to_string() const;

  friend bool operator==(const SockAddr& a, const SockAddr& b);

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// A fixed-size key: family, port and 16 address bytes (v4 in the first four).
struct AddrKey {
  std::array<uint8_t, 20> bytes{};
  static AddrKey of(const SockAddr& a);
  friend bool operator==(const AddrKey&, const AddrKey&) = default;
};

struct AddrKeyHash {
  size_t operator()(const AddrKey& k) const;
};

// A connection's key in its endpoint's connections and TIME-WAIT table: the peer's
// UDP address and the two TCP ports its segments carry. One UDP port carries
// several connections with one peer apart by their TCP ports, as SCTP over
// UDP (RFC 6951) carries its own ports inside one UDP port; when the TCP
// ports equal the UDP ports (every connection that does not share a port with
// another to the same peer) nothing differs on the wire.
struct ConnectionKey {
  AddrKey peer;             // the peer's UDP address and port
  uint16_t peer_port = 0;   // the peer's TCP port (its segments' source port)
  uint16_t local_port = 0;  // ours (their destination port)
  static ConnectionKey of(const SockAddr& peer, uint16_t peer_port, uint16_t local_port) {
    return ConnectionKey{AddrKey::of(peer), peer_port, local_port};
  }
  // The key of a datagram from `from`, read from the first four bytes of its
  // TCP header (source and destination port); nullopt when it is shorter.
  static std::optional<ConnectionKey> of_datagram(const SockAddr& from,
                                                  std::span<const uint8_t> bytes);
  friend bool operator==(const ConnectionKey&, const ConnectionKey&) = default;
};

struct ConnectionKeyHash {
  size_t operator()(const ConnectionKey& k) const;
};

}  // namespace tou::engine
