// What tou-netem did, per direction, printed when it ends and optionally
// written as JSON (--stats-json) for scripts and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tou::netem {

// Count, minimum, maximum and sum of a series of microsecond values.
struct MicrosSummary {
  uint64_t count = 0;
  int64_t min_us = 0;
  int64_t max_us = 0;
  int64_t sum_us = 0;

  void add(int64_t us);
  double mean_us() const { return count ? static_cast<double>(sum_us) / count : 0.0; }
};

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

  // The schedule (see pipe.hpp), which a loaded machine does not change:
  uint64_t rate_limited_bytes = 0;  // wire bytes of packets that waited for the rate limit
  uint64_t rate_limited_us = 0;     // and the link time they took: their rate is the link's
  MicrosSummary delay_drawn;        // delay + jitter drawn per packet (before FIFO order)
  // How the process kept to it: the most any packet left after its scheduled time.
  uint64_t late_max_us = 0;

  // Megabit/s over the scheduled busy time; 0 when nothing waited.
  double scheduled_mbps() const {
    return rate_limited_us ? static_cast<double>(rate_limited_bytes) * 8 / rate_limited_us : 0.0;
  }
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
