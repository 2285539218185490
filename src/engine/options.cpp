// The socket options (setsockopt / getsockopt, as BSD checks them and Linux
// answers them, applied live to the core where Linux does) and the TCP_INFO
// and listener snapshots (tou_info, tou_listener_info), on the program's
// thread with the engine lock held, as engine_api.cpp's calls.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cc/congestion_controller.hpp"
#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"
#include "engine/workers.hpp"
#include "tou/tou.h"

namespace tou::engine {

namespace {

int read_int(const void* value, socklen_t len, int& out) {
  if (value == nullptr) return EFAULT;
  if (len < static_cast<socklen_t>(sizeof(int))) return EINVAL;
  std::memcpy(&out, value, sizeof(int));
  return 0;
}

// BSD getsockopt: copy at most *len bytes of the value, report how many.
int write_value(void* value, socklen_t* len, const void* src, size_t size) {
  if (value == nullptr || len == nullptr) return EFAULT;
  if (static_cast<int>(*len) < 0) return EINVAL;
  size_t n = std::min<size_t>(*len, size);
  std::memcpy(value, src, n);
  *len = static_cast<socklen_t>(n);
  return 0;
}

int write_int(void* value, socklen_t* len, int v) {
  return write_value(value, len, &v, sizeof v);
}

uint8_t state_number(TcpState s) {
  switch (s) {
    case TcpState::kEstablished:
      return TOU_STATE_ESTABLISHED;
    case TcpState::kSynSent:
      return TOU_STATE_SYN_SENT;
    case TcpState::kSynReceived:
      return TOU_STATE_SYN_RECEIVED;
    case TcpState::kFinWait1:
      return TOU_STATE_FIN_WAIT_1;
    case TcpState::kFinWait2:
      return TOU_STATE_FIN_WAIT_2;
    case TcpState::kTimeWait:
      return TOU_STATE_TIME_WAIT;
    case TcpState::kClosed:
      return TOU_STATE_CLOSED;
    case TcpState::kCloseWait:
      return TOU_STATE_CLOSE_WAIT;
    case TcpState::kLastAck:
      return TOU_STATE_LAST_ACK;
    case TcpState::kListen:
      return TOU_STATE_LISTEN;
    case TcpState::kClosing:
      return TOU_STATE_CLOSING;
  }
  return TOU_STATE_CLOSED;
}

uint32_t to_u32_us(Duration d) {
  return static_cast<uint32_t>(std::clamp<int64_t>(d.count(), 0, UINT32_MAX));
}

}  // namespace

int Engine::get_connection_info(Socket* s, tou_info& out) {
  out = tou_info{};
  out.state = TOU_STATE_CLOSED;
  if (s == nullptr || !s->core) return 0;
  ConnectionInfo i = s->core->info();
  out.state = state_number(i.state);
  out.snd_wscale = i.snd_wscale;
  out.rcv_wscale = i.rcv_wscale;
  out.options =
      static_cast<uint8_t>((i.sack ? TOU_OPT_SACK : 0) | (i.timestamps ? TOU_OPT_TIMESTAMPS : 0));
  out.rtt_us = to_u32_us(i.srtt);
  out.rttvar_us = to_u32_us(i.rttvar);
  out.min_rtt_us = to_u32_us(i.min_rtt);
  out.rto_us = to_u32_us(i.rto);
  out.snd_mss = i.snd_mss;
  out.rcv_mss = i.rcv_mss;
  out.cwnd = i.cwnd;
  out.ssthresh = i.ssthresh;
  out.flight_size = i.flight_size;
  out.snd_wnd = i.snd_wnd;
  out.rcv_wnd = i.rcv_wnd;
  out.in_recovery = i.in_recovery ? 1 : 0;
  const ConnectionStats& st = i.stats;
  out.bytes_sent = st.bytes_sent;
  out.bytes_retransmitted = st.bytes_retransmitted;
  out.bytes_received = st.bytes_received;
  out.bytes_acked = st.bytes_acked;
  out.segments_sent = st.segments_sent;
  out.segments_received = st.segments_received;
  out.segments_lost = st.retransmitted_segments;
  out.reordering = st.out_of_order_segments;
  out.rto_timeouts = st.rto_timeouts;
  out.fast_recoveries = st.fast_recoveries;
  out.dropped_malformed = st.dropped_malformed_total();
  out.pmtu = i.pmtu;
  out.pmtud_state = static_cast<uint32_t>(i.pmtud_state);  // same numbering as TOU_PMTUD_*
  out.pmtu_probes_sent = i.pmtud.probes_sent;
  out.pmtu_probes_acked = i.pmtud.probes_acked;
  out.pmtu_probes_lost = i.pmtud.probes_lost;
  out.pmtu_ptb_accepted = i.pmtud.ptb_accepted;
  out.pmtu_ptb_rejected = i.pmtud.ptb_rejected;
  out.pmtu_black_holes = i.pmtud.black_holes;
  out.inline_writes = s->inline_writes;
  out.inline_reads = s->inline_reads;
  out.coalesced_datagrams = s->coalesced_datagrams;
  return 0;
}

int Engine::get_listener_info(Listener* l, tou_listener_info& out) {
  out = tou_listener_info{};
  if (l == nullptr) return EINVAL;
  const EndpointStats& st = l->ep->stats;
  out.datagrams_received = st.datagrams_received;
  out.malformed = st.malformed;
  out.syn_received = st.syn_received;
  out.syn_dropped = st.syn_dropped;
  out.resets_sent = st.resets_sent;
  out.handed_over = l->handed_over;
  out.half_open = static_cast<uint32_t>(l->half_open);
  out.syn_cookies_sent = st.syn_cookies_sent;
  out.syn_cookies_validated = st.syn_cookies_validated;
  out.syn_cookies_rejected = st.syn_cookies_rejected;
  out.half_open_evicted = st.half_open_evicted;
  out.accept_overflows = st.accept_overflows;
  out.resets_suppressed = st.resets_suppressed;
  out.time_wait_acks_suppressed = st.time_wait_acks_suppressed;
  out.accept_queue = static_cast<uint32_t>(accept_queue(*l) + static_cast<int>(l->ready.size()));
  return 0;
}

void Engine::apply_live(Socket* s, int level, int name) {
  if (s == nullptr || !s->core) return;
  settle_views(*s);  // SO_SNDBUF may reallocate the send buffer
  Connection& c = *s->core;
  const SocketOptions& o = s->opts;
  now_ = tick();
  auto keepalive = [&] {
    c.set_keepalive(now_, o.keepalive, std::chrono::seconds(o.keepidle_s),
                    std::chrono::seconds(o.keepintvl_s), o.keepcnt);
  };
  if (level == SOL_SOCKET) {
    if (name == SO_RCVBUF) c.set_receive_buffer_limit(o.receive_buffer);
    if (name == SO_SNDBUF) c.set_send_buffer_limit(o.send_buffer);
    if (name == SO_KEEPALIVE) keepalive();
  } else if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        c.set_nodelay(o.nodelay);
        break;
      case TCP_MAXSEG:
        c.set_mss_limit(static_cast<uint16_t>(o.maxseg));
        break;
      case TCP_USER_TIMEOUT:
        c.set_user_timeout(now_, std::chrono::milliseconds(o.user_timeout_ms));
        break;
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
      case TCP_KEEPCNT:
        keepalive();
        break;
      case TCP_CONGESTION:
        c.set_congestion_control(o.congestion);
        break;
      default:
        break;
    }
  }
  // The I/O thread sends what changed (a window update, queued segments) and
  // re-arms the connection's timer from its new deadline.
  mark_dirty(*s);
  loop_.wake();
}

