#include "preload/options.hpp"

#include <netinet/in.h>
#include <netinet/ip.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "preload/libc.hpp"
#include "preload/log.hpp"
#include "tou/tou.h"

namespace tou::preload {

namespace {

// Linux's struct tcp_info (uapi linux/tcp.h, through tcpi_snd_wnd). Spelt out
// here because <linux/tcp.h> and <netinet/tcp.h> cannot be included together.
struct LinuxTcpInfo {
  uint8_t state, ca_state, retransmits, probes, backoff, options;
  uint8_t wscale;  // snd_wscale : 4, rcv_wscale : 4
  uint8_t app_limited_bits;
  uint32_t rto, ato, snd_mss, rcv_mss;
  uint32_t unacked, sacked, lost, retrans, fackets;
  uint32_t last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
  uint32_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
  uint32_t rcv_rtt, rcv_space;
  uint32_t total_retrans;
  uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
  uint32_t segs_out, segs_in;
  uint32_t notsent_bytes, min_rtt, data_segs_in, data_segs_out;
  uint64_t delivery_rate;
  uint64_t busy_time, rwnd_limited, sndbuf_limited;
  uint32_t delivered, delivered_ce;
  uint64_t bytes_sent, bytes_retrans;
  uint32_t dsack_dups, reord_seen;
  uint32_t rcv_ooopack;
  uint32_t snd_wnd;
};
static_assert(sizeof(LinuxTcpInfo) == 232 && offsetof(LinuxTcpInfo, total_retrans) == 100 &&
              offsetof(LinuxTcpInfo, bytes_sent) == 200 && offsetof(LinuxTcpInfo, snd_wnd) == 228);

constexpr uint8_t kLinuxOptTimestamps = 1, kLinuxOptSack = 2, kLinuxOptWscale = 4;

LinuxTcpInfo to_linux(const tou_info& t) {
  LinuxTcpInfo l{};
  l.state = t.state;                        // tou numbers its states as Linux does
  l.ca_state = t.in_recovery != 0 ? 3 : 0;  // TCP_CA_Recovery : TCP_CA_Open
  l.options =
      static_cast<uint8_t>(((t.options & TOU_OPT_SACK) != 0 ? kLinuxOptSack : 0) |
                           ((t.options & TOU_OPT_TIMESTAMPS) != 0 ? kLinuxOptTimestamps : 0) |
                           (t.snd_wscale != 0 || t.rcv_wscale != 0 ? kLinuxOptWscale : 0));
  l.wscale = static_cast<uint8_t>((t.snd_wscale & 0xf) | (t.rcv_wscale & 0xf) << 4);
  l.rto = t.rto_us;
  l.snd_mss = t.snd_mss;
  l.rcv_mss = t.rcv_mss;
  uint32_t mss = std::max<uint32_t>(t.snd_mss, 1);
  l.unacked = t.flight_size / mss;
  l.pmtu = t.snd_mss + 20 + 8 + 20;  // IPv4 + UDP + TCP headers: what the path carries
  l.rcv_ssthresh = t.rcv_wnd;
  l.rtt = t.rtt_us;
  l.rttvar = t.rttvar_us;
  l.snd_ssthresh = t.ssthresh / mss;  // Linux counts both in segments
  l.snd_cwnd = t.cwnd / mss;
  l.advmss = t.rcv_mss;
  l.reordering = 3;
  l.rcv_space = t.rcv_wnd;
  l.total_retrans = static_cast<uint32_t>(t.segments_lost);
  l.bytes_acked = t.bytes_acked;
  l.bytes_received = t.bytes_received;
  l.segs_out = static_cast<uint32_t>(t.segments_sent);
  l.segs_in = static_cast<uint32_t>(t.segments_received);
  l.min_rtt = t.min_rtt_us;
  l.bytes_sent = t.bytes_sent + t.bytes_retransmitted;  // Linux counts retransmissions too
  l.bytes_retrans = t.bytes_retransmitted;
  l.snd_wnd = t.snd_wnd;
  return l;
}

int fail(int err) {
  errno = err;
  return -1;
}

int domain_of(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  return tou_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 ? domain : 0;
}

// Options tou does not implement that a TCP stack may ignore without changing
// what the program can observe of the byte stream: priorities, TOS/TTL, ACK
// and segment timing hints, TCP Fast Open (the handshake just takes one RTT),
// SO_REUSEPORT (a second bind of the port then fails with EADDRINUSE).
bool ignorable(int fd, int level, int name) {
  switch (level) {
    case SOL_SOCKET:
      return name == SO_PRIORITY || name == SO_REUSEPORT || name == SO_OOBINLINE ||
             name == SO_BUSY_POLL || name == SO_INCOMING_CPU;
    case IPPROTO_IP:
      return name == IP_TOS || name == IP_TTL || name == IP_BIND_ADDRESS_NO_PORT ||
             name == IP_RECVERR || name == IP_MTU_DISCOVER;
    case IPPROTO_IPV6:
      // As Linux: IPv6 options on an IPv4 socket fail.
      return (name == IPV6_TCLASS || name == IPV6_UNICAST_HOPS || name == IPV6_RECVERR ||
              name == IPV6_MTU_DISCOVER) &&
             domain_of(fd) == AF_INET6;
    case IPPROTO_TCP:
      return name == TCP_QUICKACK || name == TCP_DEFER_ACCEPT || name == TCP_FASTOPEN ||
             name == TCP_FASTOPEN_CONNECT || name == TCP_CORK || name == TCP_NOTSENT_LOWAT ||
             name == TCP_WINDOW_CLAMP || name == TCP_THIN_LINEAR_TIMEOUTS || name == TCP_LINGER2;
    default:
      return false;
  }
}

// Options tou knows but only the engine that serves the socket can set: a
// process that inherited the socket (fork) reaches that engine through its
// option relay, and gets EOPNOTSUPP once the engine's process is gone
// (engine/option_relay.hpp). These only tune performance or liveness probing, so
// they are dropped with success then.
bool advisory(int level, int name) {
  if (level == SOL_SOCKET) {
    return name == SO_KEEPALIVE || name == SO_SNDBUF || name == SO_RCVBUF || name == SO_REUSEADDR;
  }
  return level == IPPROTO_TCP && (name == TCP_NODELAY || name == TCP_KEEPIDLE ||
                                  name == TCP_KEEPINTVL || name == TCP_KEEPCNT);
}

// What an ignored option reads back: Linux's default for a fresh socket.
bool ignored_default(int level, int name, int& value) {
  value = 0;
  if (level == IPPROTO_TCP && name == TCP_QUICKACK) {
    value = 1;
    return true;
  }
  return (level == SOL_SOCKET &&
          (name == SO_PRIORITY || name == SO_REUSEPORT || name == SO_OOBINLINE)) ||
         (level == IPPROTO_IP && name == IP_TOS) ||
         (level == IPPROTO_IPV6 && name == IPV6_TCLASS) ||
         (level == IPPROTO_TCP &&
          (name == TCP_DEFER_ACCEPT || name == TCP_FASTOPEN || name == TCP_CORK));
}

// The descriptor's own kernel socket serves these (the pair honours them).
bool on_descriptor(int level, int name) {
  return level == SOL_SOCKET && name == SO_RCVLOWAT;
}

}  // namespace

int set_option(int fd, int level, int name, const void* value, socklen_t len) {
  if (on_descriptor(level, name)) return libc::setsockopt(fd, level, name, value, len);
  if (tou_setsockopt(fd, level, name, value, len) == 0) return 0;
  int err = errno;
  bool ignore = (err == ENOPROTOOPT && ignorable(fd, level, name)) ||
                (err == EOPNOTSUPP && (advisory(level, name) || ignorable(fd, level, name)));
  if (!ignore) {
    debug_log("setsockopt fd %d level %d name %d: %s", fd, level, name, std::strerror(err));
    return fail(err);
  }
  if (value == nullptr) return fail(EFAULT);
  if (len < static_cast<socklen_t>(sizeof(int))) return fail(EINVAL);
  debug_log("setsockopt fd %d level %d name %d: ignored", fd, level, name);
  return 0;
}

int get_option(int fd, int level, int name, void* value, socklen_t* len) {
  if (on_descriptor(level, name)) return libc::getsockopt(fd, level, name, value, len);
  if (level == IPPROTO_TCP && name == TCP_INFO) {
    if (value == nullptr || len == nullptr) return fail(EFAULT);
    if (static_cast<int>(*len) < 0) return fail(EINVAL);
    tou_info info{};
    socklen_t info_len = sizeof info;
    if (tou_getsockopt(fd, level, name, &info, &info_len) != 0) return -1;
    LinuxTcpInfo l = to_linux(info);
    socklen_t n = std::min<socklen_t>(*len, sizeof l);
    std::memcpy(value, &l, n);
    *len = n;
    return 0;
  }
  if (tou_getsockopt(fd, level, name, value, len) == 0) return 0;
  int err = errno;
  if ((err == ENOPROTOOPT || err == EOPNOTSUPP) && level == SOL_SOCKET && name == SO_BINDTODEVICE) {
    // A tou socket is bound to no device: Linux answers an unbound socket with
    // an empty name, length 0 (sock_getbindtodevice). sshd asks on every connection.
    if (len == nullptr) return fail(EFAULT);
    *len = 0;
    return 0;
  }
  int fallback = 0;
  if ((err == ENOPROTOOPT || err == EOPNOTSUPP) && ignored_default(level, name, fallback) &&
      *len >= static_cast<socklen_t>(sizeof(int))) {
    // What the program could have set is ignored, so it reads the default.
    std::memcpy(value, &fallback, sizeof fallback);
    *len = sizeof fallback;
    return 0;
  }
  return fail(err);
}

}  // namespace tou::preload
