// What a client run measured, and its two renderings: iperf3-like text and
// one JSON document.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"
#include "protocol.hpp"

namespace tou::perf {

// One side's view of one stream (or their sum).
struct SideSummary {
  uint64_t bytes = 0;
  double seconds = 0;
  uint64_t retransmits = 0;
  uint64_t rtt_us = 0;
  uint64_t cwnd = 0;
  uint32_t mss = 0;  // the send MSS at the end (the client's side only; 0: not known)
  double bits_per_second() const { return seconds > 0 ? bytes * 8.0 / seconds : 0; }
};

struct StreamSummary {
  uint32_t id = 0;
  SideSummary sender, receiver;
};

struct IntervalStream {
  uint32_t id = 0;
  uint64_t bytes = 0;
  uint64_t transactions = 0;
  uint64_t retransmits = 0;
  uint64_t rtt_us = 0;
  uint64_t cwnd = 0;
};

struct Interval {
  double start = 0, end = 0;  // seconds since the run began
  std::vector<IntervalStream> streams;
  uint64_t bytes() const;
  uint64_t transactions() const;
  uint64_t retransmits() const;
};

// rr, crr and connect: transactions (connections) and their round-trip (connect) times.
struct LatencySummary {
  uint64_t transactions = 0;
  double seconds = 0;
  double min_us = 0, mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  double per_second() const { return seconds > 0 ? transactions / seconds : 0; }
};

// --idle: what holding the connections cost this process (from /proc/self).
struct IdleSummary {
  uint64_t wanted = 0;
  uint64_t held = 0;
  double open_seconds = 0;  // to open them all (or until the first failure)
  int64_t fds_before = 0, fds_after = 0;
  int64_t rss_kib_before = 0, rss_kib_after = 0;
  std::string stopped_by;  // why fewer than `wanted` were opened ("connect: ...")
  double fds_per_connection() const;
  double kib_per_connection() const;
};

struct Report {
  std::string remote;
  std::vector<Interval> intervals;
  std::vector<StreamSummary> streams;
  SideSummary sum_sent, sum_received;
  std::optional<LatencySummary> latency;
  std::optional<IdleSummary> idle;
  std::vector<std::string> errors;
};

// Sums streams into sum_sent / sum_received (seconds: the longest stream's).
void add_totals(Report& report);
// Percentiles over every transaction's latency (sorts the samples).
LatencySummary summarize_latencies(std::vector<uint64_t>& samples_ns, uint64_t transactions,
                                   double seconds);

const char* mode_name(Mode mode);
std::string format_bytes(double bytes);           // "1.10 GBytes" (binary prefixes, as iperf3)
std::string format_bits(double bits_per_second);  // "9.42 Gbits/sec"

void print_start(const Options& o, const std::string& remote);
void print_interval(const Options& o, const Interval& interval);
void print_summary(const Options& o, const Report& report);
void print_json(const Options& o, const Report& report);
// The server's one line per finished session.
void print_server_summary(const Header& h, const std::vector<StreamResult>& results,
                          std::mutex& print_mu);

}  // namespace tou::perf
