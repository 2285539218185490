#include "preload/config.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tou::preload {

namespace {

constexpr size_t kMaxEntries = 64;

struct PortRange {
  int first = 0;
  int last = 0;
};

struct Filter {
  Config config;
  bool ports_set = false;
  bool addrs_set = false;
  std::array<PortRange, kMaxEntries> ports{};
  size_t port_count = 0;
  std::array<in6_addr, kMaxEntries> addrs{};  // IPv4 entries as v4-mapped
  size_t addr_count = 0;
};

Filter filter;
std::once_flag once;

// Calls f(entry) for each comma-separated entry of s (fixed buffer: no allocation).
template <typename F>
void for_each_entry(const char* s, F f) {
  while (*s != '\0') {
    const char* end = std::strchr(s, ',');
    size_t n = end != nullptr ? static_cast<size_t>(end - s) : std::strlen(s);
    char entry[64];
    if (n > 0 && n < sizeof entry) {
      std::memcpy(entry, s, n);
      entry[n] = '\0';
      f(entry);
    }
    s += n;
    if (*s == ',') ++s;
  }
}

in6_addr v4_mapped(in_addr a) {
  in6_addr m{};
  m.s6_addr[10] = 0xff;
  m.s6_addr[11] = 0xff;
  std::memcpy(&m.s6_addr[12], &a, 4);
  return m;
}

void parse_ports(const char* s) {
  filter.ports_set = true;
  for_each_entry(s, [](const char* e) {
    char* end = nullptr;
    long first = std::strtol(e, &end, 10);
    long last = first;
    if (*end == '-') last = std::strtol(end + 1, &end, 10);
    if (*end != '\0' || first < 0 || last > 65535 || first > last) return;
    if (filter.port_count < kMaxEntries) {
      filter.ports[filter.port_count++] = {static_cast<int>(first), static_cast<int>(last)};
    }
  });
}

void parse_addrs(const char* s) {
  filter.addrs_set = true;
  for_each_entry(s, [](const char* e) {
    in6_addr a6{};
    in_addr a4{};
    if (::inet_pton(AF_INET6, e, &a6) == 1) {
    } else if (::inet_pton(AF_INET, e, &a4) == 1) {
      a6 = v4_mapped(a4);
    } else {
      return;
    }
    if (filter.addr_count < kMaxEntries) filter.addrs[filter.addr_count++] = a6;
  });
}

void load() {
  const char* ports = std::getenv("TOU_PORTS");
  const char* addrs = std::getenv("TOU_ADDRS");
  if (ports != nullptr && *ports != '\0') parse_ports(ports);
  if (addrs != nullptr && *addrs != '\0') parse_addrs(addrs);
  filter.config.all_tcp = !filter.ports_set && !filter.addrs_set;
  filter.config.passthrough = ::dlsym(RTLD_DEFAULT, "tou_socket") != nullptr;
  const char* debug = std::getenv("TOU_DEBUG");
  filter.config.debug = debug != nullptr && *debug != '\0' && std::strcmp(debug, "0") != 0;
  const char* stats = std::getenv("TOU_STATS");
  if (stats != nullptr && *stats != '\0') filter.config.stats_path = stats;
}

}  // namespace

const Config& config() {
  std::call_once(once, load);
  return filter.config;
}

bool matches(const sockaddr* addr, socklen_t len) {
  config();
  if (addr == nullptr) return false;
  int port = 0;
  in6_addr ip{};
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    port = ntohs(in->sin_port);
    ip = v4_mapped(in->sin_addr);
  } else if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    port = ntohs(in6->sin6_port);
    ip = in6->sin6_addr;
  } else {
    return false;
  }
  bool port_ok = !filter.ports_set;
  for (size_t i = 0; i < filter.port_count && !port_ok; ++i) {
    port_ok = port >= filter.ports[i].first && port <= filter.ports[i].last;
  }
  bool addr_ok = !filter.addrs_set;
  for (size_t i = 0; i < filter.addr_count && !addr_ok; ++i) {
    addr_ok = std::memcmp(&filter.addrs[i], &ip, sizeof ip) == 0;
  }
  return port_ok && addr_ok;
}

}  // namespace tou::preload
