// A UDP relay on loopback between a tou client and a tou server, for tests
// that need the path to fail: the client connects to port(); each datagram is
// passed on unchanged from the relay's own ports, as a NAT would (so the
// segment's ports differ from the UDP ports the server sees), until cut(),
// after which both directions are dropped in silence, as by a peer that
// vanished (a crash, a partition).
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "integration/util.hpp"

namespace tou_test {

class Relay {
 public:
  // Relays to 127.0.0.1:server_port.
  explicit Relay(uint16_t server_port);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  uint16_t port() const { return front_port_; }
  void cut() { cut_.store(true); }
  // Drops the next `n` datagrams from the client (a loss on the way).
  void drop_from_client(int n) { drop_from_client_.store(n); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t relayed() const { return relayed_.load(); }

 private:
  void run();
  // Sends the datagram on `fd` (to `to`, or to the socket's connected peer
  // when to is null).
  void forward(int fd, const uint8_t* data, size_t n, const sockaddr_in* to);

  Fd front_;  // the client's side: bound, port() is its port
  Fd back_;   // the server's side: connected to the server
  uint16_t front_port_ = 0;
  sockaddr_in client_{};  // written and read by the relay thread only
  bool have_client_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<uint64_t> relayed_{0};
  std::atomic<int> drop_from_client_{0};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace tou_test
