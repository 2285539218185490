// What tou-netem did, per direction, printed when it ends and optionally
// written as JSON (--stats-json) for scripts and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tou::netem {

// Every received packet ends in exactly one of forwarded / dropped_* / (still
// queued at the end); duplicates add to forwarded.
struct DirectionStats {
  uint64_t received = 0;  // packets that entered this direction
  uint64_t bytes_received = 0;
  uint64_t forwarded = 0;  // copies delivered (duplicates included)
  uint64_t bytes_forwarded = 0;
  uint64_t dropped_loss = 0;
  uint64_t dropped_queue = 0;  // drop-tail behind the rate limit (or a full delay line)
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t corrupted = 0;
  uint64_t send_errors = 0;  // the delivering send()/write() failed
  size_t max_queue = 0;      // largest rate-limiter backlog seen, in packets
};

struct RunSummary {
  const char* mode = "proxy";
  uint64_t seed = 0;
  double elapsed_s = 0;
  DirectionStats up;    // towards the server (--forward, or namespace A)
  DirectionStats down;  // back towards the client (or namespace B)
};

// A small table, one row per direction.
std::string format_counters(const RunSummary& summary);
std::string to_json(const RunSummary& summary);
// False (with errno set) when the file cannot be written.
bool write_json_file(const std::string& path, const RunSummary& summary);

}  // namespace tou::netem
