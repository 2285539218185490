#include "address.hpp"

#include <netdb.h>

#include <charconv>
#include <stdexcept>

namespace tou::tools {

uint16_t parse_port(const std::string& text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value == 0 || value > 65535) return 0;
  return static_cast<uint16_t>(value);
}

std::vector<Address> resolve(const std::string& host, uint16_t port, int family, bool passive) {
  if (host.empty()) {
    return {Address::any(family == AF_INET6 ? AF_INET6 : AF_INET, port)};
  }
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string service = std::to_string(port);
  addrinfo* list = nullptr;
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    throw std::runtime_error(host + ": " + gai_strerror(rc));
  }
  std::vector<Address> out;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.emplace_back(ai->ai_addr, ai->ai_addrlen);
    }
  }
  freeaddrinfo(list);
  if (out.empty()) throw std::runtime_error(host + ": no address of the requested family");
  return out;
}

std::string host_of(const Address& address) {
  std::string s = address.to_string();
  const size_t colon = s.rfind(':');
  s.resize(colon);
  if (s.size() >= 2 && s.front() == '[') s = s.substr(1, s.size() - 2);
  return s;
}

std::string describe(const Address& address) {
  return host_of(address) + " port " + std::to_string(address.port());
}

}  // namespace tou::tools
