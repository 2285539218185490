#include "options.hpp"

#include <sys/socket.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include <CLI/CLI.hpp>

#include "cc/congestion_controller.hpp"
#include "common/cli.hpp"

namespace tou::perf {

namespace {

// "128K", "10M", "1G" (binary multiples, as iperf3); throws on anything else.
uint64_t parse_size(const std::string& text) {
  size_t used = 0;
  const double value = std::stod(text, &used);
  std::string suffix = text.substr(used);
  double scale = 1;
  if (suffix == "k" || suffix == "K") scale = 1024;
  if (suffix == "m" || suffix == "M") scale = 1024.0 * 1024;
  if (suffix == "g" || suffix == "G") scale = 1024.0 * 1024 * 1024;
  if (!suffix.empty() && scale == 1) throw std::invalid_argument("bad size suffix");
  if (!(value >= 0) || value * scale > 1e18) throw std::invalid_argument("bad size");
  return static_cast<uint64_t>(std::llround(value * scale));
}

// The registry's controller names, "newreno|cubic|bbr".
std::string controller_names(const char* separator) {
  std::string names;
  for (std::string_view n : tou::congestion_controller_names()) {
    names += (names.empty() ? "" : separator) + std::string(n);
  }
  return names;
}

bool is_registered_controller(const std::string& name) {
  for (std::string_view n : tou::congestion_controller_names()) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app{
      "tou-perf: iperf3 for tou (TCP over UDP), and the same workloads over the kernel's TCP\n"
      "  tou-perf -s [-p port] [-1] [--tcp]\n"
      "  tou-perf -c host [-p port] [-t secs | -n bytes] [-P streams] [-R] [--cc " +
          controller_names("|") +
          "]\n"
          "           [--json] [-i secs] [-l bytes] [--rr | --crr] [--size N] [--tcp]\n"
          "  tou-perf -c host --connect-rate [-t secs] [-P n] [--tcp]   blocking connect, close\n"
          "  tou-perf -c host --idle N [-t secs] [--tcp]   open N connections, hold them -t s\n"
          "  tou-perf --list-cc   tou's congestion controllers, one per line",
      "tou-perf"};
  std::string bytes_text, len_text;
  bool rr = false, crr = false, connect_rate = false, ipv4 = false, ipv6 = false,
       no_progress = false;
  auto* server = app.add_flag("-s,--server", o.server, "Run as a server");
  auto* client = app.add_option("-c,--client", o.host, "Run as a client, connecting to host");
  server->excludes(client);
  app.add_option("-p,--port", o.port, "Server port (UDP for tou, TCP with --tcp)")
      ->check(CLI::Range(1, 65535));
  auto* one_off = app.add_flag("-1,--one-off", o.one_off, "Server: serve one client, then exit");
  auto* time = app.add_option("-t,--time", o.seconds, "Seconds to transmit (default 10)")
                   ->check(CLI::Range(0.1, 86400.0));
  auto* bytes = app.add_option("-n,--bytes", bytes_text, "Bytes to transmit (K/M/G), not -t");
  bytes->excludes(time);
  app.add_option("-P,--parallel", o.streams, "Parallel streams")->check(CLI::Range(1, 128));
  auto* reverse = app.add_flag("-R,--reverse", o.reverse, "The server sends");
  app.add_option(
      "--cc", o.cc,
      "Congestion control: " + controller_names(", ") + " (with --tcp: any the kernel offers)");
  app.add_flag("-J,--json", o.json, "One JSON document on stdout");
  app.add_option("-i,--interval", o.interval, "Seconds between interval reports (0: none)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("-l,--len", len_text, "Bytes per write (bulk, K/M suffixes; default 128K)");
  auto* rr_flag = app.add_flag("--rr", rr, "Request/response: one outstanding --size message");
  auto* crr_flag = app.add_flag("--crr", crr, "Connect/request/response/close rate");
  auto* connect_flag = app.add_flag("--connect-rate", connect_rate,
                                    "Blocking connects in a loop, each closed at once (no data)");
  auto* idle_opt = app.add_option("--idle", o.idle,
                                  "Open N idle connections, hold them for -t s, report the fds "
                                  "and memory they cost this process")
                       ->check(CLI::Range(1, 1'000'000));
  std::vector<CLI::Option*> modes = {rr_flag, crr_flag, connect_flag, idle_opt};
  for (size_t i = 0; i < modes.size(); ++i) {
    modes[i]->excludes(reverse);
    for (size_t j = i + 1; j < modes.size(); ++j) modes[i]->excludes(modes[j]);
  }
  app.add_option("--size", o.size, "Request and response size (rr, crr; default 1)")
      ->check(CLI::Range(1, 16 * 1024 * 1024));
  app.add_flag("--tcp", o.kernel_tcp, "Use the kernel's TCP instead of tou");
  auto* v4 = app.add_flag("-4", ipv4, "IPv4 only");
  app.add_flag("-6", ipv6, "IPv6 only")->excludes(v4);
  app.add_flag("--no-progress", no_progress, "No status line, even on a terminal");
  bool list_cc = false;
  app.add_flag("--list-cc", list_cc,
               "Print tou's congestion controllers (the registry's), then exit");
  if (auto status = tools::parse_command_line(app, argc, argv)) return status;
  if (list_cc) {
    std::fputs((controller_names("\n") + "\n").c_str(), stdout);
    return 0;
  }

  if (!o.server && o.host.empty()) return tools::usage_error(app, "one of -s or -c is required");
  if (o.server && (app.count("-t") + app.count("-n") + app.count("-P") + app.count("-R") +
                   app.count("--rr") + app.count("--crr") + app.count("--connect-rate") +
                   app.count("--idle") + app.count("-J")) > 0) {
    return tools::usage_error(
        app, "-t, -n, -P, -R, --rr, --crr, --connect-rate, --idle and --json are client options");
  }
  if (idle_opt->count() > 0 && app.count("-P") > 0) {
    return tools::usage_error(app, "--idle opens its connections from one thread: no -P");
  }
  if (!o.server && one_off->count() > 0) return tools::usage_error(app, "-1 is a server option");
  try {
    if (!bytes_text.empty()) o.bytes = parse_size(bytes_text);
    if (!len_text.empty()) {
      const uint64_t len = parse_size(len_text);
      if (len < 1 || len > 16 * 1024 * 1024) throw std::invalid_argument("bad length");
      o.len = static_cast<uint32_t>(len);
    }
  } catch (const std::exception&) {
    return tools::usage_error(app, "bad size '" + (o.bytes == 0 ? bytes_text : len_text) + "'");
  }
  if (bytes->count() > 0 && o.bytes == 0) return tools::usage_error(app, "-n must be positive");
  if (bytes->count() > 0 && o.bytes < static_cast<uint64_t>(o.streams)) {
    return tools::usage_error(app, "-n must be at least one byte per stream");
  }
  if (bytes->count() > 0 && (rr || crr || connect_rate || o.idle > 0)) {
    return tools::usage_error(app, "-n is for bulk only");
  }
  if (!o.cc.empty() && !o.kernel_tcp && !is_registered_controller(o.cc)) {
    return tools::usage_error(app, "--cc must be one of " + controller_names(", ") + " for tou");
  }
  o.seconds_given = time->count() > 0;
  o.mode = rr             ? Mode::kRr
           : crr          ? Mode::kCrr
           : connect_rate ? Mode::kConnect
           : o.idle > 0   ? Mode::kIdle
                          : Mode::kBulk;
  o.family = ipv6 ? AF_INET6 : ipv4 ? AF_INET : AF_UNSPEC;
  o.progress = !no_progress;
  return std::nullopt;
}

}  // namespace tou::perf
