// UDP sockets for the engine, and batched datagram I/O: RecvBatch wraps
// recvmmsg, SendBatch sendmmsg. Both own fixed buffers allocated once, so the
// data path never allocates per datagram.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/address.hpp"
#include "engine/gso.hpp"

namespace tou::engine {

// The largest UDP payload (IPv4: 65535 - 20 - 8) rounded up, plus room for the
// 60 bytes of TCP header poll_transmit() may add to a full MSS.
constexpr size_t kMaxDatagram = 65536 + 128;

// One message from a socket's error queue (IP_RECVERR / IPV6_RECVERR).
struct ErrorReport {
  enum class Kind : uint8_t {
    kPacketTooBig,  // ICMP "fragmentation needed" or ICMPv6 "packet too big" from the path
    kLocalTooBig,   // our own stack refused a datagram larger than the interface (EMSGSIZE)
    kOther,         // any other ICMP error (unreachable, time exceeded, ...)
  };
  Kind kind = Kind::kOther;
  int error = 0;     // ee_errno
  uint32_t mtu = 0;  // ee_info: the MTU a too-big report names
  SockAddr dest;     // where the datagram was going (the peer)
  // The start of the datagram the error quotes (our segment from its TCP
  // header on; empty for local errors).
  std::array<uint8_t, 64> quoted{};
  size_t quoted_len = 0;
  std::span<const uint8_t> quote() const { return {quoted.data(), quoted_len}; }
};

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
  // One message from the error queue (MSG_ERRQUEUE): 0 and `out` filled,
  // EAGAIN when the queue is empty, or another errno.
  int read_error(ErrorReport& out);

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
// The MTU of the network device that holds the local address `local`
// (getifaddrs, SIOCGIFMTU), or 0 when no device holds it.
int device_mtu_of(const SockAddr& local);

// The largest MSS for a path MTU: MTU minus IP, UDP and TCP headers, and never
// more than a UDP datagram can carry (RFC 9293 3.7.1, RFC 8085 3.2).
uint16_t mss_for_mtu(int family, int mtu);

// Datagram I/O counters of one batch (the engine's send or receive path).
struct BatchStats {
  uint64_t gso_trains = 0;      // sendmsg()s that carried more than one datagram (UDP_SEGMENT)
  uint64_t gso_segments = 0;    // datagrams sent in those trains
  uint64_t gso_fallbacks = 0;   // the kernel refused a train: GSO off, one by one from then on
  uint64_t gro_batches = 0;     // received buffers that held more than one datagram (UDP_GRO)
  uint64_t gro_segments = 0;    // datagrams split out of them
  uint64_t view_datagrams = 0;  // datagrams sent with their payload in place (commit_views)
};

// GSO on send: kOn (the default; off by itself when the kernel refuses it),
// kOff (never), kFailOnce (a test hook: the next train fails with EIO as on a
// kernel without UDP_SEGMENT, so the fallback runs). Process-wide; read at each
// flush. The environment sets the initial mode: TOU_GSO=off or TOU_GSO=fail.
enum class GsoMode : uint8_t { kOn, kOff, kFailOnce };
void set_gso_mode(GsoMode mode);
GsoMode gso_mode();

// Asks for GRO batches on receive (UDP_GRO); false when the kernel lacks it.
bool enable_gro(int fd);

class RecvBatch {
 public:
  static constexpr size_t kSlots = 32;

  RecvBatch();
  // One recvmmsg(); returns how many buffers arrived (0 when none) or -errno.
  int receive(int fd);
  std::span<const uint8_t> data(size_t i) const { return {slot(i), lengths_[i]}; }
  // The size of each datagram in buffer i when the kernel coalesced several
  // (UDP_GRO), else 0: split it with for_each_gro_segment (engine/gso.hpp).
  size_t segment_size(size_t i) const { return segment_sizes_[i]; }
  const SockAddr& source(size_t i) const { return sources_[i]; }
  // The local address the datagram was sent to (needs enable_pktinfo), port 0.
  const SockAddr* destination(size_t i) const;
  BatchStats& stats() { return stats_; }

 private:
  uint8_t* slot(size_t i) { return buffer_.get() + i * kMaxDatagram; }
  const uint8_t* slot(size_t i) const { return buffer_.get() + i * kMaxDatagram; }

