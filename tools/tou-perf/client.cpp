// The client: a control connection, then one thread per stream running the
// workload while this thread samples their counters into interval reports
// (and a status line on a terminal); at the end the server's results come
// back over the control connection and both sides are reported.
#include "client.hpp"

#include <unistd.h>

#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "common/address.hpp"
#include "common/connect.hpp"
#include "report.hpp"
#include "workloads.hpp"

namespace tou::perf {

namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(20);
constexpr double kProgressEvery = 0.25;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Samples every stream's counters into intervals until all have ended.
class Sampler {
 public:
  Sampler(const Options& o, std::deque<StreamProgress>& progress)
      : o_(o), progress_(progress), last_(progress.size()) {}

  std::vector<Interval> run() {
    const auto start = Clock::now();
    const bool show_progress = o_.progress && !o_.json && ::isatty(STDOUT_FILENO) != 0;
    const double interval = o_.interval > 0 ? o_.interval : std::numeric_limits<double>::infinity();
    double next_interval = interval, next_status = kProgressEvery, last_end = 0;
    uint64_t status_count = 0;
    for (;;) {
      bool all_done = true;
      for (const StreamProgress& p : progress_) all_done &= p.done.load();
      const double now = since(start);
      if (now >= next_interval || (all_done && o_.interval > 0)) {
        Interval in = sample(last_end, now);
        // The tail after the last full interval, unless it is short and empty.
        const bool empty_tail =
            all_done && now < next_interval && now - last_end < 0.1 * interval && in.bytes() == 0;
        if (empty_tail) break;
        clear_status();
        if (!o_.json) print_interval(o_, in);
        intervals_.push_back(std::move(in));
        last_end = now;
        while (next_interval <= now) next_interval += interval;
      }
      if (all_done) break;
      if (show_progress && now >= next_status) {
        const uint64_t count = total_count();
        print_status(now, static_cast<double>(count - status_count) / kProgressEvery);
        status_count = count;
        next_status += kProgressEvery;
      }
      std::this_thread::sleep_for(kPollEvery);
    }
    clear_status();
    return std::move(intervals_);
  }

 private:
  struct Last {
    uint64_t bytes = 0, transactions = 0, retransmits = 0;
  };

  uint64_t total_count() const {
    uint64_t n = 0;
    for (const StreamProgress& p : progress_) {
      n += o_.mode == Mode::kBulk ? p.bytes.load() : p.transactions.load();
    }
    return n;
  }

  Interval sample(double start, double end) {
    Interval in{.start = start, .end = end, .streams = {}};
    for (size_t i = 0; i < progress_.size(); ++i) {
      const StreamProgress& p = progress_[i];
      const tools::ConnectionStats s = p.latest();
      const Last now{p.bytes.load(), p.transactions.load(), s.retransmits};
      in.streams.push_back(
          {.id = static_cast<uint32_t>(i),
           .bytes = now.bytes - last_[i].bytes,
           .transactions = now.transactions - last_[i].transactions,
           .retransmits = now.retransmits - std::min(now.retransmits, last_[i].retransmits),
           .rtt_us = s.rtt_us,
           .cwnd = s.cwnd_bytes});
      last_[i] = now;
    }
    return in;
  }

  void print_status(double now, double rate) {
    const double total = o_.time_limit();
    if (o_.bytes > 0) {  // -n: how far through the bytes
      fmt::print("\r\033[K[{:5.1f} s, {:3.0f}% of {}] {}", now,
                 100.0 * static_cast<double>(total_count()) / static_cast<double>(o_.bytes),
                 format_bytes(static_cast<double>(o_.bytes)), format_bits(rate * 8));
    } else if (o_.mode == Mode::kBulk) {
      fmt::print("\r\033[K[{:5.1f}/{:.1f} s] {}", now, total, format_bits(rate * 8));
    } else {
      fmt::print("\r\033[K[{:5.1f}/{:.1f} s] {:.0f} {}/s", now, total, rate,
                 o_.mode == Mode::kRr ? "transactions" : "connections");
    }
    std::fflush(stdout);
    status_shown_ = true;
  }
  void clear_status() {
    if (!status_shown_) return;
    fmt::print("\r\033[K");
    std::fflush(stdout);
    status_shown_ = false;
  }

  const Options& o_;
  std::deque<StreamProgress>& progress_;
  std::vector<Last> last_;
  std::vector<Interval> intervals_;
  bool status_shown_ = false;
};

// The server's results for our session; nullopt when they did not come.
std::optional<std::vector<StreamResult>> fetch_results(int control) {
  const uint8_t done = 1;
  if (write_all(control, &done, 1) != 0) return std::nullopt;
  std::vector<uint8_t> bytes(4);
  if (read_all(control, bytes.data(), 4) != 0) return std::nullopt;
  const uint32_t count = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                         (uint32_t{bytes[2]} << 8) | bytes[3];
  if (count > 4096) return std::nullopt;
  bytes.resize(4 + size_t{count} * kResultSize);
  if (read_all(control, bytes.data() + 4, bytes.size() - 4) != 0) return std::nullopt;
  return decode_results(bytes);
}

SideSummary from_client(const StreamOutcome& c) {
  return {.bytes = c.bytes,
          .seconds = c.seconds,
          .retransmits = c.stats.retransmits,
          .rtt_us = c.stats.rtt_us,
          .cwnd = c.stats.cwnd_bytes,
          .mss = c.stats.mss};
}
SideSummary from_server(const StreamResult& r) {
  return {.bytes = r.bytes,
          .seconds = static_cast<double>(r.duration_us) / 1e6,
          .retransmits = r.retransmits,
          .rtt_us = r.rtt_us,
          .cwnd = r.cwnd};
}

}  // namespace

