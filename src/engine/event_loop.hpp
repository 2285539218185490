// The engine's event loop: epoll over its file descriptors (UDP sockets, the
// engine ends of the socket pairs, a wake-up eventfd), and the timer heap that
// holds every connection's next deadline. now() is the only place in tou that
// reads a clock (CLOCK_MONOTONIC); the protocol core gets time from here.
//
//   EventLoop loop;
//   loop.init();
//   loop.add(fd, EPOLLIN | EPOLLET, &handler);
//   for (;;) { lock.unlock(); loop.wait(deadline); lock.lock(); loop.dispatch(); ... }
#pragma once

#include <sys/epoll.h>
#include <time.h>

#include <array>
#include <cstdint>
#include <optional>

#include "base/time.hpp"
#include "engine/timer_heap.hpp"

namespace tou::engine {

// What wait() asks epoll_pwait2 for: the time left until `deadline`, to
// the microsecond (a pacing or delayed-ACK deadline 250 us away is waited
// 250 us, not a millisecond), zero when it has passed.
timespec wait_timeout(Instant deadline, Instant now);
// The same for epoll_wait (kernels before 5.11): milliseconds, rounded up,
// so that a timer never runs before its deadline.
int wait_timeout_ms(const timespec& timeout);

class EventLoop {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_events(uint32_t events) = 0;
  };

  EventLoop() = default;
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Creates the epoll instance and the wake-up eventfd; 0 or errno.
  int init();

  // Handlers must outlive the dispatch() that may name them: the engine frees
  // objects only between iterations.
  int add(int fd, uint32_t events, Handler* handler);
  int modify(int fd, uint32_t events, Handler* handler);
  void remove(int fd);

  // Interrupts wait() from any thread.
  void wake();
  // Wakes wait() at `when` (a timerfd in the set), from any thread: an
  // earlier deadline set while the loop sleeps costs a system call here, not
  // a wake-up of the loop's thread now and another at the deadline.
  void wake_at(Instant when);
  // Sleeps the calling thread until `when` (now()'s clock), watching nothing.
  static void sleep_until(Instant when);

  // CLOCK_MONOTONIC in microseconds.
  static Instant now();

  // Blocks until an event arrives or `deadline` passes (nullopt: no limit; a
  // past deadline polls without blocking). Safe to call without the engine
  // lock; the events are kept for dispatch(). Returns how many arrived.
  int wait(std::optional<Instant> deadline);
  // Hands the events of the last wait() to their handlers; returns how many.
  int dispatch();

  TimerHeap& timers() { return timers_; }
  // Runs every timer due at `now`.
  void run_timers(Instant now);

  // For the child side of fork(): the descriptors to close.
  int epoll_fd() const { return epoll_fd_; }
  int wake_fd() const { return wake_fd_; }
  int timer_fd() const { return timer_fd_; }
  // Forgets the descriptors without closing them (the fork child closes them itself).
  void abandon() { epoll_fd_ = wake_fd_ = timer_fd_ = -1; }

 private:
  static constexpr int kMaxEvents = 256;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  int ready_ = 0;
  std::array<epoll_event, kMaxEvents> events_{};
  TimerHeap timers_;
};

}  // namespace tou::engine