int Engine::set_option(int fd, ino_t ino, int level, int name, const void* value, socklen_t len) {
  (void)fd;
  std::lock_guard g(mu_);
  Socket* s = find_socket(ino);
  Listener* l = s == nullptr ? find_listener(ino) : nullptr;
  if (s == nullptr && l == nullptr && !tombstones_.contains(ino)) return ENOTSOCK;
  SocketOptions ignored;  // a socket whose connection is gone keeps no options
  SocketOptions& o = s != nullptr ? s->opts : l != nullptr ? l->opts : ignored;
  int domain = s != nullptr ? s->domain : l != nullptr ? l->domain : AF_INET;
  int v = 0;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVBUF:
      case SO_SNDBUF: {
        if (int err = read_int(value, len, v); err != 0) return err;
        size_t bytes = std::clamp<int64_t>(v, static_cast<int64_t>(kMinBuffer),
                                           static_cast<int64_t>(kMaxBuffer));
        (name == SO_RCVBUF ? o.receive_buffer : o.send_buffer) = bytes;
        if (name == SO_RCVBUF && (s == nullptr || !s->core)) o.receive_buffer_locked = true;
        if (name == SO_SNDBUF) o.send_buffer_locked = true;
        if (name == SO_RCVBUF && s != nullptr && s->bridge.open()) {
          // What the pair holds counts against SO_RCVBUF too (bridge.hpp).
          size_pair(s->bridge.fd(), receive_split(bytes, true).pair_bytes);
        }
        apply_live(s, level, name);
        return 0;
      }
      case SO_KEEPALIVE:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.keepalive = v != 0;
        apply_live(s, level, name);
        return 0;
      case SO_REUSEADDR:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.reuseaddr = v != 0;
        return 0;
      case SO_LINGER: {
        if (value == nullptr) return EFAULT;
        if (len < static_cast<socklen_t>(sizeof(linger))) return EINVAL;
        linger lg;
        std::memcpy(&lg, value, sizeof lg);
        o.linger = lg.l_onoff != 0;
        o.linger_s = std::max(0, lg.l_linger);
        return 0;
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        if (int err = read_int(value, len, v); err != 0) return err;
        o.nodelay = v != 0;
        apply_live(s, level, name);  // queued small segments may go now
        return 0;
      case TCP_MAXSEG:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v != 0 && (v < 64 || v > 65535)) return EINVAL;
        o.maxseg = v;
        apply_live(s, level, name);
        return 0;
      case TCP_USER_TIMEOUT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 0) return EINVAL;
        o.user_timeout_ms = static_cast<unsigned>(v);
        apply_live(s, level, name);
        return 0;
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 32767) return EINVAL;
        (name == TCP_KEEPIDLE ? o.keepidle_s : o.keepintvl_s) = v;
        apply_live(s, level, name);
        return 0;
      case TCP_KEEPCNT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 127) return EINVAL;
        o.keepcnt = v;
        apply_live(s, level, name);
        return 0;
      case TCP_SYNCNT:
        if (int err = read_int(value, len, v); err != 0) return err;
        if (v < 1 || v > 127) return EINVAL;
        o.syn_retries = v;
        return 0;
      case TCP_CONGESTION: {
        if (value == nullptr) return EFAULT;
        std::string wanted(static_cast<const char*>(value),
                           strnlen(static_cast<const char*>(value), static_cast<size_t>(len)));
        for (std::string_view known : congestion_controller_names()) {
          if (known == wanted) {
            o.congestion = wanted;
            apply_live(s, level, name);
            return 0;
          }
        }
        return ENOENT;  // as Linux for an unknown algorithm
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == SOL_TOU && name == TOU_SYNCOOKIES) {
    if (int err = read_int(value, len, v); err != 0) return err;
    if (v < 0 || v > 2) return EINVAL;
    o.syncookies = v;
    return 0;
  }
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    if (domain != AF_INET6) return ENOPROTOOPT;
    if (int err = read_int(value, len, v); err != 0) return err;
    if (s == nullptr || s->ep != nullptr) return EINVAL;  // before bind only
    o.v6only = v != 0 ? 1 : 0;
    return 0;
  }
  return ENOPROTOOPT;
}

