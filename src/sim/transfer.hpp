// The scenario runner: one seeded, fully checked transfer between two
// tou::Connection over a simulated link, as a pure function of its inputs.
//
// run_transfer(seed, options) draws, from one Rng seeded with `seed` and in
// this order, the client's and the server's ISS and timestamp offsets and the
// keys of the two data streams; the links draw their impairments from the same
// Rng. The client connect()s at t = 0, the server listen()s; each application
// writes its bytes as fast as send() takes them and reads everything, then
// closes as CloseMode says:
//   both    each side shutdown()s once its bytes are queued, close()s after EOF
//   client  the client shuts down after sending; the server close()s only after
//           it read EOF and queued all its data (the client ends in TIME-WAIT)
//   server  mirrored
//   abort   the client abort()s once it has read half of the server's bytes;
//           both must end CLOSED, the server with ECONNRESET
//
// Checks: every byte arrives once, in order, unaltered (checked as it is read);
// EOF after exactly the bytes sent; both connections end CLOSED (TIME-WAIT
// expiry included) with next_deadline() == nullopt; error() is 0. A run that
// hits a limit (virtual time, events) or stops with a connection not CLOSED is
// a failure that names the states.
//
// Stalls: the run records its delivery progress (progress.hpp: bytes or EOF
// read, a state change a datagram caused) and reports its longest stall, the
// longest time without progress between t = 0 and the last side's end (an
// error ends a stall too). A stall is explained by the partitions when the
// link was down for part of it and up for no longer than the time it was down,
// capped at the RTO ceiling, plus one initial RTO and a round trip of slack:
// exponential backoff puts the first retransmission after a partition at most
// about as long after its end as the link was down, and never more than one
// max_rto later. Any stall longer than TransferOptions::max_stall that the
// partitions do not explain fails the run, whatever it ended in.
//
// Expected errors (Expectation): a partition that outlasts the user timeout
// must end in an error, not a hang: each side reports ETIMEDOUT (or ECONNRESET,
// when the peer's reset reached it) and ends CLOSED. kError requires exactly
// that of both sides. kAuto accepts a clean transfer, or the error outcome
// when the stall that ended in each side's error is explained by the
// partitions (see above; the time since the peer last acknowledged that side's
// data, as its user timeout counts), or that came after the peer had given up for an
// explained reason (its reset, or keepalive probes into the void), with either
// side allowed to have finished cleanly
// instead (its last ACK got through before the partition). A timeout that no
// partition explains (a 0.5 s partition cannot exhaust a 20 s user timeout)
// is a failure. kSuccess requires a clean transfer. A side whose peer gave up
// while it had nothing to send (say in FIN-WAIT-2) waits forever, as real TCP
// does, unless keepalive is on: that is reported as a hang. A handshake that
// fails (the client's SYNs all lost) leaves the server in LISTEN, which is
// where a listener rests: that is the client's error, not a hang.
//
// A reset after a clean finish is tolerated and counted (late_resets): when a
// side sits in LAST-ACK retransmitting its FIN for longer than the peer's
// TIME-WAIT (2 * msl), the peer has forgotten the connection and answers with a
// reset, as real TCP does (RFC 9293 3.10.7.4: in LAST-ACK an RST just closes).
//
//   TransferOptions o;
//   o.link.loss = 0.05;
//   o.connection.congestion_control = "newreno";
//   TransferResult r = run_transfer(7, o);
//   if (!r.ok) puts((r.failure + "\n" + to_command_line(7, o)).c_str());
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/connection.hpp"
#include "core/stats.hpp"
#include "sim/link.hpp"
#include "sim/network.hpp"
#include "sim/progress.hpp"

