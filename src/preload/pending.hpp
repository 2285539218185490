// Late decision under TOU_PORTS / TOU_ADDRS: socket() makes a kernel TCP
// socket (kPending), and only bind() or connect() know the port. When the
// address matches, the kernel socket is swapped for a tou socket on the same
// descriptor number (dup3), with its O_NONBLOCK and FD_CLOEXEC flags and every
// option the program set so far replayed; otherwise it simply stays a kernel
// socket. Kernel-first means options set before the decision get the kernel's
// exact checks and errors.
#pragma once

#include <sys/socket.h>

namespace tou::preload {

// Remembers an option set (successfully) on a pending socket, for the replay.
void record_option(int fd, int level, int name, const void* value, socklen_t len);
// Drops what was recorded for fd (closed, or decided for the kernel).
void drop_pending(int fd);
// Replaces the pending kernel socket at fd with a tou socket. 0 or errno.
int become_tou(int fd);

}  // namespace tou::preload
