// --json: one document, shaped like iperf3's (start, intervals, end), with
// the same numbers as the text report.
#include <cmath>

#include <fmt/format.h>

#include "report.hpp"

namespace tou::perf {

namespace {

std::string number(double v) {
  return std::isfinite(v) ? fmt::format("{}", v) : "0";
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string side_json(const SideSummary& s) {
  return fmt::format(
      "{{\"bytes\": {}, \"seconds\": {}, \"bits_per_second\": {}, \"retransmits\": {}, "
      "\"rtt_us\": {}, \"cwnd\": {}, \"mss\": {}}}",
      s.bytes, number(s.seconds), number(s.bits_per_second()), s.retransmits, s.rtt_us, s.cwnd,
      s.mss);
}

std::string interval_stream_json(const Interval& in, const IntervalStream& s) {
  const double secs = in.end - in.start;
  return fmt::format(
      "{{\"id\": {}, \"start\": {}, \"end\": {}, \"seconds\": {}, \"bytes\": {}, "
      "\"bits_per_second\": {}, \"transactions\": {}, \"retransmits\": {}, \"rtt_us\": {}, "
      "\"cwnd\": {}}}",
      s.id, number(in.start), number(in.end), number(secs), s.bytes,
      number(secs > 0 ? s.bytes * 8.0 / secs : 0), s.transactions, s.retransmits, s.rtt_us, s.cwnd);
}

std::string latency_json(const LatencySummary& l) {
  return fmt::format(
      "{{\"transactions\": {}, \"seconds\": {}, \"per_second\": {}, \"latency_us\": "
      "{{\"min\": {}, \"mean\": {}, \"p50\": {}, \"p90\": {}, \"p99\": {}, \"max\": {}}}}}",
      l.transactions, number(l.seconds), number(l.per_second()), number(l.min_us),
      number(l.mean_us), number(l.p50_us), number(l.p90_us), number(l.p99_us), number(l.max_us));
}

std::string idle_json(const IdleSummary& i) {
  return fmt::format(
      "{{\"wanted\": {}, \"held\": {}, \"open_seconds\": {}, \"fds_before\": {}, "
      "\"fds_after\": {}, \"rss_kib_before\": {}, \"rss_kib_after\": {}, "
      "\"fds_per_connection\": {}, \"kib_per_connection\": {}, \"stopped_by\": {}}}",
      i.wanted, i.held, number(i.open_seconds), i.fds_before, i.fds_after, i.rss_kib_before,
      i.rss_kib_after, number(i.fds_per_connection()), number(i.kib_per_connection()),
      quoted(i.stopped_by));
}

}  // namespace

void print_json(const Options& o, const Report& r) {
  std::string out = "{\n  \"start\": {";
  out += fmt::format(
      "\"tool\": \"tou-perf\", \"transport\": {}, \"mode\": {}, \"remote\": {}, \"port\": {}, "
      "\"streams\": {}, \"reverse\": {}, \"duration\": {}, \"bytes\": {}, "
      "\"len\": {}, \"size\": {}, \"interval\": {}, \"cc\": {}",
      quoted(o.ops().name), quoted(mode_name(o.mode)), quoted(r.remote), o.port, o.streams,
      o.reverse ? "true" : "false", number(o.bytes > 0 ? 0 : o.seconds), o.bytes, o.len, o.size,
      number(o.interval), quoted(o.cc.empty() ? "default" : o.cc));
  out += "},\n  \"intervals\": [";
  for (size_t i = 0; i < r.intervals.size(); ++i) {
    const Interval& in = r.intervals[i];
    const double secs = in.end - in.start;
    out += i == 0 ? "\n    {\"streams\": [" : ",\n    {\"streams\": [";
    for (size_t j = 0; j < in.streams.size(); ++j) {
      out += (j == 0 ? "" : ", ") + interval_stream_json(in, in.streams[j]);
    }
    out += fmt::format(
        "], \"sum\": {{\"start\": {}, \"end\": {}, \"seconds\": {}, \"bytes\": {}, "
        "\"bits_per_second\": {}, \"transactions\": {}, \"retransmits\": {}}}}}",
        number(in.start), number(in.end), number(secs), in.bytes(),
        number(secs > 0 ? in.bytes() * 8.0 / secs : 0), in.transactions(), in.retransmits());
  }
  out += "\n  ],\n  \"end\": {\n    \"streams\": [";
  for (size_t i = 0; i < r.streams.size(); ++i) {
    const StreamSummary& s = r.streams[i];
    out += fmt::format("{}\n      {{\"id\": {}, \"sender\": {}, \"receiver\": {}}}",
                       i == 0 ? "" : ",", s.id, side_json(s.sender), side_json(s.receiver));
  }
  out += fmt::format("\n    ],\n    \"sum_sent\": {},\n    \"sum_received\": {}",
                     side_json(r.sum_sent), side_json(r.sum_received));
  if (r.latency)
    out += fmt::format(",\n    {}: {}", quoted(mode_name(o.mode)), latency_json(*r.latency));
  if (r.idle) out += fmt::format(",\n    \"idle\": {}", idle_json(*r.idle));
  out += ",\n    \"errors\": [";
  for (size_t i = 0; i < r.errors.size(); ++i) out += (i == 0 ? "" : ", ") + quoted(r.errors[i]);
  out += "]\n  }\n}\n";
  fmt::print("{}", out);
  std::fflush(stdout);
}

}  // namespace tou::perf
