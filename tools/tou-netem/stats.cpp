#include "stats.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace tou::netem {
namespace {

std::string row(const char* name, const DirectionStats& s) {
  return fmt::format(
      "{:<5} {:>10} {:>13} {:>10} {:>13} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", name,
      s.received, s.bytes_received, s.forwarded, s.bytes_forwarded, s.dropped_loss, s.dropped_queue,
      s.duplicated, s.reordered, s.corrupted, s.send_errors);
}

std::string schedule_row(const char* name, const DirectionStats& s) {
  return fmt::format(
      "{:<5} scheduled rate {:.3f} Mbit/s, delay drawn min/mean/max {:.3f}/{:.3f}/{:.3f} ms, "
      "released up to {:.3f} ms late\n",
      name, s.scheduled_mbps(), s.delay_drawn.min_us / 1e3, s.delay_drawn.mean_us() / 1e3,
      s.delay_drawn.max_us / 1e3, static_cast<double>(s.late_max_us) / 1e3);
}

std::string json_object(const DirectionStats& s) {
  return fmt::format(
      "{{\"received\": {}, \"bytes_received\": {}, \"forwarded\": {}, \"bytes_forwarded\": {}, "
      "\"dropped_loss\": {}, \"dropped_queue\": {}, \"duplicated\": {}, \"reordered\": {}, "
      "\"corrupted\": {}, \"send_errors\": {}, \"max_queue\": {}, "
      "\"rate_limited_bytes\": {}, \"rate_limited_us\": {}, \"scheduled_mbps\": {:.6f}, "
      "\"delay_drawn_min_us\": {}, \"delay_drawn_mean_us\": {:.3f}, \"delay_drawn_max_us\": {}, "
      "\"late_max_us\": {}}}",
      s.received, s.bytes_received, s.forwarded, s.bytes_forwarded, s.dropped_loss, s.dropped_queue,
      s.duplicated, s.reordered, s.corrupted, s.send_errors, s.max_queue, s.rate_limited_bytes,
      s.rate_limited_us, s.scheduled_mbps(), s.delay_drawn.min_us, s.delay_drawn.mean_us(),
      s.delay_drawn.max_us, s.late_max_us);
}

}  // namespace

void MicrosSummary::add(int64_t us) {
  min_us = count == 0 ? us : std::min(min_us, us);
  max_us = count == 0 ? us : std::max(max_us, us);
  sum_us += us;
  ++count;
}

std::string format_counters(const RunSummary& r) {
  std::string out =
      fmt::format("tou-netem: {} mode, seed {}, {:.3f} s\n", r.mode, r.seed, r.elapsed_s);
  out +=
      fmt::format("{:<5} {:>10} {:>13} {:>10} {:>13} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
                  "dir", "received", "bytes_in", "forwarded", "bytes_out", "lost", "queue_drop",
                  "duplicated", "reordered", "corrupted", "send_err");
  out += row("up", r.up);
  out += row("down", r.down);
  out += schedule_row("up", r.up);
  out += schedule_row("down", r.down);
  return out;
}

std::string to_json(const RunSummary& r) {
  return fmt::format(
      "{{\"mode\": \"{}\", \"seed\": {}, \"elapsed_s\": {:.6f},\n \"up\": {},\n "
      "\"down\": {}}}\n",
      r.mode, r.seed, r.elapsed_s, json_object(r.up), json_object(r.down));
}

bool write_json_file(const std::string& path, const RunSummary& summary) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const std::string text = to_json(summary);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace tou::netem
