// The shim's settings, read from the environment once, on first use.
//
//   TOU_PORTS=6379,8000-8010  only sockets bound to, or connecting to, one of
//                             these ports go over tou (the rest stay kernel TCP)
//   TOU_ADDRS=127.0.0.2,::1   the same by IP address (both lists must match when
//                             both are set); with neither, every TCP socket is tou
//   TOU_DEBUG=1               log each decision to stderr
//   TOU_STATS=PATH            write counters to PATH.<pid> (see stats.hpp)
//
// A program linked with libtou (tou_socket() is visible in the process: the
// shim's own copy of tou is not exported) is left alone.
#pragma once

#include <sys/socket.h>

namespace tou::preload {

struct Config {
  // True when the program is linked with libtou itself: it uses tou where it
  // means to, and the shim stays out of its way (every call passes through).
  bool passthrough = false;
  // True when every TCP socket is tou from socket() on; false when a filter
  // is set and bind/connect decide.
  bool all_tcp = true;
  bool debug = false;
  const char* stats_path = nullptr;  // nullptr: no stats file
};

const Config& config();

// True when a socket bound to (bind) or connecting to (connect) `addr` goes
// over tou under TOU_PORTS / TOU_ADDRS.
bool matches(const sockaddr* addr, socklen_t len);

}  // namespace tou::preload
