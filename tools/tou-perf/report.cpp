#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <fmt/format.h>

namespace tou::perf {

uint64_t Interval::bytes() const {
  uint64_t n = 0;
  for (const auto& s : streams) n += s.bytes;
  return n;
}
uint64_t Interval::transactions() const {
  uint64_t n = 0;
  for (const auto& s : streams) n += s.transactions;
  return n;
}
uint64_t Interval::retransmits() const {
  uint64_t n = 0;
  for (const auto& s : streams) n += s.retransmits;
  return n;
}

void add_totals(Report& r) {
  r.sum_sent = {};
  r.sum_received = {};
  for (const StreamSummary& s : r.streams) {
    for (auto [side, sum] : {std::pair{&s.sender, &r.sum_sent}, {&s.receiver, &r.sum_received}}) {
      sum->bytes += side->bytes;
      sum->seconds = std::max(sum->seconds, side->seconds);
      sum->retransmits += side->retransmits;
      sum->cwnd += side->cwnd;
      sum->rtt_us = std::max(sum->rtt_us, side->rtt_us);
    }
  }
}

LatencySummary summarize_latencies(std::vector<uint64_t>& ns, uint64_t transactions,
                                   double seconds) {
  LatencySummary l;
  l.transactions = transactions;
  l.seconds = seconds;
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  // Nearest rank: the smallest sample with at least p% of them at or below it.
  auto at = [&](double p) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(ns.size())));
    return static_cast<double>(ns[std::clamp<size_t>(rank, 1, ns.size()) - 1]) / 1000;
  };
  l.min_us = static_cast<double>(ns.front()) / 1000;
  l.max_us = static_cast<double>(ns.back()) / 1000;
  l.mean_us = std::accumulate(ns.begin(), ns.end(), 0.0) / static_cast<double>(ns.size()) / 1000;
  l.p50_us = at(50);
  l.p90_us = at(90);
  l.p99_us = at(99);
  return l;
}

double IdleSummary::fds_per_connection() const {
  return held > 0 ? static_cast<double>(fds_after - fds_before) / static_cast<double>(held) : 0;
}
double IdleSummary::kib_per_connection() const {
  return held > 0 ? static_cast<double>(rss_kib_after - rss_kib_before) / static_cast<double>(held)
                  : 0;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kBulk:
      return "bulk";
    case Mode::kRr:
      return "rr";
    case Mode::kCrr:
      return "crr";
    case Mode::kConnect:
      return "connect";
    case Mode::kIdle:
      return "idle";
  }
  return "?";
}

std::string format_bytes(double bytes) {
  const char* units[] = {"Bytes", "KBytes", "MBytes", "GBytes", "TBytes"};
  int i = 0;
  while (bytes >= 1024 * 0.995 && i < 4) {
    bytes /= 1024;
    ++i;
  }
  return i == 0 ? fmt::format("{:.0f} {}", bytes, units[i])
                : fmt::format("{:.{}f} {}", bytes, bytes < 99.95 ? 2 : 1, units[i]);
}

std::string format_bits(double bps) {
  const char* units[] = {"bits/sec", "Kbits/sec", "Mbits/sec", "Gbits/sec", "Tbits/sec"};
  int i = 0;
  while (bps >= 1000 * 0.995 && i < 4) {
    bps /= 1000;
    ++i;
  }
  return fmt::format("{:.{}f} {}", bps, bps < 99.95 ? 2 : 1, units[i]);
}

namespace {

std::string id_label(uint32_t id) {
  return fmt::format("[{:>3}]", id + 1);
}
std::string span(double start, double end) {
  return fmt::format("{:6.2f}-{:<6.2f} sec", start, end);
}

}  // namespace

void print_start(const Options& o, const std::string& remote) {
  fmt::print("Connecting to host {}, port {} ({}{}{})\n", remote, o.port, o.ops().name,
             o.cc.empty() ? "" : ", " + o.cc, o.reverse ? ", reverse: the server sends" : "");
  if (o.interval <= 0) {
    // No interval lines to head.
  } else if (o.mode == Mode::kBulk) {
    fmt::print("[ ID] Interval           Transfer     Bitrate         Retr  Cwnd          RTT\n");
  } else {
    fmt::print("[ ID] Interval           Transactions   Rate              RTT\n");
  }
  std::fflush(stdout);
}

