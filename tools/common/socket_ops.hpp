// The few socket calls that differ between tou and the kernel's TCP, behind
// one table, so that a tool runs the very same workload over either. Data
// calls (read, write, poll) need no table: a tou socket is a real descriptor.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tou::tools {

// What both TCP_INFOs (struct tou_info, Linux's struct tcp_info) can tell.
struct ConnectionStats {
  uint32_t rtt_us = 0;  // smoothed RTT
  uint32_t rttvar_us = 0;
  uint32_t mss = 0;
  uint64_t cwnd_bytes = 0;
  uint64_t retransmits = 0;  // segments retransmitted
  uint64_t bytes_sent = 0;   // payload, first transmissions
  uint64_t bytes_retransmitted = 0;
  uint64_t bytes_received = 0;
  bool fin_acked = false;  // our FIN was acknowledged: every byte we sent was delivered
  // Path MTU discovery (tou only; pmtu 0 when off).
  uint32_t pmtu = 0;
  uint64_t pmtu_probes_lost = 0;
  uint64_t pmtu_ptb = 0;  // ICMP "too big" reports accepted
  uint64_t pmtu_black_holes = 0;
  uint64_t coalesced = 0;  // datagrams taken in coalesced batches (tou only)
};

struct SocketOps {
  std::string_view name;  // "tou" or "tcp"
  int (*socket)(int domain, int type, int protocol);
  int (*bind)(int fd, const sockaddr* addr, socklen_t len);
  int (*listen)(int fd, int backlog);
  int (*accept4)(int fd, sockaddr* addr, socklen_t* len, int flags);
  int (*connect)(int fd, const sockaddr* addr, socklen_t len);
  int (*shutdown)(int fd, int how);
  int (*close)(int fd);
  int (*setsockopt)(int fd, int level, int name, const void* value, socklen_t len);
  int (*getsockopt)(int fd, int level, int name, void* value, socklen_t* len);
  // send/recv with exact errors (tou reports a reset as ECONNRESET, not EOF).
  ssize_t (*send)(int fd, const void* buf, size_t len, int flags);
  ssize_t (*recv)(int fd, void* buf, size_t len, int flags);
  // TCP_INFO as ConnectionStats; 0 or -1 with errno.
  int (*stats)(int fd, ConnectionStats& out);
};

const SocketOps& tou_ops();
const SocketOps& kernel_tcp_ops();

// TCP_CONGESTION by tou's registry names ("newreno", "cubic", "bbr"); the kernel calls
// NewReno "reno".
int set_congestion_control(const SocketOps& ops, int fd, const std::string& name);
int set_int_option(const SocketOps& ops, int fd, int level, int name, int value);
// SO_RCVTIMEO and SO_SNDTIMEO, so that no blocking call waits longer.
int set_io_timeout(const SocketOps& ops, int fd, double seconds);

// "rtt 0.123 ms, cwnd 1.50 MB, retransmissions 0, sent 1048576 B, received 0 B",
// then ", path MTU 1280 B (...)" when tou discovers it.
std::string format_stats(const ConnectionStats& stats);

}  // namespace tou::tools
