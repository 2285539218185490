// The engine's timer structure: an indexed binary min-heap of deadlines. Each
// timer knows its slot, so moving a deadline (every ACK moves the RTO) is one
// O(log n) sift with no allocation and no stale entries.
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <vector>

#include "base/time.hpp"

namespace tou::engine {

class TimerHeap;

// A base of whatever owns a deadline (a connection, a TIME-WAIT entry).
class Timer {
 public:
  static constexpr size_t kNotQueued = static_cast<size_t>(-1);
  virtual ~Timer() = default;
  // Runs when the deadline has passed (the timer is no longer queued).
  virtual void on_timer(Instant now) = 0;
  bool queued() const { return index_ != kNotQueued; }
  Instant deadline() const { return deadline_; }

 private:
  friend class TimerHeap;
  Instant deadline_{};
  size_t index_ = kNotQueued;
};

class TimerHeap {
 public:
  // Inserts the timer, or moves it if it is queued already.
  void schedule(Timer& t, Instant when) {
    if (t.queued()) {
      Instant old = t.deadline_;
      t.deadline_ = when;
      if (when < old) {
        sift_up(t.index_);
      } else if (old < when) {
        sift_down(t.index_);
      }
      return;
    }
    t.deadline_ = when;
    t.index_ = heap_.size();
    heap_.push_back(&t);
    sift_up(t.index_);
  }

  void cancel(Timer& t) {
    if (!t.queued()) return;
    size_t i = t.index_;
    t.index_ = Timer::kNotQueued;
    Timer* last = heap_.back();
    heap_.pop_back();
    if (last == &t) return;
    heap_[i] = last;
    last->index_ = i;
    sift_up(i);
    sift_down(last->index_);
  }

  // The earliest timer due at or before now (removed from the heap), or nullptr.
  Timer* pop_due(Instant now) {
    if (heap_.empty() || now < heap_.front()->deadline_) return nullptr;
    Timer* t = heap_.front();
    cancel(*t);
    return t;
  }

  std::optional<Instant> next() const {
    if (heap_.empty()) return std::nullopt;
    return heap_.front()->deadline_;
  }
  size_t size() const { return heap_.size(); }

 private:
  void place(size_t i, Timer* t) {
    heap_[i] = t;
    t->index_ = i;
  }
  void sift_up(size_t i) {
    Timer* t = heap_[i];
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!(t->deadline_ < heap_[parent]->deadline_)) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, t);
  }
  void sift_down(size_t i) {
    Timer* t = heap_[i];
    const size_t n = heap_.size();
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) ++child;
      if (!(heap_[child]->deadline_ < t->deadline_)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, t);
  }

  std::vector<Timer*> heap_;
};

}  // namespace tou::engine
