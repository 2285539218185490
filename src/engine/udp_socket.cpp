#include "engine/udp_socket.hpp"

#include "engine/cmsg.hpp"
#include "engine/high_fd.hpp"

#include <ifaddrs.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tou::engine {

namespace {

// RFC 8899 3 / RFC 8085 3.2: tou finds the path MTU itself, so the kernel must
// never fragment: DF on every datagram, whatever its cached path MTU says
// (PMTUDISC_PROBE: DF set, sizes up to the interface's MTU allowed), and ICMP
// errors queued for us to read (RECVERR). An AF_INET6 socket carries IPv4
// peers as v4-mapped addresses, so it takes the IPv4 options too.
int set_path_mtu_options(int fd, int family) {
  int probe = IP_PMTUDISC_PROBE, on = 1;
  bool v4_ok = ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe) == 0 &&
               ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on) == 0;
  if (family == AF_INET) return v4_ok ? 0 : errno;
  int probe6 = IPV6_PMTUDISC_PROBE;
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe6, sizeof probe6) != 0 ||
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &on, sizeof on) != 0 ||
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on) != 0) {
    return errno;
  }
  return 0;
}

}  // namespace

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

int UdpSocket::open(int family, int v6only) {
  close();
  fd_ = move_high(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd_ < 0) {
    fd_ = -1;
    return errno;
  }
  if (family == AF_INET6 && v6only >= 0) {
    int on = v6only;
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) return errno;
  }
  return set_path_mtu_options(fd_, family);
}

int UdpSocket::bind(const SockAddr& local) {
  return ::bind(fd_, local.get(), local.size()) == 0 ? 0 : errno;
}

int UdpSocket::connect(const SockAddr& remote) {
  return ::connect(fd_, remote.get(), remote.size()) == 0 ? 0 : errno;
}

int UdpSocket::local_address(SockAddr& out) const {
  *out.size_ptr() = sizeof(sockaddr_storage);
  return ::getsockname(fd_, out.get(), out.size_ptr()) == 0 ? 0 : errno;
}

namespace {

int mtu_of(int fd, int family) {
  int mtu = 0;
  socklen_t len = sizeof mtu;
  int rc = family == AF_INET6 ? ::getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len)
                              : ::getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len);
  return rc == 0 ? mtu : 0;
}

}  // namespace

int UdpSocket::path_mtu() const {
  SockAddr local;
  if (local_address(local) != 0) return 0;
  return mtu_of(fd_, local.family());
}

int path_mtu_to(const SockAddr& remote) {
  UdpSocket s;
  if (s.open(remote.family(), -1) != 0) return 0;
  if (s.connect(remote) != 0) return 0;
  return mtu_of(s.fd(), remote.family());
}

int device_mtu_of(const SockAddr& local) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return 0;
  std::span<const uint8_t> ip = local.ip();
  socklen_t len = local.family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  int mtu = 0;
  for (ifaddrs* i = list; i != nullptr && mtu == 0; i = i->ifa_next) {
    SockAddr a;
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != local.family() ||
        SockAddr::parse(i->ifa_addr, len, a) != 0) {
      continue;
    }
    std::span<const uint8_t> other = a.ip();
    if (!std::equal(ip.begin(), ip.end(), other.begin(), other.end())) continue;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    ifreq req{};
    std::strncpy(req.ifr_name, i->ifa_name, IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFMTU, &req) == 0) mtu = req.ifr_mtu;
    ::close(fd);
  }
  ::freeifaddrs(list);
  return mtu;
}

uint16_t mss_for_mtu(int family, int mtu) {
  // IPv4: 20-byte IP header and a 16-bit total length; IPv6: 40-byte header
  // and a 16-bit payload length (no jumbograms). UDP adds 8, TCP 20.
  constexpr int kUdp = 8, kTcp = 20;
  if (mtu <= 0) mtu = family == AF_INET6 ? 1280 : 576;  // RFC 8200 5 / RFC 791 minimums
  int ip = family == AF_INET6 ? 40 : 20;
  int largest = family == AF_INET6 ? 65535 + 40 : 65535;
  int mss = std::min(mtu, largest) - ip - kUdp - kTcp;
  return static_cast<uint16_t>(std::clamp(mss, 64, 65535));
}

void UdpSocket::set_buffer_sizes(int bytes) {
  // The FORCE options pass net.core.{r,w}mem_max when the process has
  // CAP_NET_ADMIN; otherwise the plain ones are capped there.
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
}

void UdpSocket::enable_pktinfo() {
  int on = 1;
  SockAddr local;
  if (local_address(local) != 0) return;
  if (local.family() == AF_INET6) {
    ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
  } else {
    ::setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  }
}

