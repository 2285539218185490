// tou-sim: seeded transfers between two tou::Connection over a simulated,
// impaired link, in virtual time. Run i uses seed N + i; every failing run is
// printed with the command line that reproduces it.
//
//   tou-sim --seed 1 --runs 100 --loss 0.05 --dup 0.01 --reorder 0.05 --corrupt 0.01
//   tou-sim --seed 1 --bytes 20000000 --delay 25 --rate 100 --queue 411 --verbose
//   tou-sim --table          # the README goodput table (every registered controller)
//
// Exit status: 0 when every run passed, 1 when some failed, 2 for a bad command line.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cc/congestion_controller.hpp"
#include "sim/goodput_table.hpp"
#include "sim/transfer.hpp"

namespace {

using tou::Duration;
using tou::sim::CloseMode;
using tou::sim::Expectation;
using tou::sim::Partition;
using tou::sim::TransferOptions;
using tou::sim::TransferResult;

Duration from_ms(double ms) {
  return Duration{static_cast<int64_t>(ms * 1000.0 + 0.5)};
}

// "T1:T2" in milliseconds.
bool parse_partition(const std::string& text, Partition& out) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return false;
  try {
    size_t used1 = 0, used2 = 0;
    const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
    const double t1 = std::stod(a, &used1), t2 = std::stod(b, &used2);
    if (used1 != a.size() || used2 != b.size() || t1 < 0 || t2 < t1) return false;
    out = Partition{tou::kTimeZero + from_ms(t1), tou::kTimeZero + from_ms(t2)};
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int usage_error(const CLI::App& app, const std::string& message) {
  fmt::print(stderr, "tou-sim: {}\n\n{}", message, app.help());
  return 2;
}

// --counters: what each side's loss recovery did, to compare with an ideal sender.
void print_counters(const TransferResult& r) {
  for (const auto& [name, side] :
       {std::pair{"client", &r.client}, std::pair{"server", &r.server}}) {
    const tou::ConnectionStats& st = side->stats;
    fmt::print(
        "  {}: retransmitted {} segments, recoveries {}, rto {}, tlp {}, rack losses {}, "
        "dsacks received {}, undos {} (by timestamp {}), frto spurious {}\n",
        name, st.retransmitted_segments, st.fast_recoveries, st.rto_timeouts, st.tail_loss_probes,
        st.rack_losses, st.dsacks_received, st.spurious_undos, st.spurious_undos_by_timestamp,
        st.frto_spurious_rtos);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tou-sim: seeded tou transfers over a simulated impaired link (virtual time)"};
  uint64_t seed = 0;
  int runs = 1;
  uint64_t bytes = 100000;
  int64_t bytes_back = -1;
  double loss = 0, dup = 0, reorder = 0, corrupt = 0;
  bool burst = false;
  double delay_ms = 10, jitter_ms = 0, reorder_delay_ms = 10, rate = 0;
  size_t queue = 0;
  std::vector<std::string> partitions;
  std::string cc = "cubic", close = "both", expect = "auto";
  double user_timeout_ms = 0;
  double msl_ms = static_cast<double>(tou::to_us(tou::sim::sim_connection_defaults().msl)) / 1000;
  double max_time_s = 3600;
  int syn_retries = tou::sim::sim_connection_defaults().syn_retries;  // sets synack_retries too
  bool no_sack = false, no_timestamps = false, no_wscale = false, no_pacing = false;
  bool no_frto = false;
  uint64_t buffer = 0;
  bool nodelay = false, verbose = false, table = false, trace = false, counters = false;
  bool autotune = false;

  auto* seed_opt = app.add_option("--seed", seed, "Seed of the first run (run i uses seed + i)");
  app.add_option("--runs", runs, "Number of runs")->check(CLI::PositiveNumber);
  app.add_option("--bytes", bytes, "Bytes the client sends (and the server, see --bytes-back)");
  app.add_option("--bytes-back", bytes_back, "Bytes the server sends (default: --bytes)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loss", loss, "Loss probability per datagram")->check(CLI::Range(0.0, 1.0));
  app.add_flag("--burst", burst,
               "Bursty Gilbert-Elliott loss with the same average (per datagram)");
  double burst_ms = 0;
  app.add_option("--burst-duration", burst_ms,
                 "Bursty loss with the same average, in bursts that last this long on average "
                 "(ms) whatever the traffic, instead of --burst's per-datagram chain")
      ->check(CLI::PositiveNumber);
  app.add_option("--dup", dup, "Duplication probability")->check(CLI::Range(0.0, 1.0));
  app.add_option("--reorder", reorder, "Reordering probability")->check(CLI::Range(0.0, 1.0));
  app.add_option("--reorder-delay", reorder_delay_ms, "Extra delay of a reordered datagram (ms)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--corrupt", corrupt, "Probability of a bit flip")->check(CLI::Range(0.0, 1.0));
  app.add_option("--delay", delay_ms, "One-way delay (ms)")->check(CLI::NonNegativeNumber);
  app.add_option("--jitter", jitter_ms, "Extra delay, uniform in [0, jitter] (ms)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rate", rate, "Link rate (Mbit/s), 0 = unlimited")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--queue", queue, "Drop-tail queue limit (datagrams), 0 = unlimited");
  app.add_option("--partition", partitions, "Link down from T1 to T2 (ms), e.g. 200:5200")
      ->type_name("T1:T2");
  std::string cc_names;
  for (std::string_view n : tou::congestion_controller_names()) {
    cc_names += (cc_names.empty() ? "" : "|") + std::string(n);
  }
  app.add_option("--cc", cc, "Congestion control: " + cc_names);
  app.add_option("--close", close, "Close mode")
      ->check(CLI::IsMember({"both", "client", "server", "abort"}));
  app.add_option("--user-timeout", user_timeout_ms, "User timeout (ms), 0 = off")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--msl", msl_ms, "MSL (ms); TIME-WAIT lasts 2 MSL")->check(CLI::PositiveNumber);
  app.add_option("--expect", expect, "Expected outcome")
      ->check(CLI::IsMember({"auto", "success", "error"}));
  double max_stall_ms = static_cast<double>(tou::to_us(TransferOptions{}.max_stall)) / 1000;
  app.add_option("--max-stall", max_stall_ms,
                 "Longest time without delivery progress that no partition explains before the "
                 "run fails (ms)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-time", max_time_s, "Virtual time limit per run (s)")
      ->check(CLI::PositiveNumber);
  int max_retrans = tou::sim::sim_connection_defaults().max_retransmissions;
  app.add_option("--max-retrans", max_retrans, "RTO expiries in a row before ETIMEDOUT")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--syn-retries", syn_retries, "SYN and SYN-ACK retransmissions before giving up")
      ->check(CLI::NonNegativeNumber);
  double keepalive_ms = 0;
  double keepalive_interval_ms =
      static_cast<double>(tou::to_us(tou::ConnectionConfig{}.keepalive_interval)) / 1000;
  int keepalive_count = tou::ConnectionConfig{}.keepalive_count;
  app.add_option("--keepalive", keepalive_ms, "Keepalive after this idle time (ms), 0 = off")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keepalive-interval", keepalive_interval_ms, "Between keepalive probes (ms)")
      ->check(CLI::PositiveNumber);
  app.add_option("--keepalive-count", keepalive_count, "Unanswered probes before ETIMEDOUT")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-sack", no_sack, "Disable SACK (RFC 2018)");
  app.add_flag("--no-timestamps", no_timestamps, "Disable timestamps (RFC 7323)");
  app.add_flag("--no-window-scaling", no_wscale, "Disable window scaling (RFC 7323)");
  app.add_flag("--no-pacing", no_pacing, "Disable pacing");
  app.add_flag("--no-frto", no_frto, "Disable F-RTO after a timeout (RFC 5682)");
  app.add_option(
      "--buffer", buffer,
      "Send and receive buffer limit of both sides (bytes; default: ConnectionConfig's)");
  app.add_flag("--autotune", autotune,
               "Receive buffer autotuning, as the engine uses it (the window starts at 64 KiB)");
  app.add_flag("--nodelay", nodelay, "Disable Nagle");
  app.add_flag("--verbose", verbose, "One line per run");
  app.add_flag("--counters", counters,
               "Per run, each side's loss-recovery counters (RTOs, TLPs, RACK, undos)");
  app.add_flag("--trace", trace, "Print every datagram, timer and state change of each run");
  app.add_flag("--table", table,
               "Print the README goodput table (" + cc_names + "; 100 Mbit/s, 50 ms RTT)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e.what());
  }

  if (table) {
    tou::sim::GoodputTableOptions t;
    if (seed_opt->count() > 0) t.seed = seed;
    t.runs = runs;
    if (app.count("--bytes") > 0) t.bytes = bytes;
    const auto cells = tou::sim::measure_goodput(t);
    fmt::print("{}", tou::sim::goodput_markdown(t, cells));
    for (const auto& c : cells) {
      if (c.failures > 0) return 1;
    }
    return 0;
  }
  if (seed_opt->count() == 0) return usage_error(app, "--seed is required");

  TransferOptions o;
  o.bytes_to_server = bytes;
  o.bytes_to_client = bytes_back < 0 ? bytes : static_cast<uint64_t>(bytes_back);
  o.link.delay = from_ms(delay_ms);
  o.link.jitter = from_ms(jitter_ms);
  o.link.rate_mbps = rate;
  o.link.queue_packets = queue;
  o.link.loss = loss;
  o.link.burst_loss = burst || burst_ms > 0;
  o.link.burst_duration = from_ms(burst_ms);
  o.link.duplicate = dup;
  o.link.reorder = reorder;
  o.link.reorder_delay = from_ms(reorder_delay_ms);
  o.link.corrupt = corrupt;
  for (const std::string& p : partitions) {
    Partition part;
    if (!parse_partition(p, part)) return usage_error(app, "bad --partition '" + p + "'");
    o.link.partitions.push_back(part);
  }
  o.connection.congestion_control = cc;
  o.connection.user_timeout = from_ms(user_timeout_ms);
  o.connection.msl = from_ms(msl_ms);
  o.connection.max_retransmissions = max_retrans;
  if (app.count("--syn-retries") > 0) {
    o.connection.syn_retries = syn_retries;
    o.connection.synack_retries = syn_retries;
  }
  if (keepalive_ms > 0) {
    o.connection.keepalive = true;
    o.connection.keepalive_idle = from_ms(keepalive_ms);
    o.connection.keepalive_interval = from_ms(keepalive_interval_ms);
    o.connection.keepalive_count = keepalive_count;
  }
  o.connection.sack = !no_sack;
  o.connection.timestamps = !no_timestamps;
  o.connection.window_scaling = !no_wscale;
  o.connection.pacing = !no_pacing;
  o.connection.frto = !no_frto;
  if (buffer > 0) o.connection.send_buffer = o.connection.receive_buffer = buffer;
  o.connection.receive_autotune = autotune;
  o.connection.nodelay = nodelay;
  o.close = *tou::sim::parse_close_mode(close);
  o.expect = expect == "error"     ? Expectation::kError
             : expect == "success" ? Expectation::kSuccess
                                   : Expectation::kAuto;
  o.limits.max_time = tou::kTimeZero + from_ms(max_time_s * 1000);
  o.max_stall = from_ms(max_stall_ms);
  if (std::string err = tou::sim::validate(o); !err.empty()) return usage_error(app, err);

  int failed = 0, expected_errors = 0;
  Duration worst_stall{0};
  uint64_t worst_stall_seed = seed;
  bool worst_explained = false;
  uint64_t retransmissions = 0, timeouts = 0, late_resets = 0;
  double up_fraction = 0, down_fraction = 0, up_bps = 0, down_bps = 0;
  int measured = 0;
  for (int i = 0; i < runs; ++i) {
    const uint64_t s = seed + static_cast<uint64_t>(i);
    tou::sim::TransferTrace sink;
    if (trace) sink = [](const std::string& line) { fmt::print("{}\n", line); };
    const TransferResult r = tou::sim::run_transfer(s, o, sink);
    retransmissions += r.retransmissions();
    timeouts += r.timeouts();
    late_resets += r.late_resets;
    expected_errors += r.ok && r.expected_error ? 1 : 0;
    if (r.longest_stall.length() > worst_stall) {
      worst_stall = r.longest_stall.length();
      worst_stall_seed = s;
      worst_explained = r.stall_explained;
    }
    if (r.ok && !r.expected_error && o.close != CloseMode::kAbort) {
      up_bps += r.to_server.goodput_bps;
      down_bps += r.to_client.goodput_bps;
      up_fraction += r.to_server.goodput_fraction;
      down_fraction += r.to_client.goodput_fraction;
      ++measured;
    }
    if (verbose) fmt::print("run {} seed {}: {}\n", i, s, r.summary());
    if (counters) print_counters(r);
    if (!r.ok) {
      ++failed;
      fmt::print("FAIL seed {}: {}; reproduce: {}\n", s, r.failure,
                 tou::sim::to_command_line(s, o));
    }
    std::fflush(stdout);
  }

  fmt::print("{} runs, {} failed, {} expected errors, worst stall {:.3f}s (seed {}{})\n", runs,
             failed, expected_errors, static_cast<double>(tou::to_us(worst_stall)) / 1e6,
             worst_stall_seed, worst_explained ? ", a partition" : "");
  if (measured > 0) {
    auto direction = [&](const char* name, uint64_t b, double bps, double fraction) {
      if (b == 0) return std::string();
      std::string s = fmt::format(" {} {:.3f} Mbit/s", name, bps / measured / 1e6);
      if (rate > 0) s += fmt::format(" ({:.1f}% of {} Mbit/s)", 100 * fraction / measured, rate);
      return s;
    };
    fmt::print("goodput (mean of {} clean runs):{}{}\n", measured,
               direction("up", o.bytes_to_server, up_bps, up_fraction),
               direction("down", o.bytes_to_client, down_bps, down_fraction));
  }
  fmt::print("retransmissions {}, timeouts {}{}\n", retransmissions, timeouts,
             late_resets > 0 ? fmt::format(", late resets {}", late_resets) : "");
  return failed == 0 ? 0 : 1;
}
