// Counters of what the shim did, for tests and curious users. With
// TOU_STATS=PATH each process writes them to PATH.<pid> as `key value` lines,
// rewritten after every tou connection closes and at exit, so that a process
// killed by a signal still leaves its last figures:
//   tou_sockets       sockets created over tou (socket(), or swapped in at bind/connect)
//   kernel_sockets    TCP sockets left to the kernel (TOU_PORTS / TOU_ADDRS did not match)
//   tou_listens tou_connects tou_accepts
//   bytes_sent bytes_received   payload of the tou connections closed so far (TCP_INFO
//                               at each close; a socket closed through several dup'd
//                               descriptors is counted at each)
#pragma once

#include <cstdint>

namespace tou::preload {

enum class Counter { kTouSockets, kKernelSockets, kListens, kConnects, kAccepts, kCount };

void count(Counter c);
// Adds a closing connection's payload counters (call before it is closed,
// with InsideTou held), then rewrites the stats file.
void account_close(int fd);
// Rewrites the stats file now (no-op without TOU_STATS).
void write_stats();

}  // namespace tou::preload
