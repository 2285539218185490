#include "protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tou::perf {

namespace {

void put(uint8_t*& p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get(const uint8_t*& p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | *p++;
  return v;
}

}  // namespace

std::array<uint8_t, kHeaderSize> encode(const Header& h) {
  std::array<uint8_t, kHeaderSize> out{};
  uint8_t* p = out.data();
  put(p, kMagic, 4);
  put(p, kVersion, 1);
  put(p, static_cast<uint8_t>(h.kind), 1);
  put(p, static_cast<uint8_t>(h.mode), 1);
  put(p, h.flags, 1);
  put(p, h.session, 8);
  put(p, h.stream, 4);
  put(p, h.streams, 4);
  put(p, h.duration_ms, 8);
  put(p, h.bytes, 8);
  put(p, h.size, 4);
  return out;  // 4 bytes reserved
}

std::optional<Header> decode_header(std::span<const uint8_t, kHeaderSize> bytes) {
  const uint8_t* p = bytes.data();
  if (get(p, 4) != kMagic || get(p, 1) != kVersion) return std::nullopt;
  Header h;
  const auto kind = static_cast<uint8_t>(get(p, 1));
  const auto mode = static_cast<uint8_t>(get(p, 1));
  if (kind < 1 || kind > 2 || mode < 1 || mode > static_cast<uint8_t>(Mode::kIdle)) {
    return std::nullopt;
  }
  h.kind = static_cast<Kind>(kind);
  h.mode = static_cast<Mode>(mode);
  h.flags = static_cast<uint8_t>(get(p, 1));
  h.session = get(p, 8);
  h.stream = static_cast<uint32_t>(get(p, 4));
  h.streams = static_cast<uint32_t>(get(p, 4));
  h.duration_ms = get(p, 8);
  h.bytes = get(p, 8);
  h.size = static_cast<uint32_t>(get(p, 4));
  return h;
}

std::vector<uint8_t> encode(const std::vector<StreamResult>& results) {
  std::vector<uint8_t> out(4 + results.size() * kResultSize);
  uint8_t* p = out.data();
  put(p, results.size(), 4);
  for (const StreamResult& r : results) {
    put(p, r.bytes, 8);
    put(p, r.duration_us, 8);
    put(p, r.retransmits, 8);
    put(p, r.rtt_us, 8);
    put(p, r.cwnd, 8);
  }
  return out;
}

std::optional<std::vector<StreamResult>> decode_results(std::span<const uint8_t> bytes) {
  if (bytes.size() < 4) return std::nullopt;
  const uint8_t* p = bytes.data();
  const uint64_t count = get(p, 4);
  if (bytes.size() != 4 + count * kResultSize) return std::nullopt;
  std::vector<StreamResult> out(count);
  for (StreamResult& r : out) {
    r.bytes = get(p, 8);
    r.duration_us = get(p, 8);
    r.retransmits = get(p, 8);
    r.rtt_us = get(p, 8);
    r.cwnd = get(p, 8);
  }
  return out;
}

int write_all(int fd, const void* data, size_t len, SendCall send) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

int read_all(int fd, void* data, size_t len, RecvCall recv) {
  auto* p = static_cast<uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = recv(fd, p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return -1;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace tou::perf
