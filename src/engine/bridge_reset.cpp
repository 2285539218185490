// mark_reset_for_app (bridge.hpp): a reset made visible to a plain read().
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/bridge.hpp"

namespace tou::engine {

namespace {

constexpr int kMaxScannedFds = 65536;  // bounds the /proc/self/fd walk

// True when descriptor `fd` of this process names the socket with inode `ino`
// (read from /proc, which neither duplicates nor touches the descriptor).
bool names_socket(int fd, ino_t ino) {
  char path[64], link[64], want[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(path, link, sizeof link - 1);
  if (n <= 0) return false;
  link[n] = '\0';
  std::snprintf(want, sizeof want, "socket:[%lu]", static_cast<unsigned long>(ino));
  return std::strcmp(link, want) == 0;
}

// Raw system calls: this runs on the engine thread with the engine locked, so
// it must not enter an LD_PRELOAD shim's wrappers (which may call tou_*).
int raw_dup(int fd) {
  return static_cast<int>(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0));
}
void raw_close(int fd) {
  ::syscall(SYS_close, fd);
}

// Writes the byte through a duplicate of `fd`, checked to be the program's end.
bool write_through(int fd, ino_t ino) {
  int dup = raw_dup(fd);
  if (dup < 0) return false;
  struct stat st {};
  bool ours = ::fstat(dup, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
  bool marked = false;
  if (ours) {
    // EAGAIN means our end's queue is full already: unread bytes, as wanted.
    // EPIPE: the engine end no longer reads (FdBridge::refuse_writes).
    static const char kByte = 'r';
    long n = ::syscall(SYS_sendto, dup, &kByte, 1, MSG_DONTWAIT | MSG_NOSIGNAL, nullptr, 0);
    marked = n == 1 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
  // The program closed `fd` and reused its number between the check and the
  // dup: a socket's duplicate is closed, any other file's is left open, since
  // closing it would drop the program's POSIX record locks on that file.
  if (ours || S_ISSOCK(st.st_mode)) raw_close(dup);
  return marked;
}

}  // namespace

bool mark_reset_for_app(ino_t app_ino, int hint_fd) {
  if (app_ino == 0) return false;
  if (hint_fd >= 0 && names_socket(hint_fd, app_ino) && write_through(hint_fd, app_ino)) {
    return true;
  }
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool done = false;
  int scanned = 0;
  while (!done && scanned++ < kMaxScannedFds) {
    dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = std::atoi(e->d_name);
    if (fd == ::dirfd(dir) || fd == hint_fd) continue;
    done = names_socket(fd, app_ino) && write_through(fd, app_ino);
  }
  ::closedir(dir);
  return done;
}

}  // namespace tou::engine
