#include "peer_perf.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace tou_bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 128 * 1024;

// What the client asks for, sent first on the connection.
struct Request {
  char mode;       // 'b' bulk, 'r' request/response
  uint64_t bytes;  // bulk: bytes that follow
  uint32_t count;  // rr: round trips
  uint32_t size;   // rr: bytes per request and per response
};

bool send_all(PeerTransport& t, PeerHandle h, const char* data, size_t n) {
  while (n > 0) {
    long sent = t.send(h, data, n);
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<size_t>(sent);
  }
  return true;
}

bool recv_all(PeerTransport& t, PeerHandle h, char* data, size_t n) {
  while (n > 0) {
    long got = t.recv(h, data, n);
    if (got <= 0) return false;
    data += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

int fail(const PeerTransport& t, const char* what) {
  fmt::print(stderr, "{}: {}: {}\n", t.name(), what, t.error());
  return 1;
}

int serve(PeerTransport& t, uint16_t port) {
  PeerHandle listener = t.listen(port);
  if (listener < 0) return fail(t, "listen");
  PeerHandle conn = t.accept(listener);
  if (conn < 0) return fail(t, "accept");
  Request req{};
  if (!recv_all(t, conn, reinterpret_cast<char*>(&req), sizeof req)) return fail(t, "recv");
  std::vector<char> buf(std::max<size_t>(kChunk, req.size));
  if (req.mode == 'b') {
    // Drain the bytes, then one byte back: the client's clock stops on it.
    for (uint64_t left = req.bytes; left > 0;) {
      long got = t.recv(conn, buf.data(), std::min<uint64_t>(left, buf.size()));
      if (got <= 0) return fail(t, "recv");
      left -= static_cast<uint64_t>(got);
    }
    if (!send_all(t, conn, buf.data(), 1)) return fail(t, "send");
  } else {
    for (uint32_t i = 0; i < req.count; ++i) {
      if (!recv_all(t, conn, buf.data(), req.size) || !send_all(t, conn, buf.data(), req.size)) {
        return fail(t, "echo");
      }
    }
  }
  // Wait for the client to close first, so no data is cut short.
  t.recv(conn, buf.data(), 1);
  t.close(conn);
  t.close(listener);
  return 0;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int bulk(PeerTransport& t, PeerHandle conn, uint64_t bytes) {
  Request req{'b', bytes, 0, 0};
  std::vector<char> buf(kChunk, 'x');
  auto start = Clock::now();
  if (!send_all(t, conn, reinterpret_cast<const char*>(&req), sizeof req)) return fail(t, "send");
  for (uint64_t left = bytes; left > 0;) {
    size_t n = std::min<uint64_t>(left, buf.size());
    if (!send_all(t, conn, buf.data(), n)) return fail(t, "send");
    left -= n;
  }
  if (!recv_all(t, conn, buf.data(), 1)) return fail(t, "recv");
  double seconds = seconds_since(start);
  fmt::print(R"({{"transport": "{}", "mode": "bulk", "bytes": {}, "seconds": {:.6f}, )"
             R"("bits_per_second": {:.0f}}})"
             "\n",
             t.name(), bytes, seconds, static_cast<double>(bytes) * 8 / seconds);
  return 0;
}

double percentile(const std::vector<double>& sorted, double p) {
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int request_response(PeerTransport& t, PeerHandle conn, uint32_t count, uint32_t size) {
  Request req{'r', 0, count, size};
  if (!send_all(t, conn, reinterpret_cast<const char*>(&req), sizeof req)) return fail(t, "send");
  std::vector<char> buf(size, 'r');
  std::vector<double> rtt_us;
  rtt_us.reserve(count);
  auto start = Clock::now();
  for (uint32_t i = 0; i < count; ++i) {
    auto sent = Clock::now();
    if (!send_all(t, conn, buf.data(), size) || !recv_all(t, conn, buf.data(), size)) {
      return fail(t, "round trip");
    }
    rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
  }
  double seconds = seconds_since(start);
  std::sort(rtt_us.begin(), rtt_us.end());
  fmt::print(R"({{"transport": "{}", "mode": "rr", "size": {}, "transactions": {}, )"
             R"("transactions_per_second": {:.0f}, "p50_us": {:.1f}, "p90_us": {:.1f}, )"
             R"("p99_us": {:.1f}, "max_us": {:.1f}}})"
             "\n",
             t.name(), size, count, count / seconds, percentile(rtt_us, 0.5),
             percentile(rtt_us, 0.9), percentile(rtt_us, 0.99), rtt_us.back());
  return 0;
}

int usage(const char* prog) {
  fmt::print(stderr,
             "usage: {0} -s PORT\n"
             "       {0} -c HOST PORT bulk BYTES\n"
             "       {0} -c HOST PORT rr COUNT SIZE\n",
             prog);
  return 2;
}

}  // namespace

int run_peer_perf(PeerTransport& t, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 2 && args[0] == "-s") return serve(t, std::stoi(args[1]));
    if (args.size() >= 5 && args[0] == "-c") {
      PeerHandle conn = t.connect(args[1], std::stoi(args[2]));
      if (conn < 0) return fail(t, "connect");
      int status = 1;
      if (args[3] == "bulk" && args.size() == 5) {
        status = bulk(t, conn, std::stoull(args[4]));
      } else if (args[3] == "rr" && args.size() == 6 && std::stoul(args[5]) > 0) {
        status = request_response(t, conn, std::stoul(args[4]), std::stoul(args[5]));
      } else {
        return usage(argv[0]);
      }
      t.close(conn);
      return status;
    }
  } catch (const std::exception&) {  // std::stoi on a malformed number
  }
  return usage(argv[0]);
}

}  // namespace tou_bench
