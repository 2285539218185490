#include "preload/log.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "preload/config.hpp"

namespace tou::preload {

bool debugging() {
  return config().debug;
}

void debug_log(const char* fmt, ...) {
  if (!debugging()) return;
  int saved = errno;
  char line[512];
  int n = std::snprintf(line, sizeof line, "tou-preload[%d]: ", static_cast<int>(::getpid()));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m < 0 ? 0 : m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, line, len);
  errno = saved;
}

const char* format_addr(const void* sockaddr_ptr, unsigned len, char* buf, unsigned size) {
  const auto* sa = static_cast<const sockaddr*>(sockaddr_ptr);
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa != nullptr && sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = static_cast<const sockaddr_in*>(sockaddr_ptr);
    ::inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    std::snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
  } else if (sa != nullptr && sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = static_cast<const sockaddr_in6*>(sockaddr_ptr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    std::snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
  } else {
    std::snprintf(buf, size, "(family %d)", sa != nullptr ? sa->sa_family : -1);
  }
  return buf;
}

}  // namespace tou::preload
