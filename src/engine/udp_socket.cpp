#include "engine/udp_socket.hpp"

#include "engine/cmsg.hpp"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tou::engine {

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
  fd_ = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fd_ = -1;
    return errno;
  }
  if (family == AF_INET6 && v6only >= 0) {
    int on = v6only;
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) return errno;
  }
  return 0;
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

void UdpSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

RecvBatch::RecvBatch()
    : buffer_(new uint8_t[kSlots * kMaxDatagram]),
      msgs_(kSlots),
      iovs_(kSlots),
      sources_(kSlots),
      destinations_(kSlots),
      has_destination_(kSlots),
      lengths_(kSlots),
      control_(new uint8_t[kSlots * kControlSize]) {
  static_assert(CMSG_SPACE(sizeof(in6_pktinfo)) <= kControlSize);
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

SendBatch::SendBatch()
    : buffer_(new uint8_t[kSlots * kMaxDatagram]),
      msgs_(kSlots),
      iovs_(kSlots),
      fds_(kSlots),
      dests_(kSlots),
      control_(new uint8_t[kSlots * kControlSize]) {}

void SendBatch::commit(int fd, size_t len, const SockAddr* dest, const SockAddr* source) {
  size_t i = count_++;
  fds_[i] = fd;
  iovs_[i] = {slot(i), len};
  msghdr& h = msgs_[i].msg_hdr;
  h = msghdr{};
  h.msg_iov = &iovs_[i];
  h.msg_iovlen = 1;
  if (dest != nullptr) {
    dests_[i] = *dest;
    h.msg_name = dests_[i].get();
    h.msg_namelen = dests_[i].size();
  }
  if (source != nullptr && !source->is_wildcard()) {
    uint8_t* control = control_.get() + i * kControlSize;
    if (source->family() == AF_INET6) {
      in6_pktinfo info{};
      info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(source->get())->sin6_addr;
      put_cmsg(h, control, IPPROTO_IPV6, IPV6_PKTINFO, info);
    } else {
      in_pktinfo info{};
      info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(source->get())->sin_addr;
      put_cmsg(h, control, IPPROTO_IP, IP_PKTINFO, info);
    }
  }
}

size_t SendBatch::flush(ErrorSink& errors) {
  size_t sent = 0;
  size_t i = 0;
  while (i < count_) {
    size_t end = i + 1;
    while (end < count_ && fds_[end] == fds_[i]) ++end;
    while (i < end) {
      int n = ::sendmmsg(fds_[i], msgs_.data() + i, static_cast<unsigned>(end - i), 0);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        i += static_cast<size_t>(n);
        continue;
      }
      int err = n < 0 ? errno : EIO;
      if (err == EINTR) continue;
      errors.on_send_error(fds_[i], err);
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        i = end;  // the socket is full: the rest of this run is lost like any drop
      } else {
        ++i;  // a pending ICMP error or a bad destination: skip this one datagram
      }
    }
  }
  count_ = 0;
  return sent;
}

}  // namespace tou::engine
