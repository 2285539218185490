// A tiny bulk and request/response benchmark over another UDP transport's
// library (UDT, SRT), so `make bench` can hold tou against them with the same
// workloads as tou-perf. Each transport supplies a PeerTransport; the
// workloads, command line and JSON output are shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tou_bench {

// A connected or listening handle of the transport under test.
using PeerHandle = int64_t;

class PeerTransport {
 public:
  virtual ~PeerTransport() = default;
  virtual std::string name() const = 0;
  // Each returns a handle, or -1 with error() telling why.
  virtual PeerHandle listen(uint16_t port) = 0;
  virtual PeerHandle accept(PeerHandle listener) = 0;
  virtual PeerHandle connect(const std::string& host, uint16_t port) = 0;
  // Like send(2)/recv(2): bytes moved (> 0), or <= 0 on error / close.
  virtual long send(PeerHandle h, const char* data, size_t n) = 0;
  virtual long recv(PeerHandle h, char* data, size_t n) = 0;
  virtual void close(PeerHandle h) = 0;
  virtual std::string error() const = 0;
};

// Parses the command line and runs the server or the client; the exit status.
//   NAME -s PORT                     serve one client, then exit
//   NAME -c HOST PORT bulk BYTES     send BYTES, print goodput as JSON
//   NAME -c HOST PORT rr COUNT SIZE  COUNT round trips of SIZE bytes, print latency as JSON
int run_peer_perf(PeerTransport& transport, int argc, char** argv);

}  // namespace tou_bench
