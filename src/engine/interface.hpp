// The engine's one interface to the socket API (src/api) and the LD_PRELOAD
// shim (src/preload). They include this header and nothing else of
// src/engine; the engine includes nothing of theirs.
//
// A tou socket is a real file descriptor (bridge.hpp tells how): one end of
// an AF_UNIX socket pair whose other end the engine serves. The socket is
// named by the inode of that descriptor (fstat's st_ino), which every dup(),
// fork() and SCM_RIGHTS copy shares. Two kinds of call:
//  - on any tou socket, by its descriptor, whichever process's engine serves
//    it (read_name, recv_accept, make_unwritable);
//  - on a socket of this process's engine, by its inode: each returns 0 or
//    an errno value, ENOTSOCK when this process's engine does not serve it.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "engine/address.hpp"

struct tou_info;

namespace tou::engine {

// --- Any tou socket, by its descriptor. ---

// What a program-side descriptor is, from the abstract AF_UNIX name its end
// of the pair is bound to: readable in a process that only inherited it.
enum class FdKind : uint8_t { kUnknown = 0, kListener = 1, kConnection = 2 };
struct FdName {
  FdKind kind = FdKind::kUnknown;
  SockAddr local;
  SockAddr remote;   // connections only
  uint32_t pid = 0;  // the process whose engine serves it (option_relay.hpp)
};
// kind kUnknown when the fd is not a named tou socket.
FdName read_name(int fd);

// Receives one connection on a listening fd (blocking as the fd is). 0 or
// errno: EAGAIN, EINTR, EINVAL (not a listener, or it was closed), EMFILE
// (the fd could not be received).
int recv_accept(int listen_fd, bool cloexec, int& fd, SockAddr& local, SockAddr& peer);
// Options of a socket another process's engine serves (a forking server's
// child's): the call goes to that engine (option_relay.hpp) and gets what
// socket_set_option / socket_get_option give there; also EOPNOTSUPP when no
// process `name.pid` serves one any more, ETIMEDOUT when it does not answer.
int remote_set_option(int fd, const FdName& name, int level, int optname, const void* value,
                      socklen_t len);
int remote_get_option(int fd, const FdName& name, int level, int optname, void* value,
                      socklen_t* len);
// Makes the program's end of a listening socket's pair never writable: the
// smallest send buffer, filled (a few KiB the engine never reads).
void make_unwritable(int app_fd);

// --- Sockets of this process's engine, by inode. ---

// A new socket (the engine starts on first use); `fd` is the program's end.
int socket_open(int domain, bool nonblock, bool cloexec, int& fd);
// True when this process's engine serves the socket (it never starts one).
bool serves(ino_t ino);
int socket_bind(ino_t ino, const SockAddr& addr);
int socket_listen(int fd, ino_t ino, int backlog);
int socket_connect(int fd, ino_t ino, const SockAddr& addr, bool nonblocking);
int socket_local_address(ino_t ino, SockAddr& out);
int socket_peer_address(ino_t ino, SockAddr& out);
int socket_set_option(int fd, ino_t ino, int level, int name, const void* value, socklen_t len);
int socket_get_option(int fd, ino_t ino, int level, int name, void* value, socklen_t* len);
// The exact error of a connection that failed (ECONNRESET, ETIMEDOUT, ...),
// reported once, whichever call reports it first; 0 when there is none.
int socket_take_error(int fd, ino_t ino);
// Bytes that arrived after the program's shutdown(SHUT_RD), which the pair
// no longer takes (Engine::read_held); 0 when none.
size_t socket_read_held(ino_t ino, void* buf, size_t len, bool peek);
// A write from the caller's thread past the pair (Engine::send_inline): up
// to kMaxInlineWrite bytes with no flags but MSG_DONTWAIT, MSG_NOSIGNAL and
// MSG_MORE, into an open and idle connection of this process's engine whose
// core takes them all and whose pair holds nothing written before. The bytes sent, or -1
// (errno untouched) when the caller must send through the descriptor as
// before: that path has the exact errors and the waiting.
constexpr size_t kMaxInlineWrite = 64 * 1024;
ssize_t socket_send_inline(int fd, const struct iovec* iov, int count, int flags);
// A blocking read that found the pair empty waits in the caller's thread
// (Engine::receive_inline) for up to 2 ms; the caller then reads the pair.
// errno untouched.
void socket_receive_inline(int fd);
// Whether this thread's last write that socket_send_inline() took went to
// `fd` (and forgets it): only a read that follows such a write may wait in
// the caller's thread (Engine::receive_inline checks it again), so a
// stream's reader skips the extra non-blocking read and the checks.
bool socket_answer_awaited_here(int fd);
bool socket_is_listener(ino_t ino);
// Connecting or connected (or its connection ended).
bool socket_has_connection(ino_t ino);
// SO_LINGER with a timeout: waits until everything written has been
// acknowledged, or the timeout passes. Call before close().
void socket_linger_before_close(ino_t ino);
// The program shuts its read side (SHUT_RD or SHUT_RDWR): a hang-up of its end
// of the pair is then no proof that it closed (FdBridge::app_hung_up).
void socket_note_read_shutdown(ino_t ino);

// The workers (workers.hpp): set_workers() before they start (0, EINVAL or
// EBUSY); worker_count() of those running; worker_of() the index of the one
// that serves the socket, -1 when this process's engine does not.
int set_workers(int n);
int worker_count();
int worker_of(ino_t ino);

// Called with the final TCP_INFO of each connection this process's engine
// served, once, when it ends or at exit if it has not (on an engine thread or
// the exiting one, engine lock held). For the shim's TOU_STATS.
using ConnectionEndHook = void (*)(const tou_info&);
void set_connection_end_hook(ConnectionEndHook hook);

}  // namespace tou::engine
