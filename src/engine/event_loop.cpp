#include "engine/event_loop.hpp"

#include "engine/high_fd.hpp"

#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace tou::engine {

namespace {

// The wake-up eventfd's and the timerfd's entries carry these tags instead
// of a handler.
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kTimerTag = 2;

}  // namespace

EventLoop::~EventLoop() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (timer_fd_ >= 0) ::close(timer_fd_);
}

int EventLoop::init() {
  epoll_fd_ = move_high(::epoll_create1(EPOLL_CLOEXEC));
  if (epoll_fd_ < 0) return errno;
  wake_fd_ = move_high(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (wake_fd_ < 0) return errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) return errno;
  timer_fd_ = move_high(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (timer_fd_ < 0) return errno;
  ev.data.u64 = kTimerTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) return errno;
  return 0;
}

int EventLoop::add(int fd, uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

int EventLoop::modify(int fd, uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : errno;
}

void EventLoop::remove(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop wakes anyway.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

namespace {

// `when` as the CLOCK_MONOTONIC time it names (now() reads that clock).
timespec monotonic_timespec(Instant when) {
  const int64_t us = to_us(when);
  return {static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
}

}  // namespace

void EventLoop::wake_at(Instant when) {
  itimerspec at{};
  at.it_value = monotonic_timespec(std::max(when, instant_from_us(1)));  // 0 would disarm it
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &at, nullptr);
}

void EventLoop::sleep_until(Instant when) {
  const timespec at = monotonic_timespec(when);
  ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
}

Instant EventLoop::now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return instant_from_us(static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000);
}

timespec wait_timeout(Instant deadline, Instant now) {
  int64_t us = std::max<int64_t>(to_us(deadline) - to_us(now), 0);
  return {static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
}

int wait_timeout_ms(const timespec& timeout) {
  return static_cast<int>(timeout.tv_sec * 1000 + (timeout.tv_nsec + 999'999) / 1'000'000);
}

int EventLoop::wait(std::optional<Instant> deadline) {
  timespec timeout{};
  timespec* tp = nullptr;
  if (deadline) {
    timeout = wait_timeout(*deadline, now());
    tp = &timeout;
  }
  int n = ::epoll_pwait2(epoll_fd_, events_.data(), kMaxEvents, tp, nullptr);
  if (n < 0 && errno == ENOSYS) {
    n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents,
                     tp == nullptr ? -1 : wait_timeout_ms(timeout));
  }
  ready_ = n < 0 ? 0 : n;
  return ready_;
}

int EventLoop::dispatch() {
  int n = ready_;
  ready_ = 0;
  for (int i = 0; i < n; ++i) {
    if (events_[i].data.u64 == kWakeTag || events_[i].data.u64 == kTimerTag) {
      uint64_t count;
      const int fd = events_[i].data.u64 == kWakeTag ? wake_fd_ : timer_fd_;
      [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
      continue;  // the timers due run after dispatch (Engine::iterate)
    }
    auto* handler = static_cast<Handler*>(events_[i].data.ptr);
    if (handler != nullptr) handler->on_events(events_[i].events);
  }
  return n;
}

void EventLoop::run_timers(Instant now) {
  while (Timer* t = timers_.pop_due(now)) t->on_timer(now);
}

}  // namespace tou::engine
