#include "engine/address.hpp"

#include <arpa/inet.h>
#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace tou::engine {

int SockAddr::parse(const sockaddr* addr, socklen_t len, SockAddr& out) {
  if (addr == nullptr) return EFAULT;
  if (len < static_cast<socklen_t>(sizeof(sa_family_t))) return EINVAL;
  switch (addr->sa_family) {
    case AF_INET:
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return EINVAL;
      out = SockAddr{};
      std::memcpy(&out.storage_, addr, sizeof(sockaddr_in));
      out.len_ = sizeof(sockaddr_in);
      return 0;
    case AF_INET6:
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return EINVAL;
      out = SockAddr{};
      std::memcpy(&out.storage_, addr, sizeof(sockaddr_in6));
      out.len_ = sizeof(sockaddr_in6);
      return 0;
    default:
      return EAFNOSUPPORT;
  }
}

SockAddr SockAddr::any(int family) {
  SockAddr a;
  a.storage_.ss_family = static_cast<sa_family_t>(family);
  a.len_ = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return a;
}

SockAddr SockAddr::loopback(int family, uint16_t port) {
  SockAddr a = any(family);
  if (family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_addr = in6addr_loopback;
  } else {
    reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  a.set_port(port);
  return a;
}

uint16_t SockAddr::port() const {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  return 0;
}

void SockAddr::set_port(uint16_t port) {
  if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  } else if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  }
}

std::span<const uint8_t> SockAddr::ip() const {
  if (family() == AF_INET6) {
    return {reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr.s6_addr, 16};
  }
  if (family() == AF_INET) {
    return {reinterpret_cast<const uint8_t*>(
                &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr),
            4};
  }
  return {};
}

bool SockAddr::is_wildcard() const {
  for (uint8_t b : ip()) {
    if (b != 0) return false;
  }
  return true;
}

bool SockAddr::is_loopback() const {
  std::span<const uint8_t> a = ip();
  if (a.size() == 4) return a[0] == 127;
  if (a.size() != 16) return false;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.data(), kMapped, 12) == 0) return a[12] == 127;
  return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
}

void SockAddr::copy_out(sockaddr* addr, socklen_t* len) const {
  if (addr == nullptr || len == nullptr) return;
  socklen_t n = std::min(*len, len_);
  std::memcpy(addr, &storage_, n);
  *len = len_;
}

std::string SockAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  // Appended piece by piece: g++ 12 reports a false -Wrestrict on
  // `"[" + std::string(...)` at -O2 (GCC bug 105329).
  std::string out;
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof buf);
    out.append("[").append(buf).append("]");
  } else {
    if (family() == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                sizeof buf);
    }
    out.append(buf);
  }
  out.append(":").append(std::to_string(port()));
  return out;
}

bool operator==(const SockAddr& a, const SockAddr& b) {
  return a.family() == b.family() && a.port() == b.port() && std::ranges::equal(a.ip(), b.ip());
}

AddrKey AddrKey::of(const SockAddr& a) {
  AddrKey k;
  k.bytes[0] = static_cast<uint8_t>(a.family());
  uint16_t port = a.port();
  k.bytes[1] = static_cast<uint8_t>(port >> 8);
  k.bytes[2] = static_cast<uint8_t>(port);
  std::span<const uint8_t> ip = a.ip();
  std::memcpy(k.bytes.data() + 4, ip.data(), ip.size());
  return k;
}

namespace {

// Keyed (SipHash-2-4): the keys are peers' addresses and ports, which a peer
// chooses, so an unkeyed hash would let it flood one bucket of a listener's map.
size_t keyed_hash(const uint8_t* bytes, size_t len) {
  static const std::array<uint8_t, crypto_shorthash_KEYBYTES> key = [] {
    std::array<uint8_t, crypto_shorthash_KEYBYTES> secret{};
    if (sodium_init() < 0) std::abort();
    randombytes_buf(secret.data(), secret.size());
    return secret;
  }();
  uint64_t h;
  crypto_shorthash(reinterpret_cast<unsigned char*>(&h), bytes, len, key.data());
  return static_cast<size_t>(h);
}

}  // namespace

size_t AddrKeyHash::operator()(const AddrKey& k) const {
  return keyed_hash(k.bytes.data(), k.bytes.size());
}

std::optional<ConnectionKey> ConnectionKey::of_datagram(const SockAddr& from,
                                                        std::span<const uint8_t> bytes) {
  if (bytes.size() < 4) return std::nullopt;
  // RFC 9293 3.1: source port, then destination port, in network order.
  return ConnectionKey{AddrKey::of(from), static_cast<uint16_t>(bytes[0] << 8 | bytes[1]),
                       static_cast<uint16_t>(bytes[2] << 8 | bytes[3])};
}

size_t ConnectionKeyHash::operator()(const ConnectionKey& k) const {
  static_assert(sizeof(ConnectionKey) == 24 &&
                std::has_unique_object_representations_v<ConnectionKey>);
  std::array<uint8_t, sizeof(ConnectionKey)> bytes;
  std::memcpy(bytes.data(), &k, sizeof k);
  return keyed_hash(bytes.data(), bytes.size());
}

}  // namespace tou::engine
