#include "socket_ops.hpp"

#include <fmt/format.h>
#include <sys/time.h>

#include <cmath>
#include <cstring>

#include "tou/tou.h"

namespace tou::tools {

namespace {

int tou_stats(int fd, ConnectionStats& out) {
  tou_info info{};
  socklen_t len = sizeof info;
  if (tou_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  out.rtt_us = info.rtt_us;
  out.rttvar_us = info.rttvar_us;
  out.mss = info.snd_mss;
  out.cwnd_bytes = info.cwnd;
  out.retransmits = info.segments_lost;
  out.bytes_sent = info.bytes_sent;
  out.bytes_retransmitted = info.bytes_retransmitted;
  out.bytes_received = info.bytes_received;
  out.fin_acked = info.state == TOU_STATE_FIN_WAIT_2 || info.state == TOU_STATE_TIME_WAIT ||
                  info.state == TOU_STATE_CLOSED;
  out.pmtu = info.pmtu;
  out.pmtu_probes_lost = info.pmtu_probes_lost;
  out.pmtu_ptb = info.pmtu_ptb_accepted;
  out.pmtu_black_holes = info.pmtu_black_holes;
  out.coalesced = info.coalesced_datagrams;
  return 0;
}

}  // namespace

const SocketOps& tou_ops() {
  static const SocketOps ops{
      .name = "tou",
      .socket = tou_socket,
      .bind = tou_bind,
      .listen = tou_listen,
      .accept4 = tou_accept4,
      .connect = tou_connect,
      .shutdown = tou_shutdown,
      .close = tou_close,
      .setsockopt = tou_setsockopt,
      .getsockopt = tou_getsockopt,
      .send = tou_send,
      .recv = tou_recv,
      .stats = tou_stats,
  };
  return ops;
}

int set_congestion_control(const SocketOps& ops, int fd, const std::string& name) {
  const std::string wanted = ops.name == "tcp" && name == "newreno" ? "reno" : name;
  return ops.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, wanted.c_str(),
                        static_cast<socklen_t>(wanted.size()));
}

int set_int_option(const SocketOps& ops, int fd, int level, int name, int value) {
  return ops.setsockopt(fd, level, name, &value, sizeof value);
}

int set_io_timeout(const SocketOps& ops, int fd, double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
  if (ops.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return -1;
  return ops.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string format_stats(const ConnectionStats& s) {
  std::string line = fmt::format(
      "rtt {:.3f} ms (var {:.3f} ms), cwnd {} B, mss {} B, retransmissions {} ({} B), "
      "sent {} B, received {} B",
      s.rtt_us / 1000.0, s.rttvar_us / 1000.0, s.cwnd_bytes, s.mss, s.retransmits,
      s.bytes_retransmitted, s.bytes_sent, s.bytes_received);
  if (s.pmtu != 0) {
    line += fmt::format(", path MTU {} B (probes lost {}, ICMP too-big {}, black holes {})", s.pmtu,
                        s.pmtu_probes_lost, s.pmtu_ptb, s.pmtu_black_holes);
  }
  if (s.coalesced != 0) {
    line += fmt::format(", {} datagrams taken in coalesced batches", s.coalesced);
  }
  return line;
}

}  // namespace tou::tools
