// TOU_DEBUG=1: one line per decision on stderr, written with a single write(2)
// from a stack buffer (no stdio lock, safe after fork).
#pragma once

namespace tou::preload {

bool debugging();
void debug_log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "127.0.0.1:6379" / "[::1]:6379" into buf (for the log).
const char* format_addr(const void* sockaddr_ptr, unsigned len, char* buf, unsigned size);

}  // namespace tou::preload
