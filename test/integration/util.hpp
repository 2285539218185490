// Helpers for the integration tests: real UDP on loopback only (127.0.0.1 and
// ::1), every wait bounded in time. TOU_TEST_SCALE (default 1.0; the Makefile
// sets 0.25 under sanitizers) scales sizes and counts.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tou/tou.h"

namespace tou_test {

double scale();
// n * scale(), at least `minimum`.
size_t scaled(size_t n, size_t minimum = 1);

// A loopback address of the family (127.0.0.1 or ::1) with a port.
struct Addr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
};
Addr loopback(int family, uint16_t port);

// Owns a descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Every blocking call on a test socket gives up after this long.
constexpr std::chrono::seconds kIoTimeout{30};
void set_timeouts(int fd, std::chrono::milliseconds t = kIoTimeout);

// A listening tou socket on loopback, ephemeral port; port() tells which.
Fd listen_on(int family, int backlog, uint16_t* port,
             const std::function<void(int)>& before_bind = {});
// A blocking connected tou socket, or an invalid Fd (errno set).
Fd connect_to(int family, uint16_t port, const std::function<void(int)>& before_connect = {});

// A listener on loopback, a client connected to it and the server's end
// accepted (both with the test timeouts); check client and server before use.
struct ConnectedPair {
  Fd listener, client, server;
};
ConnectedPair connected_pair(int family = AF_INET);

// Blocking I/O helpers (the descriptor's timeouts bound them).
bool write_all(int fd, const uint8_t* data, size_t n);
bool read_exact(int fd, uint8_t* data, size_t n);
// Reads until end-of-file; false on error or timeout.
bool read_to_eof(int fd, std::vector<uint8_t>& out, size_t limit = SIZE_MAX);

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed);

// Open descriptors of this process (those `which` accepts).
int count_fds(const std::function<bool(int)>& which);
int count_open_fds();
// Open UDP sockets of this process (the engine's ports).
int count_udp_sockets();
// A UDP port on loopback with nothing bound to it.
uint16_t closed_udp_port(int family);
// Resident set size in KiB.
long rss_kib();

// Polls `done` every few ms until true or `limit` passes; returns done().
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit);

// Where a process that did not finish in time is stuck: every thread's stack
// (gdb, when installed) on stderr, so that a rare hang (seen about once in ten
// full ASan runs, never alone) leaves its cause in the log. pid 0: every
// child of this process.
void dump_stacks(pid_t pid);

// TCP_INFO of a tou socket (a test failure when it cannot be read).
tou_info info_of(int fd);

}  // namespace tou_test
