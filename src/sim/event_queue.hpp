// A virtual-time event queue: items come out in time order, and items due at
// the same instant come out in the order they were pushed (a sequence number
// breaks ties), so a run never depends on heap internals.
//
//   EventQueue<Packet> q;
//   q.push(t, std::move(p));
//   while (!q.empty() && q.top_time() <= now) handle(q.pop());
#pragma once

#include <cassert>
#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "base/time.hpp"

namespace tou::sim {

template <typename T>
class EventQueue {
 public:
  void push(Instant at, T item) { heap_.push(Entry{at, next_seq_++, std::move(item)}); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Time of the earliest item; requires !empty().
  Instant top_time() const {
    assert(!empty());
    return heap_.top().at;
  }
  // Removes and returns the earliest item; requires !empty().
  T pop() {
    assert(!empty());
    // priority_queue::top() is const; the entry is about to be destroyed anyway.
    T item = std::move(const_cast<Entry&>(heap_.top()).item);
    heap_.pop();
    return item;
  }

 private:
  struct Entry {
    Instant at;
    uint64_t seq;
    T item;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace tou::sim
