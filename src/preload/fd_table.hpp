// Which descriptors the shim routes through tou: one slot per descriptor
// number, read without a lock on every intercepted call.
//
// A slot holds what the descriptor was when the shim last saw it, with the
// socket's inode: a descriptor closed behind the shim's back (close_range,
// fclose of an fdopen'd socket, the C library's own calls) leaves a stale slot,
// and the inode check (one fstat) keeps a reused number from being mistaken
// for the old socket. A slot survives fork (memory is copied); exec starts an
// empty table, and tou sockets inherited across exec are recognised lazily by
// their name (see adopt in shim.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tou::preload {

enum class FdKind : uint8_t {
  kOther = 0,    // not ours: passed straight to the C library
  kTou = 1,      // a tou socket
  kPending = 2,  // a kernel TCP socket whose fate bind/connect decide (TOU_PORTS, TOU_ADDRS)
};

// The slot's kind, unchecked (one atomic load): kOther for most descriptors.
FdKind peek(int fd);
// The slot's kind once the descriptor's inode matches the recorded one; a
// stale slot is cleared and reads kOther.
FdKind kind_of(int fd);
// Records fd as `kind` (with its inode); false when fd is beyond the table.
bool remember(int fd, FdKind kind);
void forget(int fd);

// Moves one of tou's private descriptors out of the programs' way (to a high
// number, see private_fds.cpp); returns its new number.
int move_high(int fd);

// Calls made from inside tou (its engine and its C API reach the C library
// through the very functions the shim interposes) must go straight through.
// Set on this thread while the shim calls into tou, and for good on the
// threads tou starts (its engine's I/O thread).
bool inside_tou();
bool on_tou_thread();
void become_tou_thread();
class InsideTou {
 public:
  InsideTou();
  ~InsideTou();
  InsideTou(const InsideTou&) = delete;
  InsideTou& operator=(const InsideTou&) = delete;

 private:
  bool was_;
};

}  // namespace tou::preload
