// The option relay: socket options for a tou socket set (or read) in another
// process than the one whose engine serves it, typically a forking server's
// child (sshd sets SO_KEEPALIVE on the accepted connection in its child).
//
// The engine's process keeps an AF_UNIX datagram socket bound to an abstract
// name made from its pid (the pid that every program-side fd's name carries,
// bridge.hpp). A request names the option and carries the socket itself
// (SCM_RIGHTS): holding the descriptor is the permission, and the engine
// finds the socket by its inode as for its own calls. A thread of the
// engine's process answers with the errno (and, for a read, the value).
//
// The name is bound just before the process's first fork() (pthread_atfork)
// and the thread starts right after it in the parent, so that a child's first
// request already finds the name; a process that never forks has neither.
//
//   int err = relay_option(fd, name.pid, RelayOp::kSet, SOL_SOCKET, SO_KEEPALIVE, &one,
//                          sizeof one, nullptr, nullptr);
// (src/api reaches it through interface.hpp: remote_set_option, remote_get_option.)
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace tou::engine {

// Installs the fork hooks that start the relay (once per process; called
// when the process's engine starts).
void install_option_relay();

enum class RelayOp : uint32_t { kSet = 1, kGet = 2 };

// How long a request waits for the engine's answer.
inline constexpr int kRelayTimeoutMs = 2000;

// Sets (kSet: in/in_len) or reads (kGet: out/out_len) option level/name of
// tou socket `fd` through the relay of process `pid`. Returns 0 or errno:
// the engine's own answer, EOPNOTSUPP when no process `pid` serves a relay
// (it has exited, or lives in another network namespace), ETIMEDOUT when it
// does not answer within kRelayTimeoutMs, EINVAL for a value over 256 bytes.
int relay_option(int fd, uint32_t pid, RelayOp op, int level, int name, const void* in,
                 socklen_t in_len, void* out, socklen_t* out_len);

}  // namespace tou::engine
