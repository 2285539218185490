// The count of half-open connections that the workers of one SO_REUSEPORT
// group share: admission and pruning are single atomic steps, so that two
// workers at once neither overshoot the backlog nor prune below the mark.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/sockets.hpp"

namespace tou::engine {
namespace {

constexpr int kThreads = 4;
constexpr int kTriesEach = 20000;

TEST(SharedCount, WorkersAtOnceNeverAcquirePastTheLimit) {
  SharedCount count;
  std::atomic<int> acquired{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < kTriesEach; ++i) acquired += count.try_acquire(1000) ? 1 : 0;
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(static_cast<int>(count), 1000);
  EXPECT_EQ(acquired.load(), 1000);
}

TEST(SharedCount, WorkersAtOnceNeverReleaseBelowTheFloor) {
  SharedCount count;
  for (int i = 0; i < 10000; ++i) ++count;
  std::atomic<int> released{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < kTriesEach; ++i) released += count.try_release_above(4000) ? 1 : 0;
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(static_cast<int>(count), 4000);
  EXPECT_EQ(released.load(), 6000);
}

}  // namespace
}  // namespace tou::engine
