// A small real-time event loop: epoll over file descriptors, one timerfd for
// the next packet deadline (microsecond precision, CLOCK_MONOTONIC), and an
// eventfd that stop() writes, so another thread or a signal handler can end it.
#pragma once

#include <functional>
#include <optional>
#include <unordered_map>

#include "base/time.hpp"

namespace tou::netem {

// CLOCK_MONOTONIC as an Instant (microseconds); the same clock for every process.
Instant monotonic_now();

class EventLoop {
 public:
  EventLoop();  // throws std::system_error
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `on_readable` whenever `fd` is readable (level-triggered).
  void watch(int fd, std::function<void()> on_readable);

  // Runs until stop(). After every wake-up `tick(now)` runs and returns the next
  // deadline (nullopt: none); the loop sleeps until then or until an fd is readable.
  void run(const std::function<std::optional<Instant>(Instant now)>& tick);

  // Ends run() soon; async-signal-safe and thread-safe.
  void stop() const;

 private:
  void arm(std::optional<Instant> deadline);

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int stop_fd_ = -1;
  std::unordered_map<int, std::function<void()>> handlers_;
};

}  // namespace tou::netem
