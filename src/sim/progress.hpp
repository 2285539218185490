// Delivery progress of a simulated transfer, shared by its two endpoints, so
// that the verdict can bound how long a run sat without getting anywhere.
//
// Progress is something the network made happen: an application read bytes or
// EOF, or a datagram moved a connection to another state (the handshake, the
// close handshake). Timers and application calls are not progress: a stall
// ends only when something got through. A connection that reaches CLOSED with
// an error ends a stall without being progress (stall_until), so the stall
// before each side's error is measured from the last real progress. Each
// endpoint also keeps a clock of the peer's acknowledgements (AppEndpoint::
// set_progress): a side's user timeout counts from when its own data stopped
// being acknowledged, whatever the other direction did meanwhile.
//
//   ProgressClock p;
//   p.note(t1);            // bytes read at t1
//   p.stall_until(t2);     // an error at t2: a stall of t2 - t1
//   p.longest();           // t2 - t1
#pragma once

#include "base/time.hpp"

namespace tou::sim {

// A stall: an interval without delivery progress.
struct Stall {
  Instant from = kTimeZero;
  Instant to = kTimeZero;
  Duration length() const { return to - from; }
};

class ProgressClock {
 public:
  // Progress at `now`; times must not decrease.
  void note(Instant now) {
    stall_until(now);
    last_ = now;
  }
  // A stall that ends at `now` without progress (an error, the end of the run).
  Stall stall_until(Instant now) {
    const Stall s{last_, now};
    if (s.length() > longest_.length()) longest_ = s;
    return s;
  }
  Instant last() const { return last_; }
  const Stall& longest() const { return longest_; }

 private:
  Instant last_ = kTimeZero;
  Stall longest_;
};

}  // namespace tou::sim
