// RFC 9293 3.3.2 connection states.
#pragma once

#include <cstdint>

namespace tou {

enum class TcpState : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};

// The RFC's spelling: "SYN-RECEIVED".
const char* to_string(TcpState state);

// RFC 9293 3.3.2: the synchronized states are ESTABLISHED and after.
constexpr bool is_synchronized(TcpState s) {
  return s != TcpState::kClosed && s != TcpState::kListen && s != TcpState::kSynSent &&
         s != TcpState::kSynReceived;
}

}  // namespace tou
