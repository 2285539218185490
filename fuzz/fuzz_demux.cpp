// Fuzzes the engine's datagram input path: the demultiplexer and the listener
// (src/engine/demux.cpp), as a peer on the network reaches them. A real tou
// listener on 127.0.0.1 receives the input's datagrams over UDP from four
// source ports, so one input can open half-open connections, complete
// handshakes, hit TIME-WAIT entries and get resets, across several peers.
//
// Input: records of [flags][len_hi][len_lo][len bytes]. Flags, low bits first:
// 2 bits pick the source socket; bit 2 rewrites the destination port to the
// listener's (so the segment reaches past the port check); bit 3 fixes the
// checksum (so it reaches past the parser's checksum check). After sending,
// the harness waits until the listener has counted every datagram, accepts
// and closes whatever completed, and reads the replies.
//
// Invariants: no crash or sanitizer report in the engine thread; the
// listener's counters add up (malformed <= received, half-open and the accept
// queue within the backlog); every datagram sent is counted as received.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "fuzz_check.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace {

constexpr int kBacklog = 8;
constexpr size_t kPeers = 4;
constexpr size_t kMaxRecords = 64;

struct World {
  int listener = -1;
  sockaddr_in addr{};
  std::array<int, kPeers> peers{};

  World() {
    listener = tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FUZZ_CHECK(listener >= 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(tou_bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    FUZZ_CHECK(tou_listen(listener, kBacklog) == 0);
    socklen_t len = sizeof addr;
    FUZZ_CHECK(tou_getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    for (int& fd : peers) {
      fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      FUZZ_CHECK(fd >= 0);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      FUZZ_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
    }
  }

  tou_listener_info info() const {
    tou_listener_info i{};
    socklen_t len = sizeof i;
    FUZZ_CHECK(tou_getsockopt(listener, SOL_TOU, TOU_LISTENER_INFO, &i, &len) == 0);
    return i;
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  const uint64_t before = w.info().datagrams_received;
  uint64_t sent = 0;
  size_t pos = 0;
  std::vector<uint8_t> dgram;
  for (size_t records = 0; records < kMaxRecords && pos + 3 <= size; ++records) {
    const uint8_t flags = data[pos];
    const size_t len = std::min<size_t>((size_t{data[pos + 1]} << 8) | data[pos + 2], 2048);
    pos += 3;
    const size_t take = std::min(len, size - pos);
    dgram.assign(data + pos, data + pos + take);
    pos += take;
    if ((flags & 4) != 0 && dgram.size() >= 4) {
      dgram[2] = static_cast<uint8_t>(ntohs(w.addr.sin_port) >> 8);
      dgram[3] = static_cast<uint8_t>(ntohs(w.addr.sin_port) & 0xff);
    }
    if ((flags & 8) != 0 && dgram.size() >= tou::kTcpHeaderSize) {
      dgram[16] = dgram[17] = 0;
      const uint16_t c = tou::segment_checksum(dgram);
      dgram[16] = static_cast<uint8_t>(c >> 8);
      dgram[17] = static_cast<uint8_t>(c & 0xff);
    }
    const int fd = w.peers[flags & 3];
    if (::sendto(fd, dgram.data(), dgram.size(), 0, reinterpret_cast<const sockaddr*>(&w.addr),
                 sizeof w.addr) == static_cast<ssize_t>(dgram.size())) {
      ++sent;
    }
  }
  // Loopback does not lose datagrams the engine has room for: wait until each
  // was counted (bounded: 2 s).
  tou_listener_info i = w.info();
  for (int tries = 0; tries < 20000 && i.datagrams_received < before + sent; ++tries) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    i = w.info();
  }
  FUZZ_CHECK(i.datagrams_received >= before + sent);
  FUZZ_CHECK(i.malformed <= i.datagrams_received);
  FUZZ_CHECK(i.syn_dropped <= i.syn_received);
  FUZZ_CHECK(i.half_open <= static_cast<uint32_t>(kBacklog));
  FUZZ_CHECK(i.accept_queue <= static_cast<uint32_t>(kBacklog));
  // Take what completed, and read the replies so the peers' buffers stay empty.
  for (;;) {
    const int c = tou_accept4(w.listener, nullptr, nullptr, SOCK_NONBLOCK);
    if (c < 0) break;
    ::close(c);
  }
  std::array<uint8_t, 2048> reply{};
  for (int fd : w.peers) {
    while (::recv(fd, reply.data(), reply.size(), 0) > 0) {
    }
  }
  return 0;
}
