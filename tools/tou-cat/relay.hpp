// The body of nc: standard input to the connection, the connection to
// standard output, until both directions have ended.
#pragma once

#include <cstdint>

#include "common/socket_ops.hpp"

namespace tou::tools {

struct RelayResult {
  int error = 0;               // errno of a failed send/recv/write (ECONNRESET, EPIPE, ...)
  bool stdout_failed = false;  // the error was writing to stdout, not the connection
  bool idle_timeout = false;   // nothing moved for the idle timeout
  uint64_t bytes_sent = 0;     // stdin -> connection
  uint64_t bytes_received = 0;
};

// Runs the poll loop on a connected descriptor. End of stdin sends FIN (a
// half-close) and the loop goes on until the peer's FIN; `stdin_done` carries
// the end of stdin over to the next connection (nc -k). idle_timeout_s <= 0:
// none.
RelayResult relay(const SocketOps& ops, int fd, double idle_timeout_s, bool& stdin_done);

}  // namespace tou::tools