int run_client(const Options& o) {
  const tools::SocketOps& ops = o.ops();
  std::vector<Address> addresses;
  try {
    addresses = tools::resolve(o.host, o.port, o.family, false);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tou-perf: {}\n", e.what());
    return 1;
  }
  int control = -1;
  Address remote;
  for (const Address& a : addresses) {
    int err = 0;
    control = tools::open_connection(
        ops, a, kIoTimeoutSeconds,
        [&](int s) { tools::set_int_option(ops, s, IPPROTO_TCP, TCP_NODELAY, 1); }, err);
    if (control >= 0) {
      remote = a;
      break;
    }
    fmt::print(stderr, "tou-perf: connect to {}: {}\n", tools::describe(a), std::strerror(err));
  }
  if (control < 0) return 1;
  tools::set_io_timeout(ops, control, kIoTimeoutSeconds);

  Header base;
  base.kind = Kind::kControl;
  base.mode = o.mode;
  base.flags = o.reverse ? kReverse : 0;
  base.session = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  base.streams = static_cast<uint32_t>(o.streams);
  base.duration_ms = static_cast<uint64_t>(o.time_limit() * 1000);
  base.bytes = o.bytes;
  base.size = o.mode == Mode::kBulk ? o.len : o.size;
  const auto control_header = encode(base);
  uint8_t status = 1;
  if (write_all(control, control_header.data(), control_header.size()) != 0 ||
      read_all(control, &status, 1) != 0 || status != 0) {
    fmt::print(stderr, "tou-perf: {}: the server did not accept the test\n",
               tools::describe(remote));
    ops.close(control);
    return 1;
  }
  if (!o.json) print_start(o, tools::host_of(remote));

  std::deque<StreamProgress> progress(static_cast<size_t>(o.streams));
  std::vector<StreamOutcome> outcomes(static_cast<size_t>(o.streams));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.streams; ++i) {
    Header h = base;
    h.kind = Kind::kTest;
    h.stream = static_cast<uint32_t>(i);
    // -n is the total: split it, the first streams taking the remainder.
    const uint64_t n = static_cast<uint64_t>(o.streams), idx = static_cast<uint64_t>(i);
    h.bytes = o.bytes == 0 ? 0 : o.bytes / n + (idx < o.bytes % n ? 1 : 0);
    threads.emplace_back([&o, &progress, &outcomes, i, h, remote] {
      const StreamContext ctx{.options = o, .address = remote, .header = h};
      StreamProgress& p = progress[static_cast<size_t>(i)];
      StreamOutcome& out = outcomes[static_cast<size_t>(i)];
      switch (o.mode) {
        case Mode::kBulk:
          run_bulk_client(ctx, p, out);
          break;
        case Mode::kRr:
          run_rr_client(ctx, p, out);
          break;
        case Mode::kCrr:
          run_crr_client(ctx, p, out);
          break;
        case Mode::kConnect:
          run_connect_client(ctx, p, out);
          break;
        case Mode::kIdle:
          run_idle_client(ctx, p, out);
          break;
      }
      p.done.store(true);
    });
  }
  Report report;
  report.remote = tools::host_of(remote);
  report.intervals = Sampler(o, progress).run();
  for (std::thread& t : threads) t.join();

  // The server waits up to 5 s for streams that never reached it.
  tools::set_io_timeout(ops, control, kIoTimeoutSeconds);
  const auto server_results = fetch_results(control);
  ops.close(control);
  if (!server_results) report.errors.push_back("no results from the server");
  std::vector<uint64_t> latencies;
  uint64_t transactions = 0;
  double seconds = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const StreamOutcome& c = outcomes[i];
    StreamSummary s{.id = static_cast<uint32_t>(i), .sender = {}, .receiver = {}};
    const SideSummary mine = from_client(c);
    SideSummary theirs;
    if (per_connection_mode(o.mode)) {
      theirs = mine;  // no per-stream server side: the client saw both ways
    } else if (server_results && i < server_results->size()) {
      theirs = from_server((*server_results)[i]);
    }
    s.sender = o.reverse ? theirs : mine;
    s.receiver = o.reverse ? mine : theirs;
    report.streams.push_back(s);
    if (!c.error.empty()) report.errors.push_back(fmt::format("stream {}: {}", i + 1, c.error));
    latencies.insert(latencies.end(), c.latencies_ns.begin(), c.latencies_ns.end());
    transactions += c.transactions;
    seconds = std::max(seconds, c.seconds);
    if (c.idle) report.idle = c.idle;
  }
  add_totals(report);
  if (o.mode != Mode::kBulk && o.mode != Mode::kIdle)
    report.latency = summarize_latencies(latencies, transactions, seconds);
  if (o.json) {
    print_json(o, report);
  } else {
    print_summary(o, report);
  }
  return report.errors.empty() ? 0 : 1;
}

}  // namespace tou::perf
