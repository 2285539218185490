// device_mtu_of(): the MTU a SYN cookie's SYN-ACK advertises when the peer's
// path MTU is not known (engine/syn_flood.cpp, cookie_mtu), read from the
// device that holds our address instead of a route lookup per spoofed source.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "engine/udp_socket.hpp"

namespace tou::engine {
namespace {

SockAddr parse(int family, const void* ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, ip, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, ip, 16);
    len = sizeof(sockaddr_in6);
  }
  SockAddr a;
  EXPECT_EQ(SockAddr::parse(reinterpret_cast<sockaddr*>(&ss), len, a), 0);
  return a;
}

TEST(DeviceMtu, LoopbackAddressesAreOnTheLoopbackDevice) {
  // The route to a loopback peer goes over that same device: the MSS is the
  // same from either (IPv4's route MTU stops at 65535, the device says 65536).
  for (int family : {AF_INET, AF_INET6}) {
    SockAddr lo = SockAddr::loopback(family, 0);
    int mtu = device_mtu_of(lo);
    EXPECT_GT(mtu, 0) << family;
    EXPECT_EQ(mss_for_mtu(family, mtu),
              mss_for_mtu(family, path_mtu_to(SockAddr::loopback(family, 9))))
        << family;
  }
}

TEST(DeviceMtu, AnAddressNoDeviceHoldsHasNone) {
  const uint8_t test_net[4] = {192, 0, 2, 1};  // RFC 5737 TEST-NET-1
  EXPECT_EQ(device_mtu_of(parse(AF_INET, test_net)), 0);
  const uint8_t doc6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                            0,    0,    0,    0,    0, 0, 0, 1};  // RFC 3849
  EXPECT_EQ(device_mtu_of(parse(AF_INET6, doc6)), 0);
}

}  // namespace
}  // namespace tou::engine
