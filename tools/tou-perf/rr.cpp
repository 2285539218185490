// Request/response (rr): one `size`-byte request, one `size`-byte response,
// one outstanding, until the time budget is spent. Connect/request/response/
// close (crr): the same exchange on a fresh connection each time.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/connect.hpp"
#include "workloads.hpp"

namespace tou::perf {

namespace {

constexpr size_t kMaxSamples = 50'000'000;  // bounds memory on very long runs

uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

std::string io_error(const char* what, int err) {
  if (err == -1) return std::string(what) + ": connection closed by the server";
  return std::string(what) + ": " + (err == EAGAIN ? "stalled (no response)" : std::strerror(err));
}

}  // namespace

void run_rr_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome) {
  const Options& o = ctx.options;
  const tools::SocketOps& ops = o.ops();
  int err = 0;
  const int fd = tools::open_connection(
      ops, ctx.address, kIoTimeoutSeconds, [&](int s) { configure_test_socket(o, s); }, err);
  if (fd < 0) {
    outcome.error = io_error("connect", err);
    return;
  }
  tools::set_io_timeout(ops, fd, kIoTimeoutSeconds);
  const size_t size = ctx.header.size;
  auto request = std::make_unique<uint8_t[]>(size);
  auto response = std::make_unique<uint8_t[]>(size);
  std::memset(request.get(), 0x71, size);
  outcome.latencies_ns.reserve(1 << 16);
  const auto header = encode(ctx.header);
  err = write_all(fd, header.data(), header.size());
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(ctx.header.duration_ms);
  auto next_stats = start;
  auto now = start;
  while (err == 0 && now < deadline) {
    const auto sent_at = now;
    err = write_all(fd, request.get(), size, ops.send);
    if (err == 0) err = read_all(fd, response.get(), size, ops.recv);
    if (err != 0) break;
    now = Clock::now();
    if (outcome.latencies_ns.size() < kMaxSamples) {
      outcome.latencies_ns.push_back(ns_between(sent_at, now));
    }
    ++outcome.transactions;
    progress.transactions.fetch_add(1, std::memory_order_relaxed);
    progress.bytes.fetch_add(size, std::memory_order_relaxed);
    if (now >= next_stats) {
      tools::ConnectionStats s;
      if (ops.stats(fd, s) == 0) progress.publish(s);
      next_stats = now + std::chrono::milliseconds(100);
    }
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  outcome.bytes = outcome.transactions * size;
  if (err != 0) outcome.error = io_error("request", err);
  ops.shutdown(fd, SHUT_WR);
  uint8_t sink[256];
  while (::read(fd, sink, sizeof sink) > 0) {
  }
  ops.stats(fd, outcome.stats);
  progress.publish(outcome.stats);
  ops.close(fd);
}

void run_crr_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome) {
  const Options& o = ctx.options;
  const tools::SocketOps& ops = o.ops();
  const size_t size = ctx.header.size;
  // The header and the request go out in one write: a single round trip.
  const auto header = encode(ctx.header);
  std::vector<uint8_t> request(header.size() + size, 0x71);
  std::memcpy(request.data(), header.data(), header.size());
  auto response = std::make_unique<uint8_t[]>(size);
  outcome.latencies_ns.reserve(1 << 14);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(ctx.header.duration_ms);
  auto now = start;
  auto next_stats = start;
  while (now < deadline) {
    const auto began = now;
    int err = 0;
    const int fd = tools::open_connection(
        ops, ctx.address, kIoTimeoutSeconds, [&](int s) { configure_test_socket(o, s); }, err);
    if (fd < 0) {
      outcome.error = io_error("connect", err);
      break;
    }
    tools::set_io_timeout(ops, fd, kIoTimeoutSeconds);
    err = write_all(fd, request.data(), request.size(), ops.send);
    if (err == 0) err = read_all(fd, response.get(), size, ops.recv);
    now = Clock::now();
    const bool sample_stats = err == 0 && now >= next_stats;
    if (sample_stats) {
      ops.stats(fd, outcome.stats);
      progress.publish(outcome.stats);
      next_stats = now + std::chrono::milliseconds(100);
    }
    ops.close(fd);
    if (err != 0) {
      outcome.error = io_error("request", err);
      break;
    }
    if (outcome.latencies_ns.size() < kMaxSamples) {
      outcome.latencies_ns.push_back(ns_between(began, now));
    }
    ++outcome.transactions;
    progress.transactions.fetch_add(1, std::memory_order_relaxed);
    progress.bytes.fetch_add(size, std::memory_order_relaxed);
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  outcome.bytes = outcome.transactions * size;
}

void run_connect_client(const StreamContext& ctx, StreamProgress& progress,
                        StreamOutcome& outcome) {
  const tools::SocketOps& ops = ctx.options.ops();
  outcome.latencies_ns.reserve(1 << 16);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(ctx.header.duration_ms);
  auto now = start;
  while (now < deadline) {
    const auto began = now;
    const int fd = ops.socket(ctx.address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      outcome.error = io_error("socket", errno);
      break;
    }
    tools::set_io_timeout(ops, fd, kIoTimeoutSeconds);  // bounds the connect too
    const int err = ops.connect(fd, ctx.address.data(), ctx.address.size()) == 0 ? 0 : errno;
    now = Clock::now();
    ops.close(fd);
    if (err != 0) {
      outcome.error = io_error("connect", err);
      break;
    }
    if (outcome.latencies_ns.size() < kMaxSamples) {
      outcome.latencies_ns.push_back(ns_between(began, now));
    }
    ++outcome.transactions;
    progress.transactions.fetch_add(1, std::memory_order_relaxed);
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

StreamResult serve_rr(const tools::SocketOps& ops, int fd, const Header& h) {
  const auto start = Clock::now();
  auto buf = std::make_unique<uint8_t[]>(h.size);
  uint64_t transactions = 0;
  // Until the client's FIN (read_all gives -1) or an error.
  while (read_all(fd, buf.get(), h.size, ops.recv) == 0 &&
         write_all(fd, buf.get(), h.size, ops.send) == 0) {
    ++transactions;
  }
  tools::ConnectionStats s;
  ops.stats(fd, s);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  return StreamResult{.bytes = transactions * h.size,
                      .duration_us = static_cast<uint64_t>(us.count()),
                      .retransmits = s.retransmits,
                      .rtt_us = s.rtt_us,
                      .cwnd = s.cwnd_bytes};
}

}  // namespace tou::perf
