#include "preload/fd_table.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstddef>

namespace tou::preload {

namespace {

// Descriptor numbers beyond this are left to the kernel (socket() falls back).
// The array lives in .bss: pages are only committed for numbers in use.
constexpr int kMaxFd = 1 << 20;
// A slot: inode << 2 | kind. Socket inodes fit easily in 62 bits.
std::atomic<uint64_t> slots[kMaxFd];

__attribute__((tls_model("initial-exec"))) thread_local bool inside = false;
__attribute__((tls_model("initial-exec"))) thread_local bool tou_thread = false;

uint64_t inode_of(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

}  // namespace

FdKind peek(int fd) {
  if (fd < 0 || fd >= kMaxFd) return FdKind::kOther;
  return static_cast<FdKind>(slots[fd].load(std::memory_order_acquire) & 3);
}

FdKind kind_of(int fd) {
  if (fd < 0 || fd >= kMaxFd) return FdKind::kOther;
  uint64_t slot = slots[fd].load(std::memory_order_acquire);
  auto kind = static_cast<FdKind>(slot & 3);
  if (kind == FdKind::kOther) return kind;
  if ((slot >> 2) != inode_of(fd)) {
    slots[fd].compare_exchange_strong(slot, 0, std::memory_order_acq_rel);
    return FdKind::kOther;
  }
  return kind;
}

bool remember(int fd, FdKind kind) {
  if (fd < 0 || fd >= kMaxFd) return false;
  uint64_t slot = kind == FdKind::kOther ? 0 : inode_of(fd) << 2 | static_cast<uint64_t>(kind);
  slots[fd].store(slot, std::memory_order_release);
  return true;
}

void forget(int fd) {
  if (fd >= 0 && fd < kMaxFd) slots[fd].store(0, std::memory_order_release);
}

bool inside_tou() {
  return inside;
}
bool on_tou_thread() {
  return tou_thread;
}
void become_tou_thread() {
  tou_thread = true;
  inside = true;
}

InsideTou::InsideTou() : was_(inside) {
  inside = true;
}
InsideTou::~InsideTou() {
  inside = was_;
}

}  // namespace tou::preload