int UdpSocket::read_error(ErrorReport& out) {
  out = ErrorReport{};
  // Room for the extended error and the offender's address after it.
  alignas(cmsghdr)
      uint8_t control[CMSG_SPACE(sizeof(sock_extended_err) + sizeof(sockaddr_in6)) * 2];
  iovec iov{out.quoted.data(), out.quoted.size()};
  msghdr h{};
  h.msg_name = out.dest.get();
  h.msg_namelen = sizeof(sockaddr_storage);
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd_, &h, MSG_ERRQUEUE | MSG_DONTWAIT);
  if (n < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  out.dest.set_size(h.msg_namelen);
  out.quoted_len = static_cast<size_t>(n);
  // IPv4 errors on an AF_INET6 socket come as IPV6_RECVERR with a v4-mapped name.
  std::optional<sock_extended_err> ee = find_cmsg<sock_extended_err>(h, IPPROTO_IP, IP_RECVERR);
  if (!ee) ee = find_cmsg<sock_extended_err>(h, IPPROTO_IPV6, IPV6_RECVERR);
  if (!ee) return 0;  // nothing to learn from it: kOther
  out.error = static_cast<int>(ee->ee_errno);
  out.mtu = ee->ee_info;
  constexpr uint8_t kIcmpDestUnreach = 3, kIcmpFragNeeded = 4;  // RFC 792, RFC 1191
  constexpr uint8_t kIcmp6PacketTooBig = 2;                     // RFC 4443 3.2
  if ((ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == kIcmpDestUnreach &&
       ee->ee_code == kIcmpFragNeeded) ||
      (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == kIcmp6PacketTooBig)) {
    out.kind = ErrorReport::Kind::kPacketTooBig;
  } else if (ee->ee_origin == SO_EE_ORIGIN_LOCAL && ee->ee_errno == EMSGSIZE) {
    out.kind = ErrorReport::Kind::kLocalTooBig;
    out.quoted_len = 0;
  }
  return 0;
}

void UdpSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// --- GSO / GRO ---

namespace {

std::atomic<GsoMode> g_gso_mode{GsoMode::kOn};

// Read once, before the first flush: TOU_GSO=off disables GSO, TOU_GSO=fail
// makes the first train fail as on a kernel without UDP_SEGMENT.
GsoMode initial_gso_mode() {
  const char* env = std::getenv("TOU_GSO");
  if (env == nullptr) return GsoMode::kOn;
  if (std::strcmp(env, "off") == 0 || std::strcmp(env, "0") == 0) return GsoMode::kOff;
  if (std::strcmp(env, "fail") == 0) return GsoMode::kFailOnce;
  return GsoMode::kOn;
}

std::once_flag g_gso_env_once;

// What a kernel without UDP_SEGMENT (or a device without checksum offload)
// answers a train with: the datagrams go one by one from then on.
bool is_gso_refusal(int err) {
  return err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT;
}

// Appends a control message to h (whose msg_control has room for it).
template <typename T>
void append_cmsg(msghdr& h, int level, int type, const T& value) {
  size_t at = h.msg_controllen;
  auto* c = reinterpret_cast<cmsghdr*>(static_cast<uint8_t*>(h.msg_control) + at);
  std::memset(c, 0, CMSG_SPACE(sizeof(T)));
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(sizeof(T));
  std::memcpy(CMSG_DATA(c), &value, sizeof(T));
  h.msg_controllen = at + CMSG_SPACE(sizeof(T));
}

}  // namespace

void set_gso_mode(GsoMode mode) {
  std::call_once(g_gso_env_once, [] {});
  g_gso_mode.store(mode);
}

GsoMode gso_mode() {
  std::call_once(g_gso_env_once, [] { g_gso_mode.store(initial_gso_mode()); });
  return g_gso_mode.load();
}

bool enable_gro(int fd) {
  int on = 1;
  return ::setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;
}

// --- RecvBatch ---

