#include "stats.hpp"

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

std::string json_object(const DirectionStats& s) {
  return fmt::format(
      "{{\"received\": {}, \"bytes_received\": {}, \"forwarded\": {}, \"bytes_forwarded\": {}, "
      "\"dropped_loss\": {}, \"dropped_queue\": {}, \"duplicated\": {}, \"reordered\": {}, "
      "\"corrupted\": {}, \"send_errors\": {}, \"max_queue\": {}}}",
      s.received, s.bytes_received, s.forwarded, s.bytes_forwarded, s.dropped_loss, s.dropped_queue,
      s.duplicated, s.reordered, s.corrupted, s.send_errors, s.max_queue);
}

}  // namespace

std::string format_counters(const RunSummary& r) {
  std::string out =
      fmt::format("tou-netem: {} mode, seed {}, {:.3f} s\n", r.mode, r.seed, r.elapsed_s);
  out +=
      fmt::format("{:<5} {:>10} {:>13} {:>10} {:>13} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
                  "dir", "received", "bytes_in", "forwarded", "bytes_out", "lost", "queue_drop",
                  "duplicated", "reordered", "corrupted", "send_err");
  out += row("up", r.up);
  out += row("down", r.down);
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
