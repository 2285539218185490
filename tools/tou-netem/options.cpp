#include "options.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <random>

#include "common/cli.hpp"

namespace tou::netem {
namespace {

Duration from_ms(double ms) {
  return Duration{static_cast<int64_t>(ms * 1000.0 + 0.5)};
}

// One impairment setting as three options: --NAME (both directions),
// --up-NAME and --down-NAME (one direction, overriding --NAME).
template <typename T>
struct PerDirection {
  T both{};
  T up{};
  T down{};
  CLI::Option* both_opt = nullptr;
  CLI::Option* up_opt = nullptr;
  CLI::Option* down_opt = nullptr;

  void add(CLI::App& app, const std::string& name, const std::string& help,
           const CLI::Validator& check, const std::string& group) {
    both_opt = app.add_option("--" + name, both, help + " (both directions)")->check(check);
    up_opt = app.add_option("--up-" + name, up, help + ", up only")->check(check)->group(group);
    down_opt =
        app.add_option("--down-" + name, down, help + ", down only")->check(check)->group(group);
  }
  // The value for one direction, or `fallback` when neither option was given.
  T get(bool up_direction, T fallback) const {
    const CLI::Option* own = up_direction ? up_opt : down_opt;
    if (own->count() > 0) return up_direction ? up : down;
    if (both_opt->count() > 0) return both;
    return fallback;
  }
};

struct Flag {
  bool both = false, up = false, down = false;
  void add(CLI::App& app, const std::string& name, const std::string& help,
           const std::string& group) {
    app.add_flag("--" + name, both, help + " (both directions)");
    app.add_flag("--up-" + name, up, help + ", up only")->group(group);
    app.add_flag("--down-" + name, down, help + ", down only")->group(group);
  }
  bool get(bool up_direction) const { return both || (up_direction ? up : down); }
};

}  // namespace

int parse_options(int argc, char** argv, Options& out) {
  CLI::App app{
      "tou-netem: a link emulator with loss, burst loss, duplication, reordering, corruption,\n"
      "delay, jitter and a rate-limited drop-tail queue.\n\n"
      "  UDP proxy:  tou-netem --listen ADDR:PORT --forward ADDR:PORT [impairments]\n"
      "  namespaces: tou-netem --netns [impairments] --a 'SERVER CMD' --b 'CLIENT CMD'\n\n"
      "up = towards the server (--forward, or namespace A); down = the way back.\n"
      "--X sets both directions, --up-X / --down-X one of them (and win over --X)."};
  const std::string dir_group = "Per direction (--up-X, --down-X)";

  PerDirection<double> delay, jitter, loss, burst_ms, dup, reorder, reorder_delay, corrupt, rate;
  PerDirection<size_t> queue;
  PerDirection<int> corrupt_bits;
  Flag burst;
  const auto probability = CLI::Range(0.0, 1.0);
  delay.add(app, "delay", "One-way delay (ms)", CLI::NonNegativeNumber, dir_group);
  jitter.add(app, "jitter", "Extra delay, uniform in [0, jitter] (ms); never reorders",
             CLI::NonNegativeNumber, dir_group);
  loss.add(app, "loss", "Loss probability", probability, dir_group);
  burst.add(app, "burst", "Bursty Gilbert-Elliott loss with the --loss average (per packet)",
            dir_group);
  burst_ms.add(app, "burst-duration",
               "Bursty loss with the --loss average in bursts that last this long on average "
               "(ms), instead of --burst's per-packet chain",
               CLI::PositiveNumber, dir_group);
  dup.add(app, "dup", "Duplication probability", probability, dir_group);
  reorder.add(app, "reorder", "Reordering probability (held back by --reorder-delay)", probability,
              dir_group);
  reorder_delay.add(app, "reorder-delay", "Extra delay of a reordered packet (ms, default 10)",
                    CLI::NonNegativeNumber, dir_group);
  corrupt.add(app, "corrupt", "Probability of corrupting a packet", probability, dir_group);
  corrupt_bits.add(app, "corrupt-bits", "Distinct bits flipped in a corrupted packet (default 1)",
                   CLI::Range(1, 64), dir_group);
  rate.add(app, "rate", "Rate limit (Mbit/s, token bucket), 0 = unlimited", CLI::NonNegativeNumber,
           dir_group);
  queue.add(app, "queue",
            "Drop-tail queue behind the rate limit (packets, default 1000), 0 = "
            "unlimited",
            CLI::NonNegativeNumber, dir_group);

  auto* seed_opt = app.add_option("--seed", out.seed,
                                  "Seed of the impairment draws (default: "
                                  "random, printed)");
  app.add_option("--duration", out.duration_s,
                 "Stop after S seconds (netns: bounds command B, which is then killed)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stats-json", out.stats_json, "Also write the counters to FILE as JSON");
  app.add_flag("--quiet", out.quiet, "Print only the counters at the end");

  auto* listen_opt = app.add_option("--listen", out.listen, "Proxy: where clients send (UDP)")
                         ->type_name("ADDR:PORT");
  auto* forward_opt =
      app.add_option("--forward", out.forward, "Proxy: the server (UDP)")->type_name("ADDR:PORT");
  bool netns = false;
  app.add_flag("--netns", netns, "Link two new network namespaces A and B through TUN devices");
  app.add_option("--a", out.command_a, "Netns: command run in A in the background (sh -c)");
  app.add_option("--b", out.command_b, "Netns: command run in B; tou-netem exits with its status");
  app.add_option("--mtu", out.mtu, "Netns: MTU of the TUN devices")->check(CLI::Range(576, 65535));
  app.add_option("--wait-tcp", out.wait_tcp_port,
                 "Netns: start B once a TCP socket listens on this port in A (up to 10 s)")
      ->check(CLI::Range(1, 65535));

  if (auto status = tools::parse_command_line(app, argc, argv)) return *status;

  out.mode = netns ? Mode::kNetns : Mode::kProxy;
  if (netns) {
    if (listen_opt->count() > 0 || forward_opt->count() > 0) {
      return tools::usage_error(app, "--netns does not take --listen or --forward");
    }
    if (out.command_b.empty()) return tools::usage_error(app, "--netns needs --b 'COMMAND'");
  } else {
    if (out.listen.empty() || out.forward.empty()) {
      return tools::usage_error(app,
                                "needs --listen ADDR:PORT and --forward ADDR:PORT (or --netns)");
    }
    if (!out.command_a.empty() || !out.command_b.empty() || app.count("--mtu") > 0 ||
        app.count("--wait-tcp") > 0) {
      return tools::usage_error(app, "--a, --b, --mtu and --wait-tcp need --netns");
    }
    if (std::string err = parse_address(out.listen, out.listen_address); !err.empty()) {
      return tools::usage_error(app, "--listen: " + err);
    }
    if (std::string err = parse_address(out.forward, out.forward_address); !err.empty()) {
      return tools::usage_error(app, "--forward: " + err);
    }
  }
  if (seed_opt->count() == 0) out.seed = std::random_device{}();

  for (bool up : {true, false}) {
    DirectionConfig& d = up ? out.up : out.down;
    d.impairment.delay = from_ms(delay.get(up, 0));
    d.impairment.jitter = from_ms(jitter.get(up, 0));
    d.impairment.loss = loss.get(up, 0);
    d.impairment.burst_duration = from_ms(burst_ms.get(up, 0));
    d.impairment.burst_loss = burst.get(up) || d.impairment.burst_duration.count() > 0;
    d.impairment.duplicate = dup.get(up, 0);
    d.impairment.reorder = reorder.get(up, 0);
    d.impairment.corrupt = corrupt.get(up, 0);
    d.impairment.corrupt_bits = corrupt_bits.get(up, 1);
    d.reorder_delay = from_ms(reorder_delay.get(up, 10));
    d.rate_mbps = rate.get(up, 0);
    d.queue_packets = queue.get(up, size_t{1000});
  }
  return -1;
}

}  // namespace tou::netem
