// tou for C++: a thin RAII layer over the C API in tou.h. One move-only
// Socket owns one descriptor; failures throw std::system_error carrying the
// errno (std::generic_category, so `e.code() == std::errc::connection_refused`
// works); buffers are std::span; timeouts are std::chrono durations. There is
// no second implementation: every call is the C call of the same name.
//
//   tou::Socket server = tou::Socket::open(AF_INET);
//   server.bind(tou::Address::loopback(AF_INET, 7000));
//   server.listen();
//   tou::Socket client = tou::Socket::open(AF_INET);
//   client.connect(tou::Address::loopback(AF_INET, 7000));
//   tou::Socket conn = server.accept();
//   client.send_all(std::as_bytes(std::span("hello", 5)));
//   std::array<std::byte, 5> buf;
//   conn.recv_all(buf);
#pragma once

#include <arpa/inet.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "tou/tou.h"

namespace tou {

// Throws std::system_error for the current errno, naming the call.
[[noreturn]] inline void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// An IPv4 or IPv6 socket address.
class Address {
 public:
  Address() = default;
  // Copies a sockaddr (AF_INET or AF_INET6) of `len` bytes.
  Address(const sockaddr* addr, socklen_t len) {
    if (len > sizeof storage_) throw std::invalid_argument("tou::Address: address too long");
    std::memcpy(&storage_, addr, len);
    len_ = len;
  }
  // Parses a numeric address ("127.0.0.1", "::1"); throws std::invalid_argument.
  static Address parse(std::string_view ip, uint16_t port) {
    std::string s(ip);
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      a.len_ = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      a.len_ = sizeof(sockaddr_in6);
    } else {
      throw std::invalid_argument("tou::Address: not a numeric address: " + s);
    }
    return a;
  }
  // 127.0.0.1 or ::1.
  static Address loopback(int family, uint16_t port) {
    return parse(family == AF_INET6 ? "::1" : "127.0.0.1", port);
  }
  // 0.0.0.0 or ::.
  static Address any(int family, uint16_t port = 0) {
    return parse(family == AF_INET6 ? "::" : "0.0.0.0", port);
  }

  int family() const { return storage_.ss_family; }
  uint16_t port() const {
    if (family() == AF_INET6)
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const { return len_; }
  // "127.0.0.1:80" or "[::1]:80".
  std::string to_string() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    // Appended piece by piece: g++ 12 reports a false -Wrestrict on
    // `"[" + std::string(...)` at -O2 (GCC bug 105329).
    std::string out;
    if (family() == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                sizeof buf);
      out.append("[").append(buf).append("]");
    } else {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                sizeof buf);
      out.append(buf);
    }
    return out.append(":").append(std::to_string(port()));
  }

 private:
  friend class Socket;
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

