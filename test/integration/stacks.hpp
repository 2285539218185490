// The same test body against two TCP stacks: the kernel's own TCP sockets and
// tou's. A test written once and passed by the kernel states what Linux TCP
// does; tou must then pass it too, or skip with the reason it differs.
//
//   class Sockets : public StackTest {};
//   TEST_P(Sockets, PeekDoesNotConsume) { Conn c = connect_pair(); ... api().recv(...) }
//   INSTANTIATE_STACKS(Sockets);
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "integration/util.hpp"

namespace tou_test {

// The socket calls that differ between the stacks; data calls on the
// descriptor itself (read, write, readv, poll, epoll, sendfile) are the same.
struct Stack {
  const char* name;
  int (*socket)(int, int, int);
  int (*bind)(int, const sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*shutdown)(int, int);
  int (*close)(int);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
  int (*getsockname)(int, sockaddr*, socklen_t*);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*recv)(int, void*, size_t, int);
  // True once every byte written on fd (at least `total`) is acknowledged.
  bool (*all_acked)(int fd, uint64_t total);
  // Bytes the stack has taken in on fd from the peer (TCP_INFO's
  // bytes_received), read or not.
  uint64_t (*bytes_received)(int fd);
  bool is_tou;
};

const Stack& kernel_stack();
std::string stack_name(const ::testing::TestParamInfo<const Stack*>& p);
const Stack& tou_stack();

// All of [data, data + n) with the stack's send (blocking, MSG_NOSIGNAL);
// false on an error or a zero-byte send.
bool send_all(const Stack& api, int fd, const uint8_t* data, size_t n);
// Exactly n bytes with the stack's recv (blocking); false on an error or the
// end of the stream.
bool recv_all(const Stack& api, int fd, uint8_t* data, size_t n);

// A descriptor closed through its stack.
class SFd {
 public:
  SFd() = default;
  SFd(const Stack* s, int fd) : stack_(s), fd_(fd) {}
  ~SFd() { reset(); }
  SFd(SFd&& o) noexcept : stack_(o.stack_), fd_(o.release()) {}
  SFd& operator=(SFd&& o) noexcept {
    reset();
    stack_ = o.stack_;
    fd_ = o.release();
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) stack_->close(fd_);
    fd_ = -1;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  const Stack* stack_ = nullptr;
  int fd_ = -1;
};

struct Conn {
  SFd listener, client, server;
};

class StackTest : public ::testing::TestWithParam<const Stack*> {
 protected:
  const Stack& api() const { return *GetParam(); }
  SFd make(int family = AF_INET, int flags = 0) const;
  void with_timeouts(int fd) const;  // kIoTimeout both ways
  // A listener on loopback (ephemeral port unless `port`), options set first.
  SFd listener(int family, uint16_t* port, int backlog = 16,
               const std::function<void(int)>& before_bind = {}) const;
  // A blocking connected client to port (options set first); invalid on failure.
  SFd connect(int family, uint16_t port, const std::function<void(int)>& before = {}) const;
  SFd accept(int listen_fd) const;
  // Listener, client and accepted server, all with the test timeouts.
  Conn pair(int family = AF_INET, const std::function<void(int)>& client_opts = {},
            const std::function<void(int)>& listener_opts = {}) const;
  int set_int(int fd, int level, int name, int v) const {
    return api().setsockopt(fd, level, name, &v, sizeof v);
  }

 public:
  // Waits (bounded) until poll() reports any of `events` on fd; the revents.
  static short wait_events(int fd, short events, int timeout_ms = 10000);
};

#define INSTANTIATE_STACKS(suite)                                                           \
  INSTANTIATE_TEST_SUITE_P(Stacks, suite, ::testing::Values(&kernel_stack(), &tou_stack()), \
                           ::tou_test::stack_name)

// Skips the rest of a test on tou when it differs from Linux in a way not
// fixed yet, saying how.
#define SKIP_ON_TOU(reason)                                      \
  do {                                                           \
    if (api().is_tou) GTEST_SKIP() << "tou differs: " << reason; \
  } while (0)

}  // namespace tou_test
