// Bulk transfer: the sender writes `size`-byte chunks from one preallocated
// buffer until its time or byte budget is spent, then sends FIN; the receiver
// reads to end-of-file. Both count bytes as they go.
#include <fmt/core.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/connect.hpp"
#include "workloads.hpp"

namespace tou::perf {

namespace {

constexpr auto kStatsEvery = std::chrono::milliseconds(100);

struct Transfer {
  uint64_t bytes = 0;
  Clock::time_point end;
  int error = 0;  // errno; EAGAIN when the I/O timeout passed
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Waits until the descriptor takes bytes again, the deadline, or the I/O
// timeout; true when it is writable.
bool wait_writable(int fd, Clock::time_point now, Clock::time_point deadline) {
  const auto limit =
      std::min(deadline, now + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(kIoTimeoutSeconds)));
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(limit - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

Transfer send_until(const tools::SocketOps& ops, int fd, const Header& h, Clock::time_point start,
                    StreamProgress* progress) {
  const size_t len = h.size;
  auto buf = std::make_unique<uint8_t[]>(len);
  std::memset(buf.get(), 0x5a, len);
  const auto deadline = start + std::chrono::milliseconds(h.duration_ms);
  auto next_stats = start + kStatsEvery;
  Transfer t;
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline || (h.bytes > 0 && t.bytes >= h.bytes)) break;
    if (progress != nullptr && now >= next_stats) {
      tools::ConnectionStats s;
      if (ops.stats(fd, s) == 0) progress->publish(s);
      next_stats = now + kStatsEvery;
    }
    const size_t chunk = h.bytes > 0 ? std::min<uint64_t>(len, h.bytes - t.bytes) : len;
    // Non-blocking, so that a full pipe never holds the sender past its deadline.
    const ssize_t n = ::send(fd, buf.get(), chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_writable(fd, now, deadline)) {
          t.error = Clock::now() < deadline ? EAGAIN : 0;  // stalled, or simply out of time
          break;
        }
        continue;
      }
      t.error = errno;
      break;
    }
    t.bytes += static_cast<uint64_t>(n);
    if (progress != nullptr) progress->bytes.fetch_add(static_cast<uint64_t>(n));
  }
  t.end = Clock::now();
  return t;
}

Transfer receive_to_eof(const tools::SocketOps& ops, int fd, size_t len, Clock::time_point start,
                        StreamProgress* progress) {
  auto buf = std::make_unique<uint8_t[]>(len);
  auto next_stats = start + kStatsEvery;
  Transfer t;
  for (;;) {
    const ssize_t n = ops.recv(fd, buf.get(), len, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      t.error = errno;
      break;
    }
    t.bytes += static_cast<uint64_t>(n);
    if (progress != nullptr) {
      progress->bytes.fetch_add(static_cast<uint64_t>(n));
      if (const auto now = Clock::now(); now >= next_stats) {
        tools::ConnectionStats s;
        if (ops.stats(fd, s) == 0) progress->publish(s);
        next_stats = now + kStatsEvery;
      }
    }
  }
  t.end = Clock::now();
  return t;
}

// After our FIN: waits (bounded by the I/O timeout) for the peer's, which it
// sends once it has taken everything; what it sends meanwhile is discarded.
void await_peer_close(int fd) {
  uint8_t sink[4096];
  for (;;) {
    const ssize_t n = ::read(fd, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

std::string describe_error(const char* what, int err) {
  return std::string(what) + ": " + (err == EAGAIN ? "stalled (no progress)" : std::strerror(err));
}

}  // namespace

void configure_test_socket(const Options& o, int fd) {
  const tools::SocketOps& ops = o.ops();
  if (!o.cc.empty() && tools::set_congestion_control(ops, fd, o.cc) != 0) {
    fmt::print(stderr, "tou-perf: congestion control {}: {}\n", o.cc, std::strerror(errno));
  }
  if (o.mode != Mode::kBulk) tools::set_int_option(ops, fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

void run_bulk_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome) {
  const Options& o = ctx.options;
  const tools::SocketOps& ops = o.ops();
  int err = 0;
  const int fd = tools::open_connection(
      ops, ctx.address, kIoTimeoutSeconds, [&](int s) { configure_test_socket(o, s); }, err);
  if (fd < 0) {
    outcome.error = describe_error("connect", err);
    return;
  }
  tools::set_io_timeout(ops, fd, kIoTimeoutSeconds);
  const auto header = encode(ctx.header);
  if (int e = write_all(fd, header.data(), header.size()); e != 0) {
    outcome.error = describe_error("send", e);
    ops.close(fd);
    return;
  }
  const auto start = Clock::now();
  Transfer t;
  if (!ctx.header.reverse()) {
    t = send_until(ops, fd, ctx.header, start, &progress);
    ops.shutdown(fd, SHUT_WR);
    await_peer_close(fd);
  } else {
    t = receive_to_eof(ops, fd, ctx.header.size, start, &progress);
  }
  outcome.bytes = t.bytes;
  outcome.seconds = seconds_between(start, t.end);
  if (t.error != 0) outcome.error = describe_error(ctx.header.reverse() ? "recv" : "send", t.error);
  ops.stats(fd, outcome.stats);
  progress.publish(outcome.stats);
  ops.close(fd);
}

StreamResult serve_bulk(const tools::SocketOps& ops, int fd, const Header& h,
                        StreamProgress& progress) {
  const auto start = Clock::now();
  Transfer t;
  if (h.reverse()) {
    t = send_until(ops, fd, h, start, nullptr);
    ops.shutdown(fd, SHUT_WR);
    await_peer_close(fd);
  } else {
    t = receive_to_eof(ops, fd, h.size, start, &progress);
  }
  tools::ConnectionStats s;
  ops.stats(fd, s);
  return StreamResult{.bytes = t.bytes,
                      .duration_us = static_cast<uint64_t>(seconds_between(start, t.end) * 1e6),
                      .retransmits = s.retransmits,
                      .rtt_us = s.rtt_us,
                      .cwnd = s.cwnd_bytes};
}

}  // namespace tou::perf
