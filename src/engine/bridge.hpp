// The fd bridge: how a tou socket is a real file descriptor.
//
// A connection's program-side fd is one end of an AF_UNIX SOCK_STREAM socket
// pair; the engine serves the other end. Bytes the program writes are pulled
// into the protocol core's send buffer, bytes the core receives are pushed
// back; the peer's FIN becomes shutdown(SHUT_WR) (the program reads 0), and the
// program's close() reaches the engine as end-of-file plus hang-up.
//
// A listening socket is a pair of the same kind, used as a control channel:
// the engine writes one fixed-size AcceptRecord per ready connection, with the
// connection's fd attached (SCM_RIGHTS); tou_accept() reads one record. The
// engine counts its accept queue from what the kernel still charges it for
// unread records (SIOCOUTQ). The program's end is filled at listen() so that
// it never polls writable, as a kernel listening socket. Any process that
// holds the listening fd can accept.
//
// Every program-side end is also bound to an abstract AF_UNIX name that tells
// what it is (listener or connection) and its addresses, so that a process
// that only inherited the fd (fork, SCM_RIGHTS) can still recognise it and
// answer getsockname()/getpeername().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/time.hpp"
#include "core/connection.hpp"
#include "engine/address.hpp"
#include "engine/interface.hpp"

namespace tou::engine {

// socketpair(AF_UNIX, SOCK_STREAM) with the engine end non-blocking and
// close-on-exec; the program end gets O_NONBLOCK / FD_CLOEXEC as asked.
// Returns 0 or errno.
int make_pair(bool app_nonblock, bool app_cloexec, int& app_fd, int& engine_fd);

// What the program's received bytes may occupy, split between the core's
// receive buffer (which sets the advertised window) and the pair (bytes the
// core has handed on and the program has not read yet).
struct ReceiveSplit {
  size_t core = 0;        // the core's receive buffer limit
  size_t pair_bytes = 0;  // about what the pair holds before it refuses more
};
// For SO_RCVBUF `rcvbuf`: set by the program (`locked`, as Linux's
// SOCK_RCVBUF_LOCK), the core keeps `rcvbuf` (the window the program asked
// for) and the pair a little over half as much again, so that what is
// acknowledged and unread stays within the 2 * SO_RCVBUF a kernel socket may
// hold. Not set,
// the pair is deep (kDeepPair): fewer wake-ups per byte, as Linux's
// autotuning grows an unlocked buffer.
ReceiveSplit receive_split(size_t rcvbuf, bool locked);
// Sizes the engine end's send side to hold about `bytes` (best effort).
void size_pair(int engine_fd, size_t bytes);

// --- Names: what a program-side fd is, readable from any process
// (FdKind, FdName and read_name() are in interface.hpp). ---
// Binds the program-side end to its name (once; later calls fail harmlessly).
void bind_name(int app_fd, FdKind kind, const SockAddr& local, const SockAddr* remote);

// --- Accept records (recv_accept() is in interface.hpp). ---
// Sends one ready connection on the listener's engine end. 0, or errno
// (EAGAIN when the listener's queue is full).
int send_accept(int listener_engine_fd, int conn_app_fd, const SockAddr& local,
                const SockAddr& peer);
// What the kernel still charges `fd` for bytes its peer has not read
// (SIOCOUTQ: buffer sizes, not byte counts); 0 on error.
int unread_by_peer(int fd);

// --- Errors the program's end reads. ---
// Linux's af_unix gives ECONNRESET to the peer of a stream socket that is
// closed while its receive queue holds unread bytes (unix_release_sock). Call
// this just before closing a connection's engine end when the connection was
// reset: it finds the program's end in this process (the descriptor
// `hint_fd` first, then /proc/self/fd; matched by inode) and writes one byte
// from it into the engine end, so that the program's next read() fails with
// ECONNRESET (after the bytes already delivered), then reads end-of-file.
// Returns false when no descriptor of this process holds the program's end
// (another process does, after fork or SCM_RIGHTS): it then reads end-of-file.
bool mark_reset_for_app(ino_t app_ino, int hint_fd);

// --- The engine side of one connection's pair. ---
class FdBridge {
 public:
  FdBridge() = default;
  explicit FdBridge(int fd) : fd_(fd) {}
  ~FdBridge() { close(); }
  FdBridge(const FdBridge&) = delete;
  FdBridge& operator=(const FdBridge&) = delete;

  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  // Takes ownership of a new engine end (closing the old one).
  void reset(int fd) {
    close();
    fd_ = fd;
    peek_off_ = PeekOffset::kUnknown;
  }
  // Gives the fd away (a fresh socket that becomes a listener).
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Forgets the fd without closing it (the fork child closes it itself).
  void abandon() { fd_ = -1; }

  // Edge-triggered readiness (EPOLLIN / EPOLLOUT / EPOLLHUP ...).
  void on_events(uint32_t events);