RecvBatch::RecvBatch()
    : buffer_(new uint8_t[kSlots * kMaxDatagram]),
      msgs_(kSlots),
      iovs_(kSlots),
      sources_(kSlots),
      destinations_(kSlots),
      has_destination_(kSlots),
      lengths_(kSlots),
      segment_sizes_(kSlots),
      control_(new uint8_t[kSlots * kControlSize]) {
  static_assert(CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) <= kControlSize);
  for (size_t i = 0; i < kSlots; ++i) {
    iovs_[i] = {slot(i), kMaxDatagram};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

int RecvBatch::receive(int fd) {
  for (size_t i = 0; i < kSlots; ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    h.msg_name = sources_[i].get();
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_control = control_.get() + i * kControlSize;
    h.msg_controllen = kControlSize;
    h.msg_flags = 0;
  }
  int n = ::recvmmsg(fd, msgs_.data(), kSlots, MSG_DONTWAIT, nullptr);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  for (int i = 0; i < n; ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    // A datagram cut short by the buffer is malformed: give it a zero length.
    lengths_[i] = (h.msg_flags & MSG_TRUNC) ? 0 : msgs_[i].msg_len;
    sources_[i].set_size(h.msg_namelen);
    has_destination_[i] = false;
    segment_sizes_[i] = 0;
    // UDP_GRO: the buffer holds datagrams of this size each, the last shorter.
    if (auto gso = find_cmsg<int>(h, IPPROTO_UDP, UDP_GRO); gso && *gso > 0) {
      size_t size = static_cast<size_t>(*gso);
      if (size < lengths_[i]) {
        segment_sizes_[i] = size;
        ++stats_.gro_batches;
        stats_.gro_segments += (lengths_[i] + size - 1) / size;
      }
    }
    // One of the two is enabled per socket (UdpSocket::enable_pktinfo).
    if (auto info6 = find_cmsg<in6_pktinfo>(h, IPPROTO_IPV6, IPV6_PKTINFO)) {
      SockAddr d = SockAddr::any(AF_INET6);
      reinterpret_cast<sockaddr_in6*>(d.get())->sin6_addr = info6->ipi6_addr;
      destinations_[i] = d;
      has_destination_[i] = true;
    } else if (auto info = find_cmsg<in_pktinfo>(h, IPPROTO_IP, IP_PKTINFO)) {
      SockAddr d = SockAddr::any(AF_INET);
      reinterpret_cast<sockaddr_in*>(d.get())->sin_addr = info->ipi_addr;
      destinations_[i] = d;
      has_destination_[i] = true;
    }
  }
  return n;
}

const SockAddr* RecvBatch::destination(size_t i) const {
  return has_destination_[i] ? &destinations_[i] : nullptr;
}

// --- SendBatch ---

SendBatch::SendBatch()
    : buffer_(new uint8_t[kBufferSize]),
      queued_(kSlots),
      meta_(kSlots),
      msgs_(kSlots),
      pieces_(kSlots * kMaxPieces),
      piece_first_(kSlots + 1),
      msg_first_(kSlots),
      msg_count_(kSlots),
      control_(new uint8_t[kSlots * kControlSize]) {
  static_assert(CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)) <= kControlSize);
  // Touched once here, so that the process's memory does not grow later with
  // the size of its largest flush.
  std::memset(buffer_.get(), 0, kBufferSize);
}

void SendBatch::commit(int fd, size_t len, const SockAddr* dest, const SockAddr* source) {
  pieces_[piece_first_[count_]] = {buffer_.get() + used_, len};
  piece_first_[count_ + 1] = piece_first_[count_] + 1;
  used_ += len;
  queue(fd, len, dest, source);
}

void SendBatch::commit_views(int fd, size_t header_len,
                             std::span<const std::span<const uint8_t>> payload,
                             const SockAddr* dest, const SockAddr* source) {
  assert(payload.size() < kMaxPieces);
  size_t k = piece_first_[count_];
  pieces_[k++] = {buffer_.get() + used_, header_len};
  used_ += header_len;
  size_t len = header_len;
  for (std::span<const uint8_t> piece : payload) {
    if (piece.empty()) continue;
    // sendmsg() only reads from the iovec.
    pieces_[k++] = {const_cast<uint8_t*>(piece.data()), piece.size()};
    len += piece.size();
  }
  piece_first_[count_ + 1] = k;
  if (len > header_len) ++stats_.view_datagrams;
  queue(fd, len, dest, source);
}

void SendBatch::queue(int fd, size_t len, const SockAddr* dest, const SockAddr* source) {
  size_t i = count_++;
  Meta& m = meta_[i];
  m.fd = fd;
  m.has_dest = dest != nullptr;
  if (m.has_dest) m.dest = *dest;
  m.has_source = source != nullptr && !source->is_wildcard();
  if (m.has_source) m.source = *source;
  // Datagrams that share socket, destination and source share a route: only
  // they may travel in one train.
  bool same = i > 0;
  if (same) {
    const Meta& p = meta_[i - 1];
    same = p.fd == m.fd && p.has_dest == m.has_dest && p.has_source == m.has_source &&
           (!m.has_dest || p.dest == m.dest) && (!m.has_source || p.source == m.source);
  }
  if (!same) ++next_route_;
  // Every datagram follows the previous one in the message's iovecs, so
  // consecutive ones are back to back for the train planner.
  queued_[i] = {bytes_, len, next_route_};
  bytes_ += len;
}

