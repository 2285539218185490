// The workloads, client and server sides: bulk transfer, request/response
// (rr), connect/request/response/close (crr), connect/close (connect) and idle
// connections (idle). Each client stream runs in its own thread and owns its
// descriptors.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/socket_ops.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "report.hpp"
#include "tou/socket.hpp"

namespace tou::perf {

using Clock = std::chrono::steady_clock;

// No blocking call on a test connection waits longer than this: a stalled
// peer ends the stream with an error instead of hanging the run.
constexpr double kIoTimeoutSeconds = 10;

// What the reporter thread may see of a running stream.
class StreamProgress {
 public:
  std::atomic<uint64_t> bytes{0};  // payload this side wrote (sender) or read (receiver)
  std::atomic<uint64_t> transactions{0};
  std::atomic<bool> done{false};

  // TCP_INFO is read by the stream's own thread, which owns the descriptor.
  void publish(const tools::ConnectionStats& stats) {
    std::lock_guard lock(mu_);
    stats_ = stats;
  }
  tools::ConnectionStats latest() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  mutable std::mutex mu_;
  tools::ConnectionStats stats_;
};

// The client's side of one stream when it has ended.
struct StreamOutcome {
  uint64_t bytes = 0;
  double seconds = 0;
  uint64_t transactions = 0;
  tools::ConnectionStats stats;
  std::vector<uint64_t> latencies_ns;  // rr, crr, connect: one per transaction
  std::optional<IdleSummary> idle;     // idle
  std::string error;                   // empty when the stream ran to its end
};

struct StreamContext {
  const Options& options;
  Address address;
  Header header;  // this stream's (kind kTest, stream index set)
};

// Client side: connects (crr: many times), runs, fills `outcome`.
void run_bulk_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome);
void run_rr_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome);
void run_crr_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome);
// --connect-rate: blocking connect(), close(), again, until the time is spent.
void run_connect_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome);
// --idle N: opens N connections (each sends its header, then nothing), holds
// them for the time budget, closes them; measures this process's fds and RSS.
void run_idle_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome);

// Server side, on an accepted test connection whose header has been read.
// serve_bulk counts what it receives into `progress` as it goes, so that the
// results can be given while the stream is still draining.
StreamResult serve_bulk(const tools::SocketOps& ops, int fd, const Header& header,
                        StreamProgress& progress);
StreamResult serve_rr(const tools::SocketOps& ops, int fd, const Header& header);

// The server's side of --idle: holds connections until their client closes
// them, all watched by one thread (a thread each would cost more than the
// connection and so hide what the stack costs).
class IdleHolder {
 public:
  explicit IdleHolder(const tools::SocketOps& ops) : ops_(ops) {}
  ~IdleHolder();  // closes what is still held
  IdleHolder(const IdleHolder&) = delete;
  IdleHolder& operator=(const IdleHolder&) = delete;

  void hold(int fd);  // takes ownership

 private:
  void run();

  const tools::SocketOps& ops_;
  std::mutex mu_;
  std::vector<int> incoming_;  // handed over, not yet watched
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Options every test connection gets before connect (congestion control,
// TCP_NODELAY for rr and crr).
void configure_test_socket(const Options& o, int fd);

}  // namespace tou::perf
