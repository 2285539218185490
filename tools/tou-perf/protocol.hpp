// tou-perf's wire protocol, on top of the byte stream it measures.
//
// A client opens one control connection and then its test connections, all
// to the same port. Each connection starts with a Header (48 bytes, big
// endian) that tells the server what to do:
//   control: the server answers one status byte, then waits; when the client
//            writes one byte (its streams are done), the server answers with
//            its side's results (a count, then one StreamResult per stream).
//   test:    bulk (one side writes until the time or byte budget is spent,
//            then FIN; the other reads to end-of-file), rr (size-byte request,
//            size-byte response, until the client's FIN), crr (one rr
//            exchange per connection) or idle (nothing: the server holds the
//            connection until the client closes it).
// --connect-rate's test connections carry no header: connect, then close.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace tou::perf {

constexpr uint32_t kMagic = 0x544f5550;  // "TOUP"
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 48;
constexpr size_t kResultSize = 40;

enum class Kind : uint8_t { kControl = 1, kTest = 2 };
enum class Mode : uint8_t { kBulk = 1, kRr = 2, kCrr = 3, kConnect = 4, kIdle = 5 };

// Modes whose test connections report nothing of their own to the server's
// session (each is short-lived or idle): the client's side tells everything.
inline bool per_connection_mode(Mode m) {
  return m == Mode::kCrr || m == Mode::kConnect || m == Mode::kIdle;
}
enum Flags : uint8_t { kReverse = 1 };

struct Header {
  Kind kind = Kind::kTest;
  Mode mode = Mode::kBulk;
  uint8_t flags = 0;
  uint64_t session = 0;      // random, names the client's run
  uint32_t stream = 0;       // index of this test connection
  uint32_t streams = 1;      // test connections of the run (bulk, rr)
  uint64_t duration_ms = 0;  // time budget of the sender
  uint64_t bytes = 0;        // byte budget of the sender (0: time only)
  uint32_t size = 0;         // write length (bulk), message size (rr, crr)
  bool reverse() const { return (flags & kReverse) != 0; }
};

std::array<uint8_t, kHeaderSize> encode(const Header& h);
// nullopt when the magic or version is not ours.
std::optional<Header> decode_header(std::span<const uint8_t, kHeaderSize> bytes);

// One test connection's outcome on one side.
struct StreamResult {
  uint64_t bytes = 0;
  uint64_t duration_us = 0;
  uint64_t retransmits = 0;
  uint64_t rtt_us = 0;
  uint64_t cwnd = 0;
};

std::vector<uint8_t> encode(const std::vector<StreamResult>& results);
std::optional<std::vector<StreamResult>> decode_results(std::span<const uint8_t> count_and_records);

// Blocking I/O on a descriptor (tou or kernel: both are real fds).
// write_all: 0 or errno. read_all: 0, errno, or -1 when end-of-file came first.
// `send` and `recv` are the transport's (SocketOps: tou_send sends from the
// calling thread when it can, and tou_recv after it waits there for the
// answer, as the kernel's TCP does).
using SendCall = ssize_t (*)(int fd, const void* buf, size_t len, int flags);
int write_all(int fd, const void* data, size_t len, SendCall send = ::send);
using RecvCall = ssize_t (*)(int fd, void* buf, size_t len, int flags);
int read_all(int fd, void* data, size_t len, RecvCall recv = ::recv);

}  // namespace tou::perf
