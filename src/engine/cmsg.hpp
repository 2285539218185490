// One ancillary message (cmsg) in a msghdr, written or found by type: the
// fd bridge passes descriptors (SCM_RIGHTS) and the UDP sockets pass source
// and destination addresses (IP_PKTINFO / IPV6_PKTINFO) with the same code.
#pragma once

#include <sys/socket.h>

#include <cstring>
#include <optional>

namespace tou::engine {

// Room for one control message carrying a T.
template <typename T>
inline constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(T));

// Makes `value` the message's only control message, written into `control`
// (at least kCmsgSpace<T> bytes, suitably aligned for cmsghdr).
// Example: alignas(cmsghdr) uint8_t buf[kCmsgSpace<int>];
//          put_cmsg(msg, buf, SOL_SOCKET, SCM_RIGHTS, fd);
template <typename T>
void put_cmsg(msghdr& msg, void* control, int level, int type, const T& value) {
  std::memset(control, 0, kCmsgSpace<T>);
  msg.msg_control = control;
  msg.msg_controllen = kCmsgSpace<T>;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(sizeof(T));
  std::memcpy(CMSG_DATA(c), &value, sizeof(T));
}

// The value of the first control message of this level and type that holds
// a whole T, after recvmsg(); nullopt when there is none.
template <typename T>
std::optional<T> find_cmsg(msghdr& msg, int level, int type) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == level && c->cmsg_type == type && c->cmsg_len >= CMSG_LEN(sizeof(T))) {
      T value;
      std::memcpy(&value, CMSG_DATA(c), sizeof(T));
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace tou::engine
