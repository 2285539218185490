// The event loop's timing: a deadline is waited to the microsecond
// (epoll_pwait2), never rounded up to epoll_wait's millisecond unless the
// kernel lacks epoll_pwait2, and a timer never runs before its deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

#include "engine/event_loop.hpp"

namespace tou::engine {
namespace {

TEST(EventLoopTiming, ATimeoutIsExactToTheMicrosecond) {
  Instant now = instant_from_us(5'000'000);
  timespec t = wait_timeout(now + 250us, now);
  EXPECT_EQ(t.tv_sec, 0);
  EXPECT_EQ(t.tv_nsec, 250'000);
  t = wait_timeout(now + 1us, now);
  EXPECT_EQ(t.tv_nsec, 1'000);
  t = wait_timeout(now + 2'000'123us, now);
  EXPECT_EQ(t.tv_sec, 2);
  EXPECT_EQ(t.tv_nsec, 123'000);
}

TEST(EventLoopTiming, APastDeadlinePolls) {
  Instant now = instant_from_us(5'000'000);
  for (Instant d : {now, now - 1us, kTimeZero}) {
    timespec t = wait_timeout(d, now);
    EXPECT_EQ(t.tv_sec, 0);
    EXPECT_EQ(t.tv_nsec, 0);
  }
}

TEST(EventLoopTiming, TheMillisecondFallbackRoundsUp) {
  EXPECT_EQ(wait_timeout_ms({0, 0}), 0);
  EXPECT_EQ(wait_timeout_ms({0, 1'000}), 1);
  EXPECT_EQ(wait_timeout_ms({0, 250'000}), 1);
  EXPECT_EQ(wait_timeout_ms({0, 1'000'000}), 1);
  EXPECT_EQ(wait_timeout_ms({0, 1'001'000}), 2);
  EXPECT_EQ(wait_timeout_ms({3, 0}), 3000);
}

struct Recorder : Timer {
  std::vector<Instant>* fired;
  explicit Recorder(std::vector<Instant>* f) : fired(f) {}
  void on_timer(Instant now) override { fired->push_back(now); }
};

// With the real clock: only lower bounds are asserted (a loaded machine may
// wake the thread late, never early).
TEST(EventLoopTiming, ATimerRunsAtItsDeadlineNotBefore) {
  EventLoop loop;
  ASSERT_EQ(loop.init(), 0);
  std::vector<Instant> fired;
  Recorder early(&fired), late(&fired);
  Instant start = EventLoop::now();
  loop.timers().schedule(late, start + 700us);
  loop.timers().schedule(early, start + 300us);
  for (int i = 0; i < 1000 && fired.size() < 2; ++i) {
    EXPECT_EQ(loop.wait(loop.timers().next()), 0);  // nothing but the timers
    Instant now = EventLoop::now();
    loop.run_timers(now);
  }
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_GE(fired[0], start + 300us);
  EXPECT_GE(fired[1], start + 700us);
  EXPECT_FALSE(loop.timers().next().has_value());
}

// wake_at() ends a wait that had no deadline of its own (a timer armed from
// another thread while the loop sleeps), at that time, not before; the wait
// returns the timerfd's event, which dispatch() consumes.
TEST(EventLoopTiming, WakeAtEndsAWaitWithoutADeadline) {
  EventLoop loop;
  ASSERT_EQ(loop.init(), 0);
  const Instant start = EventLoop::now();
  loop.wake_at(start + 2ms);
  // A 30 s bound only keeps a broken wake_at from hanging the test.
  EXPECT_EQ(loop.wait(start + 30s), 1);
  EXPECT_GE(EventLoop::now(), start + 2ms);
  EXPECT_LT(EventLoop::now(), start + 30s);
  EXPECT_EQ(loop.dispatch(), 1);
  EXPECT_EQ(loop.wait(EventLoop::now()), 0) << "read once, it does not fire again";
}

}  // namespace
}  // namespace tou::engine
