// A write from the program's thread that skips the socket pair.
//
// Through the pair a write costs a wake-up of the worker's I/O thread before
// its bytes reach the wire (program write -> pair -> I/O thread wakes -> core
// -> UDP), where the kernel's TCP transmits in the caller's own system call.
// On a request/response exchange that wake-up is on the path of every
// request and every response. So a write to an open connection with nothing
// unacknowledged, that its core can take whole, goes straight into the core
// and its segments onto the wire from the caller's thread, under the worker's
// lock (as the kernel's TCP runs under the socket's lock): the same turn
// service() is on the I/O thread.
//
// The pair stays the path of everything else, with its exact errors: a
// connection not open or failed, a write side shut (by tou_shutdown or by a
// shutdown() on the descriptor itself), a core without room for the whole
// write (a blocking write then waits in the pair, a non-blocking one gets
// EAGAIN there, within SO_SNDBUF as before), and any write while bytes the
// program wrote earlier are still in the pair (they go first: order is the
// order of the calls, whichever path each took), and any write while the
// worker's lock is taken (most often by its I/O thread, which is awake then
// and reads the pair next).
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

// Copies the iovecs' `total` bytes into the core's free spans (which hold
// at least `total`).
void copy_in(const iovec* iov, int count, const std::array<std::span<uint8_t>, 2>& spans) {
  size_t span = 0, at = 0;
  for (int i = 0; i < count; ++i) {
    const auto* from = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left > 0) {
      if (at == spans[span].size()) {
        ++span;
        at = 0;
      }
      size_t n = std::min(left, spans[span].size() - at);
      std::memcpy(spans[span].data() + at, from, n);
      at += n;
      from += n;
      left -= n;
    }
  }
}

}  // namespace

ssize_t Engine::send_inline(ino_t ino, const iovec* iov, int count, size_t total) {
  // The lock is taken: most often by the I/O thread serving a batch of
  // events, awake then, so it takes the write from the pair at once; waiting
  // here would only delay the caller (and a non-blocking one must not wait).
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return -1;
  Socket* s = find_socket(ino);
  if (s == nullptr || s->dead || !s->core || s->phase != Socket::Phase::kOpen ||
      s->listener != nullptr || s->error != 0 || s->app_done || s->shut_done || exiting_) {
    return -1;
  }
  FdBridge& b = s->bridge;
  if (!b.open() || b.writes_refused() || b.app_write_shut()) return -1;
  Connection& c = *s->core;
  if (c.state() != TcpState::kEstablished && c.state() != TcpState::kCloseWait) return -1;
  // Only onto an idle connection (everything sent before acknowledged): the
  // request or response whose latency is the point. A stream of writes is
  // batched better by the I/O thread from the pair (2 s of 16 KiB writes,
  // one process, loopback: 2.3-4.4 Gbit/s from the caller's thread, 4.4-7.2
  // through the pair).
  if (c.send_queued() != 0) return -1;
  now_ = tick();
  settle_views(*s);  // the bytes below go into the send buffer
  std::array<std::span<uint8_t>, 2> spans = c.send_spans(total);
  if (spans[0].size() + spans[1].size() < total) return -1;
  if (!b.input_drained()) return -1;
  copy_in(iov, count, spans);
  c.send_commit(now_, total);
  ++s->inline_writes;
  s->answer_awaited = true;
  service(*s);
  flush_sends();
  wake_if_behind();
  return static_cast<ssize_t>(total);
}

}  // namespace tou::engine
