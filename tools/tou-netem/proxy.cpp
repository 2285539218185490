#include "proxy.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipe.hpp"

namespace tou::netem {
namespace {

constexpr size_t kMaxDatagram = 65536;
constexpr size_t kMaxSessions = 4096;  // upstream sockets (file descriptors)
constexpr int kSocketBuffer = 8 << 20;

// The per-datagram bytes on the wire that the payload does not include.
size_t header_overhead(int family) {
  return family == AF_INET6 ? 48 : 28;  // IPv6 or IPv4 header + UDP header
}

int udp_socket(int family) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Large buffers so that bursts are dropped by the emulator's model, not the kernel.
  // (SO_*BUFFORCE works as root; otherwise the capped SO_*BUF is the best we get.)
  for (auto [force, plain] : {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, {SO_SNDBUFFORCE, SO_SNDBUF}}) {
    if (setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) < 0) {
      setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
    }
  }
  return fd;
}

std::string address_key(const sockaddr_storage& addr, socklen_t len) {
  return std::string(reinterpret_cast<const char*>(&addr), len);
}

struct Session {
  int fd = -1;  // connected to --forward
  SocketAddress client;
};

class Proxy {
 public:
  Proxy(const Options& options, EventLoop& loop)
      : options_(options),
        loop_(loop),
        up_(options.up, options.seed, header_overhead(options.forward_address.family())),
        down_(options.down, sim::splitmix64(options.seed),
              header_overhead(options.listen_address.family())),
        buf_(kMaxDatagram) {}

  ~Proxy() {
    if (listen_fd_ >= 0) close(listen_fd_);
    for (const Session& s : sessions_) close(s.fd);
  }

  int run(RunSummary& summary) {
    listen_fd_ = udp_socket(options_.listen_address.family());
    if (listen_fd_ < 0 ||
        bind(listen_fd_, options_.listen_address.get(), options_.listen_address.length) < 0) {
      fmt::print(stderr, "tou-netem: cannot listen on {}: {}\n", options_.listen,
                 std::strerror(errno));
      return 1;
    }
    loop_.watch(listen_fd_, [this] { on_client_datagrams(); });
    if (!options_.quiet) {
      // The address bound (--listen with port 0 takes one the kernel picks).
      SocketAddress bound;
      bound.length = sizeof bound.storage;
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length);
      fmt::print(stderr, "tou-netem: {} -> {} (seed {})\n", bound.to_string(),
                 options_.forward_address.to_string(), options_.seed);
    }
    const Instant start = monotonic_now();
    const std::optional<Instant> end =
        options_.duration_s > 0
            ? std::optional(start + Duration{static_cast<int64_t>(options_.duration_s * 1e6)})
            : std::nullopt;
    loop_.run([&](Instant now) -> std::optional<Instant> {
      deliver(now);
      if (end && now >= *end) {
        loop_.stop();
        return std::nullopt;
      }
      std::optional<Instant> next = end;
      for (const Pipe* p : {&up_, &down_}) {
        const std::optional<Instant> d = p->next_deadline();
        if (d && (!next || *d < *next)) next = d;
      }
      return next;
    });
    summary.mode = "proxy";
    summary.seed = options_.seed;
    summary.elapsed_s = static_cast<double>(to_us(monotonic_now() - start)) / 1e6;
    summary.up = up_.stats();
    summary.down = down_.stats();
    return 0;
  }

 private:
  void on_client_datagrams() {
    for (int i = 0; i < 256; ++i) {  // bounded, so the other direction gets its turn
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = recvfrom(listen_fd_, buf_.data(), buf_.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;  // EAGAIN, or an ICMP error report: nothing to forward
      const int flow = session_for(from, from_len);
      if (flow < 0) continue;
      Packet p{std::vector<uint8_t>(buf_.begin(), buf_.begin() + n), static_cast<uint32_t>(flow)};
      up_.offer(monotonic_now(), std::move(p));  // each packet's own arrival time
    }
  }

  void on_server_datagrams(uint32_t flow) {
    for (int i = 0; i < 256; ++i) {
      const ssize_t n = recv(sessions_[flow].fd, buf_.data(), buf_.size(), 0);
      if (n < 0) return;
      Packet p{std::vector<uint8_t>(buf_.begin(), buf_.begin() + n), flow};
      down_.offer(monotonic_now(), std::move(p));
    }
  }

  // The session of a client address, created on its first datagram; -1 when full.
  int session_for(const sockaddr_storage& from, socklen_t len) {
    const std::string key = address_key(from, len);
    if (auto it = by_client_.find(key); it != by_client_.end()) return it->second;
    if (sessions_.size() >= kMaxSessions) return -1;
    const int fd = udp_socket(options_.forward_address.family());
    if (fd < 0 ||
        connect(fd, options_.forward_address.get(), options_.forward_address.length) < 0) {
      fmt::print(stderr, "tou-netem: upstream socket: {}\n", std::strerror(errno));
      if (fd >= 0) close(fd);
      return -1;
    }
    const auto flow = static_cast<uint32_t>(sessions_.size());
    Session s;
    s.fd = fd;
    std::memcpy(&s.client.storage, &from, len);
    s.client.length = len;
    sessions_.push_back(s);
    by_client_[key] = static_cast<int>(flow);
    loop_.watch(fd, [this, flow] { on_server_datagrams(flow); });
    return static_cast<int>(flow);
  }

  void deliver(Instant now) {
    out_.clear();
    up_.release(now, out_);
    for (const Packet& p : out_) {
      const int fd = sessions_[p.flow].fd;
      ssize_t sent = send(fd, p.bytes.data(), p.bytes.size(), 0);
      // An ICMP error from an earlier datagram is reported by (and fails) this send;
      // it says nothing about this datagram, so try it once more.
      if (sent < 0 && errno == ECONNREFUSED) sent = send(fd, p.bytes.data(), p.bytes.size(), 0);
      if (sent < 0) ++up_.stats().send_errors;
    }
    out_.clear();
    down_.release(now, out_);
    for (const Packet& p : out_) {
      const SocketAddress& to = sessions_[p.flow].client;
      if (sendto(listen_fd_, p.bytes.data(), p.bytes.size(), 0, to.get(), to.length) < 0) {
        ++down_.stats().send_errors;
      }
    }
  }

  const Options& options_;
  EventLoop& loop_;
  Pipe up_;
  Pipe down_;
  int listen_fd_ = -1;
  std::vector<Session> sessions_;
  std::map<std::string, int> by_client_;
  std::vector<uint8_t> buf_;
  std::vector<Packet> out_;
};

}  // namespace

int run_proxy(const Options& options, EventLoop& loop, RunSummary& summary) {
  Proxy proxy(options, loop);
  return proxy.run(summary);
}

}  // namespace tou::netem
