// Counters of what the shim did, for tests and curious users. With
// TOU_STATS=PATH each process writes them to PATH.<pid> as `key value` lines,
// rewritten after every tou connection ends and at exit, so that a process
// killed by a signal still leaves its last figures. Each process counts what
// it did itself (a fork child starts from zero), so the sum over the files is
// the total:
//   tou_sockets       sockets created over tou (socket(), or swapped in at bind/connect)
//   kernel_sockets    TCP sockets left to the kernel (TOU_PORTS / TOU_ADDRS did not match)
//   tou_listens tou_connects tou_accepts
//   bytes_sent bytes_received   payload of the tou connections this process's
//                               engine served, each counted once as it ended (or
//                               at exit if still open): a forking server's
//                               connections count in the parent, whose engine
//                               carried them for its children
#pragma once

#include <cstdint>

namespace tou::preload {

enum class Counter {
  kTouSockets,
  kKernelSockets,
  kListens,
  kConnects,
  kAccepts,
  kExactErrors,  // a send's EPIPE from the pair reported as the connection's error
  kCount
};

void count(Counter c);
// Starts counting connections' payload (with TOU_STATS; count(kTouSockets) calls it).
void start_stats();
// Rewrites the stats file now (no-op without TOU_STATS).
void write_stats();

}  // namespace tou::preload
