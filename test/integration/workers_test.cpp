// The engine's sharded workers: a listener's accepted connections spread over
// the workers, every transfer stays byte-exact, one worker behaves as before,
// and fork after accept still works. Each test sets the number of workers
// before the process's first socket (ctest runs each test in a process of
// its own); run together in one process, a test whose count cannot be set
// any more is skipped, saying so.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

// Sets the number of workers, or tells why it cannot.
bool use_workers(int n, std::string& why) {
  if (tou_set_workers(n) == 0) return true;
  if (errno == EBUSY && tou_workers() == n) return true;
  why = "the engine already runs with " + std::to_string(tou_workers()) + " workers";
  return false;
}

// A client with a UDP port of its own (bound explicitly): a listener's
// SO_REUSEPORT group spreads its peers over the workers by their UDP
// addresses, and connections that are not bound share a few client ports
// (engine/client_ports.cpp), which would leave the spread to chance.
Fd connect_from_own_port(uint16_t port) {
  return connect_to(AF_INET, port, [](int fd) {
    Addr any = loopback(AF_INET, 0);
    EXPECT_EQ(tou_bind(fd, any.get(), any.len), 0) << std::strerror(errno);
  });
}

// A listener on loopback and `n` clients connected to it (not yet accepted);
// the listener is invalid when any step failed.
struct Served {
  Fd listener;
  std::vector<Fd> clients;
};
Served listen_and_connect(int n) {
  Served out;
  uint16_t port = 0;
  out.listener = listen_on(AF_INET, n, &port);
  for (int i = 0; i < n && out.listener; ++i) {
    out.clients.push_back(connect_from_own_port(port));
    if (!out.clients.back()) out.listener.reset();
  }
  return out;
}

// A server and its clients in this process: `clients` connections accepted,
// each sending `bytes` of its own pattern that the server echoes back. Returns
// the worker of each accepted connection; every byte is checked.
std::vector<int> echo_over_connections(int clients, size_t bytes) {
  std::vector<int> workers;
  Served served = listen_and_connect(clients);
  EXPECT_TRUE(served.listener) << std::strerror(errno);
  if (!served.listener) return workers;
  Fd& ls = served.listener;
  std::vector<Fd>& client = served.clients;
  std::vector<Fd> server(clients);
  for (int i = 0; i < clients; ++i) {
    server[i] = Fd(tou_accept(ls.get(), nullptr, nullptr));
    EXPECT_TRUE(server[i]) << std::strerror(errno);
    if (!server[i]) return workers;
    set_timeouts(server[i].get());
    int w = tou_worker_of(server[i].get());
    EXPECT_GE(w, 0) << std::strerror(errno);
    EXPECT_LT(w, tou_workers());
    workers.push_back(w);
  }
  // Every server end echoes on a thread of its own; the clients write, then
  // read back what they wrote.
  std::vector<std::thread> echoes;
  for (int i = 0; i < clients; ++i) {
    echoes.emplace_back([fd = server[i].get()] {
      std::vector<uint8_t> buf(65536);
      for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0 || !write_all(fd, buf.data(), static_cast<size_t>(n))) break;
      }
      tou_shutdown(fd, SHUT_WR);
    });
  }
  std::vector<std::thread> senders;
  std::vector<int> exact(clients, 0);
  for (int i = 0; i < clients; ++i) {
    senders.emplace_back([&, i] {
      std::vector<uint8_t> data = random_bytes(bytes, 100 + static_cast<uint64_t>(i));
      std::thread writer([&] {
        write_all(client[i].get(), data.data(), data.size());
        tou_shutdown(client[i].get(), SHUT_WR);
      });
      std::vector<uint8_t> got;
      bool ok = read_to_eof(client[i].get(), got, data.size() + 1);
      writer.join();
      exact[i] = ok && got == data ? 1 : 0;
    });
  }
  for (auto& t : senders) t.join();
  for (auto& t : echoes) t.join();
  for (int i = 0; i < clients; ++i) EXPECT_EQ(exact[i], 1) << "connection " << i;
  return workers;
}

