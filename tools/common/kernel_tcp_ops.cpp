// The kernel's TCP behind the same table. Linux's own <linux/tcp.h> (not
// glibc's <netinet/tcp.h>) has the byte counters of struct tcp_info.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "socket_ops.hpp"

namespace tou::tools {

namespace {

// Linux's tcpi_state values (include/net/tcp_states.h), which only glibc's
// <netinet/tcp.h> names.
constexpr uint8_t kFinWait2 = 5, kTimeWait = 6, kClose = 7;

int kernel_accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return ::accept4(fd, addr, len, flags);
}

int kernel_stats(int fd, ConnectionStats& out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  out.rtt_us = info.tcpi_rtt;
  out.rttvar_us = info.tcpi_rttvar;
  out.mss = info.tcpi_snd_mss;
  out.cwnd_bytes = uint64_t{info.tcpi_snd_cwnd} * info.tcpi_snd_mss;
  out.retransmits = info.tcpi_total_retrans;
  out.bytes_sent = info.tcpi_bytes_sent - info.tcpi_bytes_retrans;
  out.bytes_retransmitted = info.tcpi_bytes_retrans;
  out.bytes_received = info.tcpi_bytes_received;
  out.fin_acked =
      info.tcpi_state == kFinWait2 || info.tcpi_state == kTimeWait || info.tcpi_state == kClose;
  return 0;
}

}  // namespace

const SocketOps& kernel_tcp_ops() {
  static const SocketOps ops{
      .name = "tcp",
      .socket = ::socket,
      .bind = ::bind,
      .listen = ::listen,
      .accept4 = kernel_accept4,
      .connect = ::connect,
      .shutdown = ::shutdown,
      .close = ::close,
      .setsockopt = ::setsockopt,
      .getsockopt = ::getsockopt,
      .send = ::send,
      .recv = ::recv,
      .stats = kernel_stats,
  };
  return ops;
}

}  // namespace tou::tools
