// The three workloads, client and server sides: bulk transfer, request/response
// (rr), and connect/request/response/close (crr). Each test connection runs in
// its own thread and owns its descriptor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/socket_ops.hpp"
#include "options.hpp"
#include "protocol.hpp"
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
  std::vector<uint64_t> latencies_ns;  // rr, crr: one per transaction
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

// Server side, on an accepted test connection whose header has been read.
// serve_bulk counts what it receives into `progress` as it goes, so that the
// results can be given while the stream is still draining.
StreamResult serve_bulk(const tools::SocketOps& ops, int fd, const Header& header,
                        StreamProgress& progress);
StreamResult serve_rr(const tools::SocketOps& ops, int fd, const Header& header);

// Options every test connection gets before connect (congestion control,
// TCP_NODELAY for rr and crr).
void configure_test_socket(const Options& o, int fd);

}  // namespace tou::perf
