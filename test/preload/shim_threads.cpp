// An instrumented TCP program for the shim (ctest preload.shim_threads): run
// under tou-run, it is built with the build's sanitizer, so that ASan and TSan
// see the shim and tou's engine from inside a program of their own (their
// runtimes cannot be preloaded into the uninstrumented programs of the
// script suite under TSan). Plain socket calls only; nothing of tou is linked.
//
//   tou-run tou_shim_threads CLIENTS ROUNDS
//
// A threaded echo server and CLIENTS client threads, each opening ROUNDS
// connections: options and TCP_INFO from every thread, the bytes written with
// write() and writev(), MSG_PEEK | MSG_WAITALL for the whole echo, then read.
// Exit 0 when every echo is exact and the listener's port is a UDP port (tou).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kIoTimeoutS = 20;  // every blocking call is bounded

void set_timeouts(int fd) {
  timeval tv{kIoTimeoutS, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Echoes with plain write() (the shim's write path) until end-of-file.
void echo(int fd) {
  set_timeouts(fd);
  char buf[16384];
  ssize_t n = 0;
  bool ok = true;
  while (ok && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    for (ssize_t off = 0; ok && off < n;) {
      ssize_t w = ::write(fd, buf + off, static_cast<size_t>(n - off));
      ok = w > 0;
      off += ok ? w : 0;
    }
  }
  ::close(fd);
}

// One connection: the message in two pieces (writev), the echo peeked whole,
// then read. Empty on success, else what went wrong.
std::string round_trip(const sockaddr_in& to, int client, int round) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  set_timeouts(fd);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    std::string err = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return err;
  }
  std::string msg;
  for (int i = 0; i < 200 + 37 * client + round; ++i)
    msg += static_cast<char>('a' + (i + round) % 26);
  iovec iov[2] = {{msg.data(), msg.size() / 2},
                  {msg.data() + msg.size() / 2, msg.size() - msg.size() / 2}};
  std::string err;
  if (::writev(fd, iov, 2) != static_cast<ssize_t>(msg.size())) err = "writev";
  std::string got(msg.size(), '\0');
  if (err.empty() && ::recv(fd, got.data(), got.size(), MSG_PEEK | MSG_WAITALL) !=
                         static_cast<ssize_t>(got.size()))
    err = std::string("peek: ") + std::strerror(errno);
  tcp_info info{};
  socklen_t len = sizeof info;
  if (err.empty() && ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) err = "TCP_INFO";
  if (err.empty() && ::shutdown(fd, SHUT_WR) != 0) err = "shutdown";
  size_t have = 0;
  while (err.empty() && have < got.size()) {
    ssize_t n = ::read(fd, got.data() + have, got.size() - have);
    if (n <= 0) err = "read";
    have += n > 0 ? static_cast<size_t>(n) : 0;
  }
  char extra;
  if (err.empty() && ::read(fd, &extra, 1) != 0) err = "no end-of-file";
  if (err.empty() && got != msg) err = "echo differs";
  ::close(fd);
  return err;
}

// True when a UDP socket cannot take `port`: tou's listener holds it.
bool port_is_udp(uint16_t port) {
  int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool taken = ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EADDRINUSE;
  ::close(u);
  return taken;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 8;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(ls, 128) != 0 || ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listener");
    return 1;
  }
  set_timeouts(ls);
  const int total = clients * rounds;
  std::vector<std::thread> echoes;
  std::thread server([&] {
    for (int i = 0; i < total; ++i) {
      int c = ::accept(ls, nullptr, nullptr);
      if (c < 0) return;
      echoes.emplace_back(echo, c);
    }
  });
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k] {
      for (int r = 0; r < rounds; ++r) {
        std::string err = round_trip(addr, k, r);
        if (err.empty()) continue;
        std::lock_guard g(mu);
        errors.push_back("client " + std::to_string(k) + " round " + std::to_string(r) + ": " +
                         err);
      }
    });
  }
  for (auto& t : threads) t.join();
  server.join();
  for (auto& t : echoes) t.join();
  bool udp = port_is_udp(ntohs(addr.sin_port));
  ::close(ls);
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!udp) std::fprintf(stderr, "the listener's port is not a UDP port: not over tou\n");
  std::printf("%d connections, %zu failed\n", total, errors.size());
  return errors.empty() && udp ? 0 : 1;
}
