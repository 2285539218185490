// Opening a connection with a deadline, for tou and the kernel's TCP alike.
#pragma once

#include <functional>

#include "address.hpp"
#include "socket_ops.hpp"

namespace tou::tools {

// Opens a socket of the address's family, calls `configure(fd)` (options that
// must precede connect), connects within timeout_s (<= 0: the stack's own SYN
// retries bound it) and returns the blocking, connected descriptor. On failure
// returns -1 with `error` set (ECONNREFUSED, ETIMEDOUT, ...).
int open_connection(const SocketOps& ops, const Address& address, double timeout_s,
                    const std::function<void(int fd)>& configure, int& error);

}  // namespace tou::tools
