// TransferOptions as text: the close mode names, validation, and the tou-sim
// command line that reproduces a run.
#include <algorithm>

#include <fmt/format.h>

#include "cc/congestion_controller.hpp"
#include "sim/transfer.hpp"

namespace tou::sim {

namespace {

// Milliseconds, shortest exact form: 10, 0.5, 2000.
std::string ms(Duration d) {
  return fmt::format("{}", static_cast<double>(to_us(d)) / 1000.0);
}

bool probability(double p) {
  return p >= 0 && p <= 1;
}

}  // namespace

const char* to_string(CloseMode mode) {
  switch (mode) {
    case CloseMode::kBoth:
      return "both";
    case CloseMode::kClient:
      return "client";
    case CloseMode::kServer:
      return "server";
    case CloseMode::kAbort:
      return "abort";
  }
  return "?";
}

std::optional<CloseMode> parse_close_mode(std::string_view text) {
  for (CloseMode m :
       {CloseMode::kBoth, CloseMode::kClient, CloseMode::kServer, CloseMode::kAbort}) {
    if (text == to_string(m)) return m;
  }
  return std::nullopt;
}

std::string validate(const TransferOptions& o) {
  const LinkConfig& l = o.link;
  if (!probability(l.loss)) return "loss must be in [0, 1]";
  if (!probability(l.duplicate)) return "dup must be in [0, 1]";
  if (!probability(l.reorder)) return "reorder must be in [0, 1]";
  if (!probability(l.corrupt)) return "corrupt must be in [0, 1]";
  if (l.delay.count() < 0 || l.jitter.count() < 0 || l.reorder_delay.count() < 0 ||
      l.burst_duration.count() < 0) {
    return "delays must not be negative";
  }
  if (l.rate_mbps < 0) return "rate must not be negative";
  for (const Partition& p : l.partitions) {
    if (p.end < p.start) return "a partition must end after it starts";
  }
  if (o.close == CloseMode::kAbort && o.bytes_to_client < 2) {
    return "abort needs at least 2 bytes from the server (the client aborts halfway)";
  }
  const auto names = congestion_controller_names();
  if (std::find(names.begin(), names.end(), o.connection.congestion_control) == names.end()) {
    return fmt::format("unknown congestion control '{}'", o.connection.congestion_control);
  }
  if (o.max_stall.count() <= 0) return "max_stall must be positive";
  if (o.steady_state_from < 0 || o.steady_state_from >= 1) {
    return "steady_state_from must be in [0, 1)";
  }
  return {};
}

std::string to_command_line(uint64_t seed, const TransferOptions& o) {
  const LinkConfig& l = o.link;
  const ConnectionConfig& c = o.connection;
  const ConnectionConfig d = sim_connection_defaults();
  std::string s = fmt::format(
      "tou-sim --seed {} --runs 1 --bytes {} --bytes-back {} --loss {}{} --dup {} --reorder {} "
      "--reorder-delay {} --corrupt {} --delay {} --jitter {} --rate {} --queue {}",
      seed, o.bytes_to_server, o.bytes_to_client, l.loss,
      !l.burst_loss                  ? ""
      : l.burst_duration.count() > 0 ? " --burst-duration " + ms(l.burst_duration)
                                     : std::string(" --burst"),
      l.duplicate, l.reorder, ms(l.reorder_delay), l.corrupt, ms(l.delay), ms(l.jitter),
      l.rate_mbps, l.queue_packets);
  for (const Partition& p : l.partitions) {
    s += fmt::format(" --partition {}:{}", ms(p.start - kTimeZero), ms(p.end - kTimeZero));
  }
  s += fmt::format(" --cc {} --close {} --user-timeout {} --msl {}", c.congestion_control,
                   to_string(o.close), ms(c.user_timeout), ms(c.msl));
  // --syn-retries sets both (the simulator keeps them equal when it changes them).
  if (c.syn_retries != d.syn_retries || c.synack_retries != d.synack_retries) {
    s += fmt::format(" --syn-retries {}", c.syn_retries);
  }
  if (c.max_retransmissions != d.max_retransmissions) {
    s += fmt::format(" --max-retrans {}", c.max_retransmissions);
  }
  if (c.keepalive) {
    s += fmt::format(" --keepalive {} --keepalive-interval {} --keepalive-count {}",
                     ms(c.keepalive_idle), ms(c.keepalive_interval), c.keepalive_count);
  }
  if (c.sack != d.sack) s += c.sack ? "" : " --no-sack";
  if (c.timestamps != d.timestamps) s += c.timestamps ? "" : " --no-timestamps";
  if (c.window_scaling != d.window_scaling) s += c.window_scaling ? "" : " --no-window-scaling";
  if (c.pacing != d.pacing) s += c.pacing ? "" : " --no-pacing";
  if (c.frto != d.frto) s += c.frto ? "" : " --no-frto";
  if (c.send_buffer != d.send_buffer || c.receive_buffer != d.receive_buffer) {
    s += fmt::format(" --buffer {}", c.send_buffer);
  }
  if (c.receive_autotune != d.receive_autotune) s += c.receive_autotune ? " --autotune" : "";
  if (c.nodelay != d.nodelay) s += c.nodelay ? " --nodelay" : "";
  if (o.max_stall != TransferOptions{}.max_stall)
    s += fmt::format(" --max-stall {}", ms(o.max_stall));
  if (o.expect == Expectation::kError) s += " --expect error";
  if (o.expect == Expectation::kSuccess) s += " --expect success";
  return s;
}

std::string TransferResult::summary() const {
  auto mbit = [](double bps) { return bps / 1e6; };
  auto direction = [&mbit](const char* name, const DirectionResult& d) {
    if (d.expected == 0) return std::string();
    std::string s = fmt::format(" {} {:.3f} Mbit/s", name, mbit(d.goodput_bps));
    if (d.goodput_fraction > 0) s += fmt::format(" ({:.1f}%)", 100 * d.goodput_fraction);
    return s;
  };
  std::string s = fmt::format(
      "{} in {:.3f}s (data {}):{}{}, retransmissions {}, timeouts {}",
      ok ? (expected_error ? "ok (expected error)" : "ok") : "FAIL",
      static_cast<double>(to_us(duration)) / 1e6,
      data_done ? fmt::format("{:.3f}s", static_cast<double>(to_us(*data_done)) / 1e6) : "-",
      direction("up", to_server), direction("down", to_client), retransmissions(), timeouts());
  if (late_resets > 0) s += fmt::format(", late resets {}", late_resets);
  s += fmt::format(", longest stall {:.3f}s at {:.3f}s{}",
                   static_cast<double>(to_us(longest_stall.length())) / 1e6,
                   static_cast<double>(to_us(longest_stall.from - kTimeZero)) / 1e6,
                   stall_explained ? " (partition)" : "");
  s += fmt::format("; up link: {}; down link: {}", to_string(to_server_link),
                   to_string(to_client_link));
  return s;
}

}  // namespace tou::sim