namespace tou::sim {

enum class CloseMode : uint8_t { kBoth, kClient, kServer, kAbort };
const char* to_string(CloseMode mode);
std::optional<CloseMode> parse_close_mode(std::string_view text);

enum class Expectation : uint8_t {
  kAuto,     // clean, or the error outcome when a partition hit the transfer (see above)
  kSuccess,  // a clean transfer, whatever the partitions
  kError,    // both sides must fail with ETIMEDOUT / ECONNRESET and end CLOSED
};

// The connection defaults of the simulator: the core's, with a short MSL so
// TIME-WAIT (2 * msl) ends soon in virtual time.
ConnectionConfig sim_connection_defaults();

struct TransferOptions {
  uint64_t bytes_to_server = 100000;  // client -> server
  uint64_t bytes_to_client = 100000;  // server -> client
  LinkConfig link;                    // the same settings in both directions
  // Both connections use this (congestion_control, user_timeout, msl, ...).
  ConnectionConfig connection = sim_connection_defaults();
  CloseMode close = CloseMode::kBoth;
  Expectation expect = Expectation::kAuto;
  RunLimits limits;
  // The longest stall (see above) the partitions need not explain. 30 s is
  // seven RTO expiries in a row from the 200 ms floor (0.2 * (2^7 - 1) = 25.4 s),
  // or five from the 1 s initial RTO of a handshake (31 s): at 10% independent
  // loss, about one chance in 10^5 to 10^7 per lost segment.
  Duration max_stall = std::chrono::seconds(30);
  // Steady-state goodput counts the bytes past this fraction of each direction.
  double steady_state_from = 0.5;
};

// Checks options for consistency; an error message, or empty when usable.
std::string validate(const TransferOptions& options);

// The tou-sim command line that reproduces run_transfer(seed, options), with
// every setting spelled out. Settings the command line cannot express (a
// ConnectionConfig field without a flag) are not included.
std::string to_command_line(uint64_t seed, const TransferOptions& options);

struct DirectionResult {
  uint64_t expected = 0;   // bytes the sender had to send
  uint64_t delivered = 0;  // bytes the receiving application read, in order and checked
  bool eof = false;
  Duration elapsed{0};            // t = 0 (connect) to the last byte read
  double goodput_bps = 0;         // delivered * 8 / elapsed
  double goodput_fraction = 0;    // of the link rate; 0 when the rate is unlimited
  double steady_goodput_bps = 0;  // over the bytes past TransferOptions::steady_state_from
  double steady_fraction = 0;
};

struct SideResult {
  TcpState state = TcpState::kClosed;
  int error = 0;
  bool deadline_pending = false;  // next_deadline() != nullopt at the end
  bool app_complete = false;      // sent all, read all and EOF
  bool aborted = false;
  ConnectionStats stats;
  std::string description;  // AppEndpoint::describe()
};

struct TransferResult {
  bool ok = false;
  std::string failure;           // why not ok; empty when ok
  bool expected_error = false;   // the error outcome was the one required
  Stall longest_stall;           // the longest time without delivery progress
  bool stall_explained = false;  // the partitions explain longest_stall
  RunResult run;
  Duration duration{0};               // virtual time until the run stopped
  std::optional<Duration> data_done;  // both applications had read everything and EOF
  DirectionResult to_server;
  DirectionResult to_client;
  SideResult client;
  SideResult server;
  LinkStats to_server_link;
  LinkStats to_client_link;
  uint64_t late_resets = 0;   // tolerated resets after a clean finish (see above)
  uint64_t trace_digest = 0;  // equal for equal runs

  uint64_t retransmissions() const {
    return client.stats.retransmitted_segments + server.stats.retransmitted_segments;
  }
  uint64_t timeouts() const { return client.stats.rto_timeouts + server.stats.rto_timeouts; }
  // One line: outcome, duration, goodput, retransmissions, link counters.
  std::string summary() const;
};

// Whether the partitions explain a stall (see above).
bool partitions_explain(const Stall& stall, const TransferOptions& options);

// Receives the trace of a run, one line per event: datagrams sent (decoded, with
// what the link did), datagrams arriving, timers, application calls, state changes.
using TransferTrace = std::function<void(const std::string& line)>;

TransferResult run_transfer(uint64_t seed, const TransferOptions& options,
                            const TransferTrace& trace = {});

}  // namespace tou::sim