class Socket {
 public:
  Socket() = default;
  // Adopts a descriptor from the C API (tou_socket, tou_accept).
  explicit Socket(int fd) noexcept : fd_(fd) {}
  ~Socket() { close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& o) noexcept : fd_(o.release()) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.release();
    }
    return *this;
  }

  // tou_socket(family, SOCK_STREAM | flags, 0); flags: SOCK_NONBLOCK, SOCK_CLOEXEC.
  static Socket open(int family, int flags = SOCK_CLOEXEC) {
    int fd = tou_socket(family, SOCK_STREAM | flags, 0);
    if (fd < 0) throw_errno("tou_socket");
    return Socket(fd);
  }

  int fd() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  // tou_close; errors are ignored here (the descriptor is gone either way).
  void close() noexcept {
    if (fd_ >= 0) tou_close(fd_);
    fd_ = -1;
  }

  void bind(const Address& a) { check(tou_bind(fd_, a.data(), a.size()), "tou_bind"); }
  void listen(int backlog = SOMAXCONN) { check(tou_listen(fd_, backlog), "tou_listen"); }
  // Blocks (or throws EAGAIN on a non-blocking listener); `peer` receives the
  // peer's address when given.
  Socket accept(Address* peer = nullptr, int flags = SOCK_CLOEXEC) {
    Address a;
    a.len_ = sizeof a.storage_;
    int fd = tou_accept4(fd_, a.data(), &a.len_, flags);
    if (fd < 0) throw_errno("tou_accept4");
    if (peer != nullptr) *peer = a;
    return Socket(fd);
  }
  // Blocking connect; throws on failure (e.code() == std::errc::connection_refused, ...).
  void connect(const Address& a) { check(tou_connect(fd_, a.data(), a.size()), "tou_connect"); }
  // Non-blocking connect: the error as a value (std::errc::operation_in_progress
  // while the handshake runs; poll for writability, then pending_error()).
  std::error_code try_connect(const Address& a) noexcept {
    if (tou_connect(fd_, a.data(), a.size()) == 0) return {};
    return {errno, std::generic_category()};
  }
  void shutdown(int how = SHUT_WR) { check(tou_shutdown(fd_, how), "tou_shutdown"); }

  // Bytes sent (maybe fewer than data.size()). MSG_NOSIGNAL by default: a
  // reset connection throws EPIPE / ECONNRESET instead of raising SIGPIPE.
  size_t send(std::span<const std::byte> data, int flags = MSG_NOSIGNAL) {
    ssize_t n = tou_send(fd_, data.data(), data.size(), flags);
    if (n < 0) throw_errno("tou_send");
    return static_cast<size_t>(n);
  }
  // Bytes received; 0 means the peer closed its side.
  size_t recv(std::span<std::byte> buf, int flags = 0) {
    ssize_t n = tou_recv(fd_, buf.data(), buf.size(), flags);
    if (n < 0) throw_errno("tou_recv");
    return static_cast<size_t>(n);
  }
  // Non-blocking forms: nullopt when the call would block.
  std::optional<size_t> try_send(std::span<const std::byte> data, int flags = MSG_NOSIGNAL) {
    ssize_t n = tou_send(fd_, data.data(), data.size(), flags | MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    throw_errno("tou_send");
  }
  std::optional<size_t> try_recv(std::span<std::byte> buf, int flags = 0) {
    ssize_t n = tou_recv(fd_, buf.data(), buf.size(), flags | MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    throw_errno("tou_recv");
  }
  // Sends everything (retrying short sends).
  void send_all(std::span<const std::byte> data) {
    while (!data.empty()) data = data.subspan(send(data));
  }
  // Fills buf completely; false if the peer closed first.
  bool recv_all(std::span<std::byte> buf) {
    while (!buf.empty()) {
      size_t n = recv(buf);
      if (n == 0) return false;
      buf = buf.subspan(n);
    }
    return true;
  }

  Address local_address() const {
    Address a;
    a.len_ = sizeof a.storage_;
    check(tou_getsockname(fd_, a.data(), &a.len_), "tou_getsockname");
    return a;
  }
  Address peer_address() const {
    Address a;
    a.len_ = sizeof a.storage_;
    check(tou_getpeername(fd_, a.data(), &a.len_), "tou_getpeername");
    return a;
  }

  // Options with BSD's levels and names; T is the option's value type.
  template <typename T>
  void set_option(int level, int name, const T& value) {
    check(tou_setsockopt(fd_, level, name, &value, sizeof value), "tou_setsockopt");
  }
  template <typename T>
  T get_option(int level, int name) const {
    T value{};
    socklen_t len = sizeof value;
    check(tou_getsockopt(fd_, level, name, &value, &len), "tou_getsockopt");
    return value;
  }
  void set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, int{on}); }
  void set_receive_timeout(std::chrono::microseconds t) {
    set_option(SOL_SOCKET, SO_RCVTIMEO, to_timeval(t));
  }
  void set_send_timeout(std::chrono::microseconds t) {
    set_option(SOL_SOCKET, SO_SNDTIMEO, to_timeval(t));
  }
  void set_buffer_sizes(int bytes) {
    set_option(SOL_SOCKET, SO_RCVBUF, bytes);
    set_option(SOL_SOCKET, SO_SNDBUF, bytes);
  }
  void set_congestion_control(std::string_view name) {
    check(tou_setsockopt(fd_, IPPROTO_TCP, TCP_CONGESTION, name.data(),
                         static_cast<socklen_t>(name.size())),
          "tou_setsockopt");
  }
  // SO_ERROR: the pending error, cleared by reading it.
  std::error_code pending_error() const {
    return {get_option<int>(SOL_SOCKET, SO_ERROR), std::generic_category()};
  }
  // TCP_INFO: the connection's state and counters.
  tou_info info() const { return get_option<tou_info>(IPPROTO_TCP, TCP_INFO); }

 private:
  static void check(int rc, const char* what) {
    if (rc < 0) throw_errno(what);
  }
  static timeval to_timeval(std::chrono::microseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1'000'000);
    tv.tv_usec = static_cast<suseconds_t>(t.count() % 1'000'000);
    return tv;
  }

  int fd_ = -1;
};

}  // namespace tou
