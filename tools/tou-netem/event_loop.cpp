#include "event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <system_error>

namespace tou::netem {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void add_to_epoll(int epoll_fd, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno("epoll_ctl");
}

}  // namespace

Instant monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return instant_from_us(static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000);
}

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || timer_fd_ < 0 || stop_fd_ < 0) throw_errno("event loop");
  add_to_epoll(epoll_fd_, timer_fd_);
  add_to_epoll(epoll_fd_, stop_fd_);
}

EventLoop::~EventLoop() {
  for (int fd : {epoll_fd_, timer_fd_, stop_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void EventLoop::watch(int fd, std::function<void()> on_readable) {
  handlers_[fd] = std::move(on_readable);
  add_to_epoll(epoll_fd_, fd);
}

void EventLoop::stop() const {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof one);
}

void EventLoop::arm(std::optional<Instant> deadline) {
  itimerspec spec{};  // all zero: disarmed
  if (deadline) {
    // An absolute time of zero would disarm the timer; a past one fires at once.
    const int64_t us = std::max<int64_t>(to_us(*deadline), 1);
    spec.it_value.tv_sec = us / 1'000'000;
    spec.it_value.tv_nsec = (us % 1'000'000) * 1000;
  }
  if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) < 0) {
    throw_errno("timerfd_settime");
  }
}

void EventLoop::run(const std::function<std::optional<Instant>(Instant now)>& tick) {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  for (;;) {
    arm(tick(monotonic_now()));
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;  // a signal handler calls stop() if it wants us to end
      throw_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) return;
      if (fd == timer_fd_) {
        uint64_t expirations;
        [[maybe_unused]] ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
        continue;
      }
      auto it = handlers_.find(fd);
      if (it != handlers_.end()) it->second();
    }
  }
}

}  // namespace tou::netem
