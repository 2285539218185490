#include "sim/goodput_table.hpp"

#include <cmath>

#include <fmt/format.h>

#include "cc/congestion_controller.hpp"
#include "sim/transfer.hpp"

namespace tou::sim {

namespace {

std::string display_name(const std::string& cc) {
  if (cc == "newreno") return "NewReno";
  if (cc == "cubic") return "CUBIC";
  if (cc == "bbr") return "BBR";
  return cc;
}

std::string percent(double loss) {
  return fmt::format("{:g}%", loss * 100);
}

}  // namespace

std::vector<std::string> registered_controllers() {
  std::vector<std::string> names;
  for (std::string_view n : congestion_controller_names()) names.emplace_back(n);
  return names;
}

size_t bdp_packets(double rate_mbps, Duration rtt) {
  constexpr double kWireSize = 1460 + 32 + 28;  // payload, TCP header with timestamps, IPv4+UDP
  const double bytes = rate_mbps * 1e6 / 8 * static_cast<double>(to_us(rtt)) / 1e6;
  return static_cast<size_t>(std::ceil(bytes / kWireSize));
}

std::vector<GoodputCell> measure_goodput(const GoodputTableOptions& options) {
  std::vector<GoodputCell> cells;
  for (double loss : options.losses) {
    for (const std::string& cc : options.congestion_controls) {
      TransferOptions o;
      o.bytes_to_server = options.bytes;
      o.bytes_to_client = 0;
      o.link.delay = options.delay;
      o.link.rate_mbps = options.rate_mbps;
      o.link.queue_packets = bdp_packets(options.rate_mbps, 2 * options.delay);
      o.link.loss = loss;
      o.connection.congestion_control = cc;
      GoodputCell cell{cc, loss};
      for (int i = 0; i < options.runs; ++i) {
        const TransferResult r = run_transfer(options.seed + static_cast<uint64_t>(i), o);
        if (!r.ok) ++cell.failures;
        cell.mbps += r.to_server.goodput_bps / 1e6 / options.runs;
        cell.fraction += r.to_server.goodput_fraction / options.runs;
      }
      cells.push_back(cell);
    }
  }
  return cells;
}

std::string goodput_markdown(const GoodputTableOptions& options,
                             const std::vector<GoodputCell>& cells) {
  std::string s = fmt::format(
      "Goodput of a {} MB transfer over a {} Mbit/s link, {} ms RTT, drop-tail queue of {} "
      "packets (1 BDP), random loss; mean of {} run{} (`tou-sim --table`).\n\n",
      static_cast<double>(options.bytes) / 1e6, options.rate_mbps,
      static_cast<double>(to_us(2 * options.delay)) / 1000,
      bdp_packets(options.rate_mbps, 2 * options.delay), options.runs,
      options.runs == 1 ? "" : "s");
  s += "| Loss |";
  for (const std::string& cc : options.congestion_controls) {
    s += fmt::format(" {} (Mbit/s) | {} (% of link) |", display_name(cc), display_name(cc));
  }
  s += "\n|-----:|";
  for (size_t i = 0; i < options.congestion_controls.size(); ++i) s += "-----:|-----:|";
  s += "\n";
  for (double loss : options.losses) {
    s += fmt::format("| {} |", percent(loss));
    for (const std::string& cc : options.congestion_controls) {
      for (const GoodputCell& c : cells) {
        if (c.congestion_control != cc || c.loss != loss) continue;
        s += fmt::format(" {:.1f} | {:.1f}%{} |", c.mbps, 100 * c.fraction,
                         c.failures > 0 ? fmt::format(" ({} failed)", c.failures) : "");
      }
    }
    s += "\n";
  }
  return s;
}

}  // namespace tou::sim
