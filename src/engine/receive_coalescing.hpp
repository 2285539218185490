// Receive coalescing: a worker's interrupt moderation.
//
// On a path of moderate rate a stream's datagrams arrive one at a time (a
// 100 Mbit/s link spaces 1500-byte packets 120 us apart), and a worker that
// waits for events wakes for each of them: on a 20 ms, 100 Mbit/s link the
// receiving worker woke ~8,500 times a second and the sending one ~4,800
// (for each ACK), about 21 us of CPU per wake-up, where the kernel's TCP
// serves the same segments in its softirq without waking anyone. A NIC
// solves the same problem by holding its interrupt (interrupt moderation,
// Linux's NAPI polls while packets keep coming). So does this: when a turn
// served only datagrams of bulk transfers (Connection::coalesce_window()
// nonzero: full-sized segments arriving, or ACKs of a large flight) and the
// previous turn with datagrams was less than that window ago, the worker
// sleeps for the window (never past its next timer), then takes what came in
// one batch, and keeps polling so while every poll finds such datagrams.
// A turn with anything else (a handshake, a request or response, an
// unknown address), a poll that finds nothing, or a batch large enough that
// holding longer would only fill the socket's buffer, ends it.
//
// The cost is bounded by the window: a sixteenth of the round trip, at most
// 1 ms, none on loopback or a LAN. Another connection of the same worker
// may wait as long while a stream holds it, as behind a NIC's moderation.
// TOU_RECEIVE_COALESCE=0 in the environment turns it off.
//
// Sans-I/O: the worker reports each datagram's window and asks, after each
// turn, whether to sleep and until when.
#pragma once

#include <cstddef>
#include <optional>

#include "base/time.hpp"

namespace tou::engine {

class ReceiveCoalescing {
 public:
  // A turn that took this many datagrams has no reason to wait for more:
  // recvmmsg()'s batch (RecvBatch::kSlots, asserted in demux.cpp) was full.
  static constexpr size_t kEnoughDatagrams = 32;

  // One datagram served in this turn, with its connection's
  // Connection::coalesce_window() (zero for anything that is not a stream's).
  void on_datagram(Duration window) {
    ++datagrams_;
    if (window < window_) window_ = window;
  }

  // This turn follows a sleep: its datagrams came together. The worker
  // acknowledges them as they would have come, every second full-sized
  // segment (RFC 9293 3.8.6.3), not once for the batch: a sender's slow
  // start grows by what each ACK covers up to two segments (RFC 3465 2.2,
  // L = 2), and one ACK for eight would slow it to a quarter.
  bool polling() const { return polling_; }

  // Never sleeps from now on (TOU_RECEIVE_COALESCE=0).
  void disable() { enabled_ = false; }

  // The turn that began at `now` is served: when the worker should look for
  // events again (it sleeps until then), or nullopt to wait for them as usual.
  // `next_timer` is its earliest timer, which a sleep never passes; a worker
  // with `work_waiting` (more to do at once) never sleeps.
  std::optional<Instant> end_turn(Instant now, std::optional<Instant> next_timer,
                                  bool work_waiting = false);

 private:
  static constexpr Duration kNoWindow = Duration::max();

  size_t datagrams_ = 0;                   // this turn's
  Duration window_ = kNoWindow;            // this turn's smallest window
  std::optional<Instant> last_datagrams_;  // when the previous turn with datagrams began
  bool polling_ = false;                   // the last turn slept: this one is a poll
  bool enabled_ = true;
};

// False when TOU_RECEIVE_COALESCE=0 is in the environment (read once).
bool receive_coalescing_wanted();

}  // namespace tou::engine
