// Fuzzes the shim's socket option handling (src/preload/options.cpp: what a
// TCP program's setsockopt / getsockopt become on a tou socket, TCP_INFO in
// Linux's layout, the options ignored as a TCP stack may) over tou's C API
// and engine. Four real tou sockets: fresh IPv4 and IPv6 ones, a listener,
// and the client end of a connection to it.
//
// Input: records of [op][socket][level][name][len][value bytes...]: op bit 0
// is set (1) or get (0), bit 1 passes a NULL value; level picks SOL_SOCKET,
// IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_TOU or the byte itself.
//
// Invariants: no crash or sanitizer report; a call returns 0 or -1; on
// failure errno is one a socket option call may give; a successful get never
// reports more bytes than the buffer held.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz_check.hpp"
#include "preload/options.hpp"
#include "tou/tou.h"

namespace {

struct World {
  std::array<int, 4> fds{};
  int accepted = -1;

  World() {
    fds[0] = tou_socket(AF_INET, SOCK_STREAM, 0);
    fds[1] = tou_socket(AF_INET6, SOCK_STREAM, 0);
    fds[2] = tou_socket(AF_INET, SOCK_STREAM, 0);
    fds[3] = tou_socket(AF_INET, SOCK_STREAM, 0);
    for (int fd : fds) FUZZ_CHECK(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(tou_bind(fds[2], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    FUZZ_CHECK(tou_listen(fds[2], 4) == 0);
    socklen_t len = sizeof a;
    FUZZ_CHECK(tou_getsockname(fds[2], reinterpret_cast<sockaddr*>(&a), &len) == 0);
    FUZZ_CHECK(tou_connect(fds[3], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    accepted = tou_accept(fds[2], nullptr, nullptr);
    FUZZ_CHECK(accepted >= 0);
  }
};

World& world() {
  static World w;
  return w;
}

int level_of(uint8_t b) {
  switch (b % 8) {
    case 0:
      return SOL_SOCKET;
    case 1:
      return IPPROTO_IP;
    case 2:
      return IPPROTO_IPV6;
    case 3:
    case 4:
      return IPPROTO_TCP;
    case 5:
      return SOL_TOU;
    default:
      return b;
  }
}

bool expected_errno(int err) {
  switch (err) {
    case EBADF:
    case ENOTSOCK:
    case ENOPROTOOPT:
    case EFAULT:
    case EINVAL:
    case ENOENT:
    case EOPNOTSUPP:
    case EISCONN:
    case ENOTCONN:
    case EPERM:
    case EACCES:
    case ENODEV:
    case ENOMEM:
    case ENOBUFS:
    case EDOM:  // SO_RCVTIMEO / SO_SNDTIMEO: tv_usec out of range, as Linux
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  size_t pos = 0;
  std::vector<uint8_t> value;
  for (int calls = 0; calls < 32 && pos + 5 <= size; ++calls) {
    const uint8_t op = data[pos];
    const int fd = w.fds[data[pos + 1] % w.fds.size()];
    const int level = level_of(data[pos + 2]);
    const int name = data[pos + 3];
    const size_t len = data[pos + 4];
    pos += 5;
    value.assign(std::max<size_t>(len, 1), 0);
    const size_t take = std::min(len, size - pos);
    std::copy_n(data + pos, take, value.begin());
    pos += take;
    void* buf = (op & 2) != 0 ? nullptr : value.data();
    int r = 0;
    if ((op & 1) != 0) {
      // SO_LINGER would make a later close wait; the harness never closes.
      r = tou::preload::set_option(fd, level, name, buf, static_cast<socklen_t>(len));
    } else {
      socklen_t got = static_cast<socklen_t>(len);
      r = tou::preload::get_option(fd, level, name, buf, &got);
      if (r == 0) FUZZ_CHECK(got <= len);
    }
    FUZZ_CHECK(r == 0 || r == -1);
    if (r == -1) {
      if (!expected_errno(errno)) std::fprintf(stderr, "errno %d\n", errno);
      FUZZ_CHECK(expected_errno(errno));
    }
  }
  return 0;
}
