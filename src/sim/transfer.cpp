#include "sim/transfer.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "sim/app_endpoint.hpp"
#include "sim/rng.hpp"
#include "wire/segment.hpp"

namespace tou::sim {

namespace {

constexpr uint16_t kClientPort = 49152;
constexpr uint16_t kServerPort = 5000;

double seconds(Duration d) {
  return static_cast<double>(to_us(d)) / 1e6;
}

bool is_connection_error(int err) {
  return err == ETIMEDOUT || err == ECONNRESET;
}

CloseRole client_role(CloseMode mode) {
  switch (mode) {
    case CloseMode::kBoth:
    case CloseMode::kClient:
      return CloseRole::kActive;
    case CloseMode::kServer:
      return CloseRole::kPassive;
    case CloseMode::kAbort:
      return CloseRole::kAbort;
  }
  return CloseRole::kActive;
}

CloseRole server_role(CloseMode mode) {
  return mode == CloseMode::kClient ? CloseRole::kPassive : CloseRole::kActive;
}

DirectionResult direction(const AppEndpoint& receiver, double rate_bps) {
  const AppRecord& rec = receiver.record();
  DirectionResult d;
  d.expected = receiver.plan().bytes_to_receive;
  d.delivered = rec.received;
  d.eof = rec.eof;
  if (rec.last_byte_at) {
    d.elapsed = *rec.last_byte_at - kTimeZero;
    if (d.elapsed.count() > 0) {
      d.goodput_bps = static_cast<double>(d.delivered) * 8 / seconds(d.elapsed);
    }
    if (rec.steady_mark_at && *rec.last_byte_at > *rec.steady_mark_at) {
      d.steady_goodput_bps = static_cast<double>(d.delivered - rec.steady_mark_bytes) * 8 /
                             seconds(*rec.last_byte_at - *rec.steady_mark_at);
    }
  }
  if (rate_bps > 0) {
    d.goodput_fraction = d.goodput_bps / rate_bps;
    d.steady_fraction = d.steady_goodput_bps / rate_bps;
  }
  return d;
}

SideResult side(const AppEndpoint& e) {
  const Connection& c = e.connection();
  return SideResult{c.state(),        c.error(),          c.next_deadline().has_value(),
                    e.app_complete(), e.record().aborted, c.stats(),
                    e.describe()};
}

// The reset a side got after a clean finish came from the peer's endpoint
// answering for a connection it had already forgotten (see transfer.hpp).
bool late_reset(const AppEndpoint& self, const AppEndpoint& peer) {
  return self.connection().error() == ECONNRESET && self.app_complete() && peer.app_complete() &&
         peer.record().resets_sent > 0 && peer.connection().stats().resets_sent == 0;
}

}  // namespace

ConnectionConfig sim_connection_defaults() {
  ConnectionConfig c;
  c.msl = std::chrono::seconds(10);
  return c;
}

std::string describe_datagram(std::span<const uint8_t> bytes) {
  const ParseResult parsed = parse_segment(bytes);
  if (!parsed.ok())
    return fmt::format("malformed ({}), {} bytes", to_string(parsed.error), bytes.size());
  return to_string(parsed.segment.header, parsed.segment.payload.size());
}

TransferResult run_transfer(uint64_t seed, const TransferOptions& o, const TransferTrace& trace) {
  TransferResult res;
  if (std::string err = validate(o); !err.empty()) {
    res.failure = "invalid options: " + err;
    return res;
  }

  // Every random choice, in a fixed order, from one Rng.
  Rng rng(seed);
  const SeqNum client_iss(static_cast<uint32_t>(rng.next()));
  const SeqNum server_iss(static_cast<uint32_t>(rng.next()));
  const auto client_ts = static_cast<uint32_t>(rng.next());
  const auto server_ts = static_cast<uint32_t>(rng.next());
  const uint64_t up_key = rng.next();
  const uint64_t down_key = rng.next();

  AppPlan client_plan;
  client_plan.bytes_to_send = o.bytes_to_server;
  client_plan.bytes_to_receive = o.bytes_to_client;
  client_plan.send_key = up_key;
  client_plan.receive_key = down_key;
  client_plan.role = client_role(o.close);
  client_plan.abort_after = o.bytes_to_client / 2;
  client_plan.steady_state_from = o.steady_state_from;
  AppPlan server_plan;
  server_plan.bytes_to_send = o.bytes_to_client;
  server_plan.bytes_to_receive = o.bytes_to_server;
  server_plan.send_key = down_key;
  server_plan.receive_key = up_key;
  server_plan.role = server_role(o.close);
  server_plan.steady_state_from = o.steady_state_from;

  AppEndpoint client("client", o.connection, client_plan);
  AppEndpoint server("server", o.connection, server_plan);
  Network net(rng);
  const EndpointId c = net.add(&client);
  const EndpointId s = net.add(&server);
  net.connect(c, s, o.link, o.link);
  client.set_peer(s);
  server.set_peer(c);
  if (trace) {
    auto stamp = [](Instant t) { return fmt::format("{:>11.6f}", seconds(t - kTimeZero)); };
    auto log = [&trace, stamp](Instant t, const std::string& what) {
      trace(fmt::format("{}   {}", stamp(t), what));
    };
    client.set_log(log);
    server.set_log(log);
    const char* names[] = {"client", "server"};
    net.set_trace([&trace, stamp, names](const TraceEvent& e, std::span<const uint8_t> bytes) {
      switch (e.kind) {
        case TraceEvent::Kind::kSend:
          trace(fmt::format(
              "{} {} > {}  {}{}{}{}{}", stamp(e.at), names[e.endpoint], names[e.peer],
              describe_datagram(bytes),
              e.link.fate == Fate::kForwarded ? ""
                                              : "  [" + std::string(to_string(e.link.fate)) + "]",
              e.link.reordered ? "  [reordered]" : "", e.link.corrupted ? "  [corrupted]" : "",
              e.link.duplicated ? "  [duplicated]" : ""));
          break;
        case TraceEvent::Kind::kArrive:
          trace(fmt::format("{} {} < {}  {}", stamp(e.at), names[e.endpoint], names[e.peer],
                            describe_datagram(bytes)));
          break;
        case TraceEvent::Kind::kTimer:
          trace(fmt::format("{} {} timer", stamp(e.at), names[e.endpoint]));
          break;
        case TraceEvent::Kind::kNoRoute:
          break;
      }
    });
  }
  server.listen(kTimeZero, OpenParams{kServerPort, kClientPort, server_iss, server_ts});
  client.connect(kTimeZero, OpenParams{kClientPort, kServerPort, client_iss, client_ts});

  std::optional<Instant> data_done;
  res.run = net.run(o.limits, [&] {
    if (!data_done && client.app_complete() && server.app_complete()) data_done = net.now();
    return client.quiescent() && server.quiescent();
  });

  // Results.
  res.duration = res.run.end - kTimeZero;
  if (data_done) res.data_done = *data_done - kTimeZero;
  const double rate_bps = o.link.rate_mbps * 1e6;
  res.to_server = direction(server, rate_bps);
  res.to_client = direction(client, rate_bps);
  res.client = side(client);
  res.server = side(server);
  res.to_server_link = net.link(c, s)->stats();
  res.to_client_link = net.link(s, c)->stats();
  res.trace_digest = net.trace_digest();

  // Checks; the first failure is the reported one.
  const std::string states = client.describe() + "; " + server.describe();
  auto fail = [&res](std::string reason) {
    if (res.failure.empty()) res.failure = std::move(reason);
  };
  if (res.run.hit_limit()) {
    fail(fmt::format("{} at {:.6f}s: {}", to_string(res.run.outcome), seconds(res.duration),
                     states));
  } else if (!client.quiescent() || !server.quiescent()) {
    std::string hint;
    if (!client.record().established_at && client.connection().error() != 0) {
      hint = fmt::format(
          " (the handshake failed after {} SYN retransmissions; a listener that "
          "never got a valid SYN stays in LISTEN)",
          client.connection().stats().syn_retransmits);
    }
    for (const auto& [self, peer] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      if (hint.empty() && !self->quiescent() && !self->connection().next_deadline() &&
          peer->quiescent() && self->record().established_at && peer->connection().error() != 0 &&
          !self->connection().config().keepalive) {
        hint = fmt::format(
            " ({} waits with no timer for a peer that gave up; only keepalive "
            "would notice)",
            self->name());
      }
    }
    fail(fmt::format("hang at {:.6f}s (nothing left to happen, not both CLOSED){}: {}",
                     seconds(res.duration), hint, states));
  }
  if (!client.record().failure.empty()) fail(client.record().failure + "; " + states);
  if (!server.record().failure.empty()) fail(server.record().failure + "; " + states);

  // A clean finish: both applications got everything, no error (but tolerated late resets).
  uint64_t late = 0;
  bool clean = true;
  for (const auto& [self, peer] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
    if (!self->app_complete()) {
      clean = false;
    } else if (self->connection().error() != 0) {
      if (late_reset(*self, *peer)) {
        ++late;
      } else {
        clean = false;
      }
    }
  }
  // Partitions that can legitimately exhaust the user timeout: any that began
  // while a connection was still open (during the transfer, or during the close
  // handshake after it), since exponential backoff can put the first
  // retransmission after a partition up to about twice its length past its start.
  bool partition_hit = false;
  if (o.connection.user_timeout.count() > 0) {
    for (const Partition& p : o.link.partitions) {
      if (p.end > p.start && p.start < res.run.end) partition_hit = true;
    }
  }
  // May the partition have caused an error outcome?
  const bool may_fail =
      o.expect == Expectation::kError || (o.expect == Expectation::kAuto && partition_hit);
  res.expected_error =
      o.close != CloseMode::kAbort && may_fail && (!clean || o.expect == Expectation::kError);

  if (o.close == CloseMode::kAbort) {
    // The server learns of the abort from the reset, or, when a partition ate the
    // reset and its retransmissions, from its user timeout.
    if (client.record().aborted) {
      const int err = server.connection().error();
      if (err != ECONNRESET && !(may_fail && err == ETIMEDOUT)) {
        fail("server did not end with ECONNRESET after the client's abort; " + states);
      }
    } else if (may_fail) {
      res.expected_error = true;  // the partition struck before the abort point
      for (const AppEndpoint* e : {&client, &server}) {
        if (!is_connection_error(e->connection().error())) {
          fail(fmt::format("{} did not report ETIMEDOUT/ECONNRESET after the partition; {}",
                           e->name(), states));
        }
      }
    } else {
      fail("client never reached the abort point; " + states);
    }
  } else if (res.expected_error) {
    for (const AppEndpoint* e : {&client, &server}) {
      const int err = e->connection().error();
      const bool clean_ok = o.expect == Expectation::kAuto && err == 0 && e->app_complete();
      if (!is_connection_error(err) && !clean_ok) {
        fail(fmt::format("{} did not report ETIMEDOUT/ECONNRESET after the partition; {}",
                         e->name(), states));
      }
    }
  } else {
    for (const auto& [self, peer] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      if (!self->app_complete()) {
        fail(fmt::format("{} did not get all data and EOF; {}", self->name(), states));
      } else if (self->connection().error() != 0 && !late_reset(*self, *peer)) {
        fail(fmt::format("{} ended with an error; {}", self->name(), states));
      }
    }
    res.late_resets = late;
  }
  res.ok = res.failure.empty();
  if (trace) {
    trace(fmt::format("end ({}): {}", to_string(res.run.outcome), states));
    trace(res.ok ? "ok" : "FAIL: " + res.failure);
  }
  return res;
}

}  // namespace tou::sim
