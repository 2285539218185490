// Socket options on tou sockets, as a TCP program expects them.
//
// tou implements the options that change what TCP does (tou.h lists them).
// Others are taken with success and ignored where a TCP stack could just as
// well ignore them, because they only tune what tou does not have (IP_TOS,
// IPV6_TCLASS, SO_PRIORITY, TCP_QUICKACK, TCP_DEFER_ACCEPT, TCP_FASTOPEN,
// TCP_CORK, ...); anything else fails as tou says (ENOPROTOOPT). TCP_INFO is
// answered in Linux's struct tcp_info layout, filled from tou's.
//
// Both must be called with InsideTou held.
#pragma once

#include <sys/socket.h>

namespace tou::preload {

int set_option(int fd, int level, int name, const void* value, socklen_t len);
int get_option(int fd, int level, int name, void* value, socklen_t* len);

}  // namespace tou::preload