  // Moves the program's bytes into the core while both sides allow (after
  // discarding `filler` bytes first). Returns true when anything moved or the
  // program's state changed.
  bool pull(Connection& core, Instant now, std::span<uint8_t> scratch);
  // A stream's bytes wait in the pair until the core has this much room (or
  // little left to send): a read per batch, not per ACK.
  static constexpr size_t kPullBatch = 64 * 1024;
  // Moves received bytes to the program (those Connection::delivery_due()
  // lets go, or `all` of them) and forwards the peer's FIN as end-of-file.
  // Returns true when anything moved.
  bool push(Connection& core, Instant now, bool all = false);
  // The connection failed while received bytes wait in the core: a kernel
  // socket lets the program read them, then reports the error. Deepens the
  // pair to take them all at once (up to net.core.wmem_max) and returns true
  // when it did; otherwise the caller calls refuse_writes() and tries again
  // when the pair drains.
  bool deliver_before_error(Connection& core, Instant now);
  // The program's writes fail from now on (EPIPE; tou_send tells the exact
  // error). A reset must be marked (mark_reset_for_app) before this.
  void refuse_writes();
  bool writes_refused() const { return writes_refused_; }
  // Drops what the program wrote and nobody will read (a reset mark that is
  // no longer wanted), so that closing this end reads as end-of-file.
  void discard_input();

  // Bytes to discard before the program's data: written by a non-blocking
  // connect so that the fd is not writable until the handshake completes.
  void set_filler(size_t n) { filler_ = n; }
  size_t filler() const { return filler_; }

  // The program's side, as learnt from reads and hang-ups.
  bool app_write_shut() const { return app_eof_; }          // read() gave 0
  bool app_closed() const { return app_eof_ && app_hup_; }  // no holder can use it any more
  bool app_reset() const { return app_reset_; }             // closed with unread data
  bool app_hung_up() const { return app_hup_; }
  // The program shut its read side (SHUT_RD): received bytes stay in the core
  // (Engine::read_held) until it closes.
  bool app_read_shut() const { return app_read_shut_; }
  bool eof_sent() const { return eof_sent_; }
  // The pair refused bytes (EAGAIN): the engine should ask for EPOLLOUT. It
  // does not otherwise, so that the program's reads do not wake it.
  bool blocked() const { return !writable_; }
  // The program's end may hold bytes not yet pulled.
  bool input_pending() const { return readable_; }

  // Before a write that skips the pair (Engine::send_inline): true when the
  // program's end holds nothing the core does not have and is not shut, so
  // that bytes put into the core now come after everything written before
  // (one MSG_PEEK of a byte). What is held is freed first: this is the
  // program's next write (as pull() frees it for one through the pair).
  bool input_drained();

  // Bytes of a small write already in the core but still in the pair,
  // charged to the program's end. Taking them out at once would wake a
  // program blocked in read() on that end for nothing: af_unix wakes every
  // waiter of a socket whose sent bytes are freed (unix_write_space), and a
  // blocking read() sleeps on that queue with no filter. On a round trip that
  // spurious wake-up preempted the engine between reading the request and
  // sending it. So a small write is peeked (MSG_PEEK at SO_PEEK_OFF) and
  // freed when push() wakes the program anyway (the response), when the
  // next write is pulled, or by the engine once the peer acknowledged it or
  // it is old (release_held, release_held_since).
  size_t held() const { return held_; }
  // Bytes the program wrote that the core does not have yet (what the pair
  // holds, less what is held there).
  size_t unpulled() const;
  // Frees what is held (a program blocked in read() on its end wakes).
  void release_held();
  // Frees what is held if it was peeked at or before `now - age`: the
  // program's end polls writable again. The engine calls it whenever it
  // serves the connection (held bytes are in flight, so an ACK or a timer
  // comes).
  void release_held_since(Instant now, Duration age);

  void close();

 private:
  // Most bytes taken from the pair per read (bounds one turn's work).
  static constexpr size_t kMaxPull = 256 * 1024;
  // Writes up to this size are peeked and held (see held()). Small against
  // the quarter of the program's SO_SNDBUF (212992 by default) below which
  // AF_UNIX polls writable, even at the kernel's true size of the bytes.
  static constexpr size_t kMaxHeld = 8 * 1024;
  // Turns SO_PEEK_OFF on (once); false where the kernel lacks it.
  bool peek_offset_on();
  int fd_ = -1;
  size_t held_ = 0;
  Instant held_at_{};
  bool streaming_ = false;  // the last turn began with a large write: read, do not peek
  enum class PeekOffset : uint8_t { kUnknown, kOn, kUnavailable };
  PeekOffset peek_off_ = PeekOffset::kUnknown;  // SO_PEEK_OFF, set at the first pull
  size_t filler_ = 0;
  bool readable_ = false;
  bool closing_ = false;  // RDHUP/HUP/ERR seen: read until end-of-file
  bool writable_ = true;
  bool app_eof_ = false;
  bool app_hup_ = false;
  bool app_reset_ = false;
  bool app_read_shut_ = false;  // the program shut its read side (or is gone)
  bool eof_sent_ = false;
  bool writes_refused_ = false;
};

}  // namespace tou::engine
