// UDP sockets for the engine, and batched datagram I/O: RecvBatch wraps
// recvmmsg, SendBatch sendmmsg. Both own fixed buffers allocated once, so the
// data path never allocates per datagram.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/address.hpp"

namespace tou::engine {

// The largest UDP payload (IPv4: 65535 - 20 - 8) rounded up, plus room for the
// 60 bytes of TCP header poll_transmit() may add to a full MSS.
constexpr size_t kMaxDatagram = 65536 + 128;

class UdpSocket {
 public:
  UdpSocket() = default;
  ~UdpSocket() { close(); }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  UdpSocket(UdpSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UdpSocket& operator=(UdpSocket&& o) noexcept;

  // Opens a non-blocking, close-on-exec UDP socket. v6only: -1 keeps the
  // system default (net.ipv6.bindv6only), 0 or 1 sets IPV6_V6ONLY. Returns 0 or errno.
  int open(int family, int v6only);
  int bind(const SockAddr& local);
  int connect(const SockAddr& remote);
  int local_address(SockAddr& out) const;
  // The route's MTU for a connected socket (IP_MTU / IPV6_MTU), 0 when unknown.
  int path_mtu() const;
  // SO_SNDBUF / SO_RCVBUF, with the FORCE variants when the process may.
  void set_buffer_sizes(int bytes);
  // Ask for IP_PKTINFO / IPV6_PKTINFO on receive (a wildcard-bound listener
  // learns which local address each peer reached).
  void enable_pktinfo();

  int fd() const { return fd_; }
  void close();
  // Forgets the fd without closing it (the fork child closes it itself).
  void abandon() { fd_ = -1; }

 private:
  int fd_ = -1;
};

// The MTU of the route to `remote`, found with a temporary connected socket;
// 0 when unknown.
int path_mtu_to(const SockAddr& remote);

// The largest MSS for a path MTU: MTU minus IP, UDP and TCP headers, and never
// more than a UDP datagram can carry (RFC 9293 3.7.1, RFC 8085 3.2).
uint16_t mss_for_mtu(int family, int mtu);

class RecvBatch {
 public:
  static constexpr size_t kSlots = 32;

  RecvBatch();
  // One recvmmsg(); returns how many datagrams arrived (0 when none) or -errno.
  int receive(int fd);
  std::span<const uint8_t> data(size_t i) const { return {slot(i), lengths_[i]}; }
  const SockAddr& source(size_t i) const { return sources_[i]; }
  // The local address the datagram was sent to (needs enable_pktinfo), port 0.
  const SockAddr* destination(size_t i) const;

 private:
  uint8_t* slot(size_t i) { return buffer_.get() + i * kMaxDatagram; }
  const uint8_t* slot(size_t i) const { return buffer_.get() + i * kMaxDatagram; }

  static constexpr size_t kControlSize = 64;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<SockAddr> sources_;
  std::vector<SockAddr> destinations_;
  std::vector<bool> has_destination_;
  std::vector<size_t> lengths_;
  std::unique_ptr<uint8_t[]> control_;
};

class SendBatch {
 public:
  static constexpr size_t kSlots = 32;

  // Called for each failed send with the socket and errno; the datagram is dropped.
  struct ErrorSink {
    virtual void on_send_error(int fd, int err) = 0;

   protected:
    ~ErrorSink() = default;
  };

  SendBatch();
  // The buffer for the next datagram: write it, then commit() it. Flush first
  // when full().
  std::span<uint8_t> next() { return {slot(count_), kMaxDatagram}; }
  // Queues the datagram in next(): len bytes on fd to dest (nullptr: the
  // connected peer), from source (nullptr: the kernel chooses).
  void commit(int fd, size_t len, const SockAddr* dest, const SockAddr* source);
  bool full() const { return count_ == kSlots; }
  bool empty() const { return count_ == 0; }
  // Sends everything queued, one sendmmsg() per run of datagrams on one socket.
  // Returns the number of datagrams sent.
  size_t flush(ErrorSink& errors);

 private:
  uint8_t* slot(size_t i) { return buffer_.get() + i * kMaxDatagram; }

  static constexpr size_t kControlSize = 64;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<int> fds_;
  std::vector<SockAddr> dests_;
  std::unique_ptr<uint8_t[]> control_;
  size_t count_ = 0;
};

}  // namespace tou::engine
