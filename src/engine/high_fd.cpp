#include "engine/high_fd.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tou::engine {

namespace {

constexpr long kSelectLimit = 1024;  // FD_SETSIZE

}  // namespace

int high_fd_base() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  // Read each time: servers often raise the soft limit after they start.
  long soft = rl.rlim_cur == RLIM_INFINITY
                  ? kSelectLimit * 2
                  : static_cast<long>(std::min<rlim_t>(rl.rlim_cur, 1 << 30));
  return static_cast<int>(soft >= 2 * kSelectLimit ? kSelectLimit : soft / 2);
}

int move_high(int fd) {
  if (fd < 0) return fd;
  int base = high_fd_base();
  if (fd >= base) return fd;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (high < 0) return fd;  // every higher number is taken: keep this one
  ::close(fd);
  return high;
}

}  // namespace tou::engine
