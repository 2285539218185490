#include "integration/relay.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <vector>

namespace tou_test {

namespace {

uint16_t bound_port(int fd) {
  Addr a;
  a.len = sizeof a.storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len);
  return a.port();
}

}  // namespace

Relay::Relay(uint16_t server_port)
    : front_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)),
      back_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
  Addr any = loopback(AF_INET, 0);
  ::bind(front_.get(), any.get(), any.len);
  ::bind(back_.get(), any.get(), any.len);
  Addr server = loopback(AF_INET, server_port);
  ::connect(back_.get(), server.get(), server.len);
  front_port_ = bound_port(front_.get());
  thread_ = std::thread([this] { run(); });
}

Relay::~Relay() {
  stop_.store(true);
  thread_.join();
}

void Relay::forward(int fd, const uint8_t* data, size_t n, const sockaddr_in* to) {
  ::sendto(fd, data, n, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(to),
           to != nullptr ? sizeof *to : 0);
  relayed_.fetch_add(1);
}

void Relay::run() {
  std::vector<uint8_t> buf(70000);
  while (!stop_.load()) {
    std::array<pollfd, 2> p{{{front_.get(), POLLIN, 0}, {back_.get(), POLLIN, 0}}};
    if (::poll(p.data(), p.size(), 20) <= 0) continue;
    if (p[0].revents & POLLIN) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(front_.get(), buf.data(), buf.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &len);
      if (n > 0 && !cut_.load()) {
        client_ = from;
        have_client_ = true;
        int drop = drop_from_client_.load();
        if (drop > 0 && drop_from_client_.compare_exchange_strong(drop, drop - 1)) {
          dropped_.fetch_add(1);
        } else {
          forward(back_.get(), buf.data(), static_cast<size_t>(n), nullptr);
        }
      }
    }
    if (p[1].revents & POLLIN) {
      ssize_t n = ::recv(back_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0 && !cut_.load() && have_client_) {
        forward(front_.get(), buf.data(), static_cast<size_t>(n), &client_);
      }
    }
  }
}

}  // namespace tou_test
