// The engine's own descriptors (epoll, eventfd, UDP sockets, its ends of the
// socket pairs) live above the numbers a program uses, as programs expect of
// a kernel's TCP, which takes none: the program's socket() still returns the
// lowest free number, and select() users (FD_SETSIZE 1024) keep theirs.
#pragma once

namespace tou::engine {

// The lowest number for the engine's descriptors: 1024 (above select()'s
// range) when the soft RLIMIT_NOFILE leaves room for as many again, else half
// the limit.
int high_fd_base();

// Moves `fd` to the lowest free number at or above high_fd_base(), close-on-
// exec, and closes the old one. Returns the new descriptor, or `fd` itself
// when no higher number is free (or fd < 0).
int move_high(int fd);

}  // namespace tou::engine