void SendBatch::build_message(size_t m, size_t first, size_t n) {
  const Meta& meta = meta_[first];
  msghdr& h = msgs_[m].msg_hdr;
  h = msghdr{};
  h.msg_iov = &pieces_[piece_first_[first]];
  h.msg_iovlen = piece_first_[first + n] - piece_first_[first];
  h.msg_control = control_.get() + m * kControlSize;
  h.msg_controllen = 0;
  if (meta.has_dest) {
    h.msg_name = const_cast<sockaddr*>(meta.dest.get());
    h.msg_namelen = meta.dest.size();
  }
  if (meta.has_source) {
    if (meta.source.family() == AF_INET6) {
      in6_pktinfo info{};
      info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(meta.source.get())->sin6_addr;
      append_cmsg(h, IPPROTO_IPV6, IPV6_PKTINFO, info);
    } else {
      in_pktinfo info{};
      info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(meta.source.get())->sin_addr;
      append_cmsg(h, IPPROTO_IP, IP_PKTINFO, info);
    }
  }
  if (n > 1) {
    // RFC 8085 and Linux udp(7): UDP_SEGMENT splits the payload into
    // datagrams of this size, the last one shorter.
    auto size = static_cast<uint16_t>(queued_[first].length);
    append_cmsg(h, IPPROTO_UDP, UDP_SEGMENT, size);
  }
  if (h.msg_controllen == 0) h.msg_control = nullptr;
  msg_first_[m] = first;
  msg_count_[m] = n;
}

size_t SendBatch::send_run(size_t first, size_t end, ErrorSink& errors) {
  const int fd = meta_[first].fd;
  size_t sent = 0;
  size_t i = first;
  bool run_without_gso = false;
  bool retried = false;  // the message at m failed once
  while (i < end) {
    // Plan the messages: trains while GSO is on, else one datagram each.
    GsoMode mode = gso_mode();
    bool gso = gso_ && !run_without_gso && mode != GsoMode::kOff;
    size_t nmsg = 0;
    for (size_t k = i; k < end; ++nmsg) {
      size_t n = gso ? gso_train_length({queued_.data() + k, end - k}) : 1;
      build_message(nmsg, k, n);
      k += n;
    }
    size_t m = 0;
    while (m < nmsg) {
      int n;
      if (msg_count_[m] > 1 && mode == GsoMode::kFailOnce) {
        set_gso_mode(GsoMode::kOn);
        mode = GsoMode::kOn;
        n = -1;
        errno = EIO;
      } else {
        n = ::sendmmsg(fd, msgs_.data() + m, static_cast<unsigned>(nmsg - m), 0);
      }
      if (n > 0) {
        retried = false;
        for (size_t k = m; k < m + static_cast<size_t>(n); ++k) {
          sent += msg_count_[k];
          if (msg_count_[k] > 1) {
            ++stats_.gso_trains;
            stats_.gso_segments += msg_count_[k];
          }
        }
        m += static_cast<size_t>(n);
        continue;
      }
      int err = n < 0 ? errno : EIO;
      if (err == EINTR) continue;
      if (msg_count_[m] > 1 && is_gso_refusal(err)) {
        // The kernel cannot send trains: from here on, one by one. EINVAL
        // after trains went out is about this train (a segment above a
        // lowered path MTU): only this run goes one by one.
        if (err != EINVAL || stats_.gso_trains == 0) gso_ = false;
        ++stats_.gso_fallbacks;
        run_without_gso = true;
        break;
      }
      errors.on_send_error(fd, err);
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        m = nmsg;  // the socket is full: the rest of this run is lost like any drop
      } else if (!retried) {
        // With IP_RECVERR, an ICMP error about any peer of this socket (a
        // port unreachable, a late "too big") is also reported once by the
        // next send, which then sends nothing: the message goes again.
        retried = true;
      } else {
        retried = false;
        ++m;  // its own error (a bad destination, larger than the interface): skip it
      }
    }
    if (m == nmsg) return sent;
    i = msg_first_[m];  // replan from the refused train, without GSO
  }
  return sent;
}

size_t SendBatch::flush(ErrorSink& errors) {
  size_t sent = 0;
  size_t i = 0;
  while (i < count_) {
    size_t end = i + 1;
    while (end < count_ && meta_[end].fd == meta_[i].fd) ++end;
    sent += send_run(i, end, errors);
    i = end;
  }
  count_ = 0;
  used_ = 0;
  bytes_ = 0;
  ++generation_;
  return sent;
}

}  // namespace tou::engine