int Engine::get_option(int fd, ino_t ino, int level, int name, void* value, socklen_t* len) {
  if (value == nullptr || len == nullptr) return EFAULT;
  std::lock_guard g(mu_);
  Socket* s = find_socket(ino);
  Listener* l = s == nullptr ? find_listener(ino) : nullptr;
  auto tomb = tombstones_.find(ino);
  if (s == nullptr && l == nullptr && tomb == tombstones_.end()) return ENOTSOCK;
  SocketOptions defaults;
  const SocketOptions& o = s != nullptr ? s->opts : l != nullptr ? l->opts : defaults;
  int domain = s != nullptr ? s->domain : l != nullptr ? l->domain : tomb->second.local.family();
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_ERROR: {
        int err = 0;
        if (s != nullptr) {
          err = std::exchange(s->error, 0);
        } else if (l == nullptr) {
          err = take_tombstone_error(tomb->second, fd);
        }
        return write_int(value, len, err);
      }
      case SO_TYPE:
        return write_int(value, len, SOCK_STREAM);
      case SO_DOMAIN:
        return write_int(value, len, domain);
      case SO_PROTOCOL:
        return write_int(value, len, IPPROTO_TCP);
      case SO_ACCEPTCONN:
        return write_int(value, len, l != nullptr ? 1 : 0);
      case SO_RCVBUF:
        return write_int(value, len, static_cast<int>(o.receive_buffer));
      case SO_SNDBUF:
        return write_int(value, len, static_cast<int>(o.send_buffer));
      case SO_KEEPALIVE:
        return write_int(value, len, o.keepalive ? 1 : 0);
      case SO_REUSEADDR:
        return write_int(value, len, o.reuseaddr ? 1 : 0);
      case SO_LINGER: {
        linger lg{o.linger ? 1 : 0, o.linger_s};
        return write_value(value, len, &lg, sizeof lg);
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY:
        return write_int(value, len, o.nodelay ? 1 : 0);
      case TCP_MAXSEG: {
        // Linux: the MSS in use once connected, else the user's value or 536.
        int mss = o.maxseg != 0 ? o.maxseg : 536;
        if (s != nullptr && s->core && is_synchronized(s->core->state()))
          mss = s->core->info().snd_mss;
        return write_int(value, len, mss);
      }
      case TCP_USER_TIMEOUT:
        return write_int(value, len, static_cast<int>(o.user_timeout_ms));
      case TCP_KEEPIDLE:
        return write_int(value, len, o.keepidle_s);
      case TCP_KEEPINTVL:
        return write_int(value, len, o.keepintvl_s);
      case TCP_KEEPCNT:
        return write_int(value, len, o.keepcnt);
      case TCP_SYNCNT:
        return write_int(value, len, o.syn_retries);
      case TCP_CONGESTION: {
        char name_buf[16] = {};
        std::memcpy(name_buf, o.congestion.data(),
                    std::min(o.congestion.size(), sizeof name_buf - 1));
        return write_value(value, len, name_buf, sizeof name_buf);
      }
      case TCP_INFO: {
        tou_info info;
        get_connection_info(s, info);
        if (s == nullptr && l == nullptr && tomb->second.info) info = *tomb->second.info;
        return write_value(value, len, &info, sizeof info);
      }
      default:
        return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    if (domain != AF_INET6) return ENOPROTOOPT;
    int v = o.v6only;
    if (v < 0) {
      // The system default, net.ipv6.bindv6only.
      v = 0;
      if (int f = ::open("/proc/sys/net/ipv6/bindv6only", O_RDONLY | O_CLOEXEC); f >= 0) {
        char c = '0';
        if (::read(f, &c, 1) == 1) v = c == '1';
        ::close(f);
      }
    }
    return write_int(value, len, v);
  }
  if (level == SOL_TOU && name == TOU_SYNCOOKIES) return write_int(value, len, o.syncookies);
  if (level == SOL_TOU && name == TOU_LISTENER_INFO) {
    tou_listener_info info;
    if (int err = get_listener_info(l, info); err != 0) return err;
    return write_value(value, len, &info, sizeof info);
  }
  return ENOPROTOOPT;
}

}  // namespace tou::engine