  static constexpr size_t kControlSize = 128;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<SockAddr> sources_;
  std::vector<SockAddr> destinations_;
  std::vector<bool> has_destination_;
  std::vector<size_t> lengths_;
  std::vector<size_t> segment_sizes_;
  std::unique_ptr<uint8_t[]> control_;
  BatchStats stats_;
};

// Datagrams queued in order, sent at flush(): a run of equal-size datagrams to
// one destination (a connection's poll_transmit() output in one turn) leaves as
// one GSO train, and the trains of one socket leave in one sendmmsg(). A datagram
// is either written whole into the batch's buffer (commit) or a header there and
// its payload where it lies (commit_views: the connection's send buffer, which
// must not change before the flush); each message's iovecs are the pieces of its
// datagrams in order, so a train is [hdr1, payload1, hdr2, payload2, ...].
class SendBatch {
 public:
  static constexpr size_t kSlots = 64;
  // Pieces of one datagram at most: a header and a payload that wraps in its ring.
  static constexpr size_t kMaxPieces = 3;
  // Room for kSlots datagrams of a 1500-byte path, or 16 of loopback's 64 KiB.
  static constexpr size_t kBufferSize = 16 * kMaxDatagram;

  // Called for each failed send with the socket and errno. A datagram is
  // tried once more (see send_run), then dropped; a full socket drops the rest.
  struct ErrorSink {
    virtual void on_send_error(int fd, int err) = 0;

   protected:
    ~ErrorSink() = default;
  };

  SendBatch();
  // The buffer for the next datagram: write it, then commit() it. Flush first
  // when full().
  std::span<uint8_t> next() { return {buffer_.get() + used_, kMaxDatagram}; }
  // Queues the datagram in next(): len bytes on fd to dest (nullptr: the
  // connected peer), from source (nullptr: the kernel chooses).
  void commit(int fd, size_t len, const SockAddr* dest, const SockAddr* source);
  // Queues header_len bytes of next() followed by the payload pieces (not copied:
  // they must stay as they are until flush()). Empty pieces are skipped.
  void commit_views(int fd, size_t header_len, std::span<const std::span<const uint8_t>> payload,
                    const SockAddr* dest, const SockAddr* source);
  bool full() const { return count_ == kSlots || used_ + kMaxDatagram > kBufferSize; }
  bool empty() const { return count_ == 0; }
  // Sends everything queued, one sendmmsg() per run of datagrams on one socket.
  // Returns the number of datagrams sent.
  size_t flush(ErrorSink& errors);
  // Counts flush() calls, from 1: views committed while it read g have been
  // sent (and may change) once it reads more than g.
  uint64_t generation() const { return generation_; }
  BatchStats& stats() { return stats_; }

 private:
  struct Meta {
    int fd = -1;
    SockAddr dest;
    bool has_dest = false;
    SockAddr source;
    bool has_source = false;
  };
  // Sends the run [first, end) of datagrams on one socket; returns how many left.
  size_t send_run(size_t first, size_t end, ErrorSink& errors);
  // Fills msgs_[m] with datagrams [first, first + n), as a train when n > 1.
  void build_message(size_t m, size_t first, size_t n);
  // Queues a datagram of `len` bytes whose pieces were added from piece_first_[count_] on.
  void queue(int fd, size_t len, const SockAddr* dest, const SockAddr* source);

  static constexpr size_t kControlSize = 128;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<QueuedDatagram> queued_;
  std::vector<Meta> meta_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> pieces_;        // every queued datagram's pieces, in order
  std::vector<size_t> piece_first_;  // datagram i's pieces: [piece_first_[i], piece_first_[i + 1])
  std::vector<size_t> msg_first_;    // the first datagram of each message
  std::vector<size_t> msg_count_;
  std::unique_ptr<uint8_t[]> control_;
  size_t count_ = 0;
  size_t used_ = 0;   // bytes of buffer_ used
  size_t bytes_ = 0;  // bytes queued (the datagrams' whole lengths)
  uint64_t generation_ = 1;
  uint64_t next_route_ = 0;
  bool gso_ = true;  // false once the kernel refused a train
  BatchStats stats_;
};

}  // namespace tou::engine