TEST(Workers, TwoWorkersShareAListenersConnectionsAndEveryByteArrives) {
  std::string why;
  if (!use_workers(2, why)) GTEST_SKIP() << why;
  // 32 peers: all on one worker's socket of the SO_REUSEPORT group by chance
  // once in 2^31.
  std::vector<int> workers = echo_over_connections(32, scaled(200000, 20000));
  ASSERT_EQ(workers.size(), 32u);
  EXPECT_EQ(tou_workers(), 2);
  std::set<int> used(workers.begin(), workers.end());
  EXPECT_EQ(used, (std::set<int>{0, 1}));
}

TEST(Workers, OneWorkerServesEverything) {
  std::string why;
  if (!use_workers(1, why)) GTEST_SKIP() << why;
  std::vector<int> workers = echo_over_connections(8, scaled(200000, 20000));
  ASSERT_EQ(workers.size(), 8u);
  EXPECT_EQ(tou_workers(), 1);
  for (int w : workers) EXPECT_EQ(w, 0);
}

TEST(Workers, ClientSocketsGoRoundRobin) {
  std::string why;
  if (!use_workers(2, why)) GTEST_SKIP() << why;
  Fd a(tou_socket(AF_INET, SOCK_STREAM, 0)), b(tou_socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(a && b);
  int wa = tou_worker_of(a.get()), wb = tou_worker_of(b.get());
  EXPECT_NE(wa, wb);
  EXPECT_TRUE(wa >= 0 && wa < 2 && wb >= 0 && wb < 2);
}

TEST(Workers, CountIsSetOnlyBeforeTheEngineStarts) {
  std::string why;
  if (!use_workers(2, why)) GTEST_SKIP() << why;
  EXPECT_EQ(tou_set_workers(0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(tou_set_workers(65), -1);
  EXPECT_EQ(errno, EINVAL);
  Fd a(tou_socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(a);
  EXPECT_EQ(tou_workers(), 2);
  EXPECT_EQ(tou_set_workers(1), -1);
  EXPECT_EQ(errno, EBUSY);
  Fd notsock(::dup(STDIN_FILENO));
  EXPECT_EQ(tou_worker_of(notsock.get()), -1);
}

// An option set on the listener after listen() reaches the connections that
// every worker accepts (each worker keeps a copy of the listener's options).
TEST(Workers, ListenerOptionsSetAfterListenReachEveryWorker) {
  std::string why;
  if (!use_workers(2, why)) GTEST_SKIP() << why;
  const int kClients = 32;
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, kClients, &port);
  ASSERT_TRUE(ls);
  int one = 1;
  ASSERT_EQ(tou_setsockopt(ls.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
  std::vector<Fd> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect_from_own_port(port));
    ASSERT_TRUE(clients.back());
  }
  std::set<int> used;
  for (int i = 0; i < kClients; ++i) {
    Fd c(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(c) << std::strerror(errno);
    used.insert(tou_worker_of(c.get()));
    int v = 0;
    socklen_t len = sizeof v;
    ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    EXPECT_EQ(v, 1) << "connection " << i << " on worker " << tou_worker_of(c.get());
  }
  EXPECT_EQ(used, (std::set<int>{0, 1}));
}

uint16_t port_of(int fd, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  int r = peer ? tou_getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
               : tou_getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return r == 0 ? ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port) : 0;
}

// The listener closes, then every connection of one worker ends: that
// worker's socket of the SO_REUSEPORT group must stay bound while the other
// workers' connections live, or the kernel would give some of their peers'
// segments to another socket (a worker that does not know them, and resets).
TEST(Workers, AGroupKeepsItsSocketsWhileAnyWorkerHasConnections) {
  std::string why;
  if (!use_workers(3, why)) GTEST_SKIP() << why;
  const int kClients = 48;
  Served served = listen_and_connect(kClients);
  ASSERT_TRUE(served.listener) << std::strerror(errno);
  Fd& ls = served.listener;
  std::vector<Fd>& clients = served.clients;
  std::map<uint16_t, int> client_by_port;
  for (int i = 0; i < kClients; ++i) client_by_port[port_of(clients[i].get(), false)] = i;
  std::vector<Fd> servers(kClients);  // by client index
  std::vector<int> worker(kClients, -1);
  for (int i = 0; i < kClients; ++i) {
    Fd c(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(c) << std::strerror(errno);
    auto it = client_by_port.find(port_of(c.get(), true));
    ASSERT_NE(it, client_by_port.end());
    set_timeouts(c.get());
    worker[it->second] = tou_worker_of(c.get());
    servers[it->second] = std::move(c);
  }
  ASSERT_EQ(std::set<int>(worker.begin(), worker.end()), (std::set<int>{0, 1, 2}));
  ls.reset();
  // Worker 0's connections end (the client first: no TIME-WAIT on the
  // listener's port), so its socket has no reference left.
  for (int i = 0; i < kClients; ++i) {
    if (worker[i] != 0) continue;
    clients[i].reset();
    uint8_t b;
    EXPECT_EQ(::read(servers[i].get(), &b, 1), 0);
    servers[i].reset();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the last ACKs arrive
  // Every other connection still carries its bytes, both ways.
  for (int i = 0; i < kClients; ++i) {
    if (worker[i] == 0) continue;
    std::vector<uint8_t> data = random_bytes(scaled(50000, 5000), 300 + static_cast<uint64_t>(i));
    ASSERT_TRUE(write_all(clients[i].get(), data.data(), data.size())) << "connection " << i;
    std::vector<uint8_t> got(data.size());
    ASSERT_TRUE(read_exact(servers[i].get(), got.data(), got.size())) << "connection " << i;
    ASSERT_TRUE(write_all(servers[i].get(), got.data(), got.size()));
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(read_exact(clients[i].get(), back.data(), back.size())) << "connection " << i;
    EXPECT_TRUE(back == data) << "connection " << i;
  }
}

// A child of fork() serves the connection its parent accepted on the
// parent's workers (both of them in use) and every byte arrives.
TEST(Workers, ForkAfterAcceptOnTwoWorkers) {
  std::string why;
  if (!use_workers(2, why)) GTEST_SKIP() << why;
  const int kClients = 8;
  Served served = listen_and_connect(kClients);
  ASSERT_TRUE(served.listener) << std::strerror(errno);
  Fd& ls = served.listener;
  std::vector<Fd>& clients = served.clients;
  std::vector<pid_t> children;
  std::set<int> used;
  for (int i = 0; i < kClients; ++i) {
    Fd c(tou_accept(ls.get(), nullptr, nullptr));
    ASSERT_TRUE(c) << std::strerror(errno);
    used.insert(tou_worker_of(c.get()));
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ls.reset();
      uint8_t buf[65536];
      for (;;) {
        ssize_t n = ::read(c.get(), buf, sizeof buf);
        if (n <= 0 || !write_all(c.get(), buf, static_cast<size_t>(n))) break;
      }
      ::_exit(0);
    }
    children.push_back(child);
  }
  for (int i = 0; i < kClients; ++i) {
    std::vector<uint8_t> data = random_bytes(scaled(100000, 10000), 7 + static_cast<uint64_t>(i));
    ASSERT_TRUE(write_all(clients[i].get(), data.data(), data.size()));
    ASSERT_EQ(tou_shutdown(clients[i].get(), SHUT_WR), 0);
    std::vector<uint8_t> got;
    EXPECT_TRUE(read_to_eof(clients[i].get(), got, data.size() + 1));
    EXPECT_TRUE(got == data) << "client " << i;
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_GE(used.size(), 1u);
}

}  // namespace
}  // namespace tou_test
