// A blocking read from the program's thread that waits on the wire itself.
//
// Through the pair a response costs two wake-ups before the program has it:
// the worker's I/O thread wakes for the datagram, puts its bytes in the pair,
// and the program's thread wakes for them. The kernel's TCP wakes only the
// reader (the datagram is processed in the softirq). So a blocking tou_recv
// that finds its pair empty on an open connection, after a write that left
// from the caller's thread (inline_send.cpp: a request, or a response, on an
// idle connection), borrows its endpoint for a short while: the I/O thread stops watching the UDP
// socket, the caller polls it (and its pair) itself, and when a datagram arrives it receives and
// serves it here, under the worker's lock, as the I/O thread would have
// (every connection of the endpoint, not only its own): one wake-up, the
// reader's. Then the endpoint goes back to the I/O thread, and the caller
// reads its pair as before; and if the I/O thread served the datagram after
// all (it had it before the socket was taken), the bytes it puts in the pair
// end the wait too.
//
// Bounded (kBorrowSlice) so that an idle connection costs nothing: after it the
// read waits in the pair as it always did. One borrower per endpoint at a
// time; a lock held by the I/O thread (awake, so it delivers at once) or a
// connection that is not open leaves everything as before.
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>

#include <cerrno>
#include <mutex>

#include "engine/demux.hpp"
#include "engine/engine.hpp"
#include "engine/sockets.hpp"

namespace tou::engine {

namespace {

// Long enough for a round trip on a fast path (a loopback or LAN answer comes
// in tens of microseconds), short enough that a program waiting for one that
// comes later does not hold the endpoint away from the worker.
constexpr timespec kBorrowSlice{0, 2'000'000};  // 2 ms

}  // namespace

bool Engine::receive_inline(ino_t ino, int app_fd) {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  Socket* s = find_socket(ino);
  if (s == nullptr || s->dead || !s->core || s->phase != Socket::Phase::kOpen ||
      s->listener != nullptr || s->error != 0 || s->app_done || exiting_ || s->ep == nullptr ||
      !s->bridge.open() || !s->answer_awaited) {
    return false;
  }
  // Only a read that follows a write sent from this side's thread (a request
  // or response on an idle connection) waits so: a reader of a stream would
  // take the socket from the I/O thread while it is busy with that stream.
  s->answer_awaited = false;
  // What arrives is served before this returns: the connection's bytes are
  // in its pair when the caller reads it.
  if (borrow_endpoint(lock, *s->ep, app_fd, kBorrowSlice)) {
    if (Socket* again = find_socket(ino)) ++again->inline_reads;  // s may be gone
  }
  return true;
}

bool Engine::borrow_endpoint(std::unique_lock<std::mutex>& lock, Endpoint& ep, int also_fd,
                             const timespec& slice) {
  if (ep.dead || ep.lent || exiting_) return false;
  const int udp_fd = ep.sock.fd();
  // The I/O thread stops watching the socket (edge-triggered: it is re-armed
  // below, and a datagram that arrived meanwhile raises a new edge then).
  if (loop_.modify(udp_fd, 0, &ep) != 0) return false;
  ep.lent = true;
  hold_endpoint(ep);  // it outlives the wait, whoever closes meanwhile
  lock.unlock();

  pollfd fds[2] = {{udp_fd, POLLIN, 0}, {also_fd, POLLIN, 0}};  // poll skips a negative fd
  // The wait ends with the endpoint given back: cancellation waits for the
  // call that follows (a cancellation point too).
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  // A signal caught meanwhile (EINTR) ends the wait; the caller then waits
  // as a call restarted after the handler (SA_RESTART) would: a handler
  // without SA_RESTART does not interrupt it (README).
  const int ready = ::ppoll(fds, 2, &slice, nullptr);
  pthread_setcancelstate(cancel_state, nullptr);

  lock.lock();
  ep.lent = false;
  bool served = false;
  if (!ep.dead) {
    const short got = ready > 0 ? fds[0].revents : short{0};
    if ((got & (POLLIN | POLLERR)) != 0) {
      now_ = tick();
      on_endpoint_events(ep, (got & POLLIN ? EPOLLIN : 0u) | (got & POLLERR ? EPOLLERR : 0u));
      served = true;
    }
    loop_.modify(udp_fd, kEndpointEvents, &ep);
  }
  release_endpoint(ep);
  // As the I/O thread's turn would after these events (service()).
  service_dirty();
  wake_if_behind();
  return served;
}

}  // namespace tou::engine