void print_interval(const Options& o, const Interval& in) {
  const double secs = in.end - in.start;
  auto line = [&](const std::string& label, uint64_t bytes, uint64_t transactions,
                  const IntervalStream* s) {
    if (o.mode == Mode::kBulk) {
      std::string tail;
      if (s != nullptr) {
        tail = fmt::format(" {:4}  {:>12}  {:6.2f} ms", s->retransmits, format_bytes(s->cwnd),
                           s->rtt_us / 1000.0);
      } else {
        tail = fmt::format(" {:4}", in.retransmits());
      }
      fmt::print("{} {}  {:>12}  {:>15}{}\n", label, span(in.start, in.end),
                 format_bytes(static_cast<double>(bytes)),
                 format_bits(secs > 0 ? bytes * 8.0 / secs : 0), tail);
    } else {
      fmt::print("{} {}  {:>12}   {:>10.1f} trans/s{}\n", label, span(in.start, in.end),
                 transactions, secs > 0 ? transactions / secs : 0,
                 s != nullptr ? fmt::format("  {:6.3f} ms", s->rtt_us / 1000.0) : "");
    }
  };
  for (const IntervalStream& s : in.streams) line(id_label(s.id), s.bytes, s.transactions, &s);
  if (in.streams.size() > 1) {
    line("[SUM]", in.bytes(), in.transactions(), nullptr);
    fmt::print("- - - - - - - - - - - - - - - - - - - - - - - - -\n");
  }
  std::fflush(stdout);
}

void print_summary(const Options& o, const Report& r) {
  // (With several streams each interval already ends with the separator.)
  if (r.intervals.empty() || r.intervals.back().streams.size() <= 1) {
    fmt::print("- - - - - - - - - - - - - - - - - - - - - - - - -\n");
  }
  fmt::print("[ ID] Interval           Transfer     Bitrate         Retr\n");
  auto side = [&](const std::string& label, const SideSummary& s, bool sender) {
    fmt::print("{} {}  {:>12}  {:>15} {:>4}  {}\n", label, span(0, s.seconds),
               format_bytes(static_cast<double>(s.bytes)), format_bits(s.bits_per_second()),
               sender ? fmt::format("{}", s.retransmits) : "", sender ? "sender" : "receiver");
  };
  for (const StreamSummary& s : r.streams) {
    side(id_label(s.id), s.sender, true);
    side(id_label(s.id), s.receiver, false);
  }
  if (r.streams.size() > 1) {
    side("[SUM]", r.sum_sent, true);
    side("[SUM]", r.sum_received, false);
  }
  if (r.latency) {
    const LatencySummary& l = *r.latency;
    const char* what = o.mode == Mode::kRr ? "transactions" : "connections";
    fmt::print("{}: {} {} in {:.2f} s: {:.1f} {}/s ({} stream(s){})\n", mode_name(o.mode),
               l.transactions, what, l.seconds, l.per_second(), what, o.streams,
               o.mode == Mode::kConnect ? "" : fmt::format(", {}-byte messages", o.size));
    fmt::print(
        "latency: min {:.1f} us, mean {:.1f} us, p50 {:.1f} us, p90 {:.1f} us, "
        "p99 {:.1f} us, max {:.1f} us\n",
        l.min_us, l.mean_us, l.p50_us, l.p90_us, l.p99_us, l.max_us);
  }
  if (r.idle) {
    const IdleSummary& i = *r.idle;
    fmt::print("idle: {} of {} connections held (opened in {:.2f} s){}\n", i.held, i.wanted,
               i.open_seconds, i.stopped_by.empty() ? "" : "; stopped by " + i.stopped_by);
    fmt::print(
        "this process: {} -> {} fds ({:.2f} per connection), {} -> {} KiB RSS "
        "({:.2f} KiB per connection)\n",
        i.fds_before, i.fds_after, i.fds_per_connection(), i.rss_kib_before, i.rss_kib_after,
        i.kib_per_connection());
  }
  for (const std::string& e : r.errors) fmt::print(stderr, "tou-perf: {}\n", e);
  fmt::print("\n{} done.\n", o.ops().name == "tou" ? "tou-perf (tou)" : "tou-perf (kernel TCP)");
}

void print_server_summary(const Header& h, const std::vector<StreamResult>& results,
                          std::mutex& print_mu) {
  uint64_t bytes = 0, us = 0, retransmits = 0;
  for (const StreamResult& r : results) {
    bytes += r.bytes;
    us = std::max(us, r.duration_us);
    retransmits += r.retransmits;
  }
  std::lock_guard lock(print_mu);
  if (per_connection_mode(h.mode)) {
    fmt::print("{} session ended\n", mode_name(h.mode));
    std::fflush(stdout);
    return;
  }
  const double secs = static_cast<double>(us) / 1e6;
  fmt::print("[SUM] {}  {:>12}  {:>15} {:>4}  {} ({} stream(s))\n", span(0, secs),
             format_bytes(static_cast<double>(bytes)), format_bits(secs > 0 ? bytes * 8 / secs : 0),
             retransmits, h.reverse() ? "sender" : "receiver", results.size());
  std::fflush(stdout);
}

}  // namespace tou::perf
