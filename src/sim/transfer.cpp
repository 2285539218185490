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

// How long the link was down (any partition) during [from, to). Partitions
// may overlap; their union counts once.
Duration downtime(const std::vector<Partition>& partitions, Instant from, Instant to) {
  std::vector<Partition> parts;
  for (const Partition& p : partitions) {
    const Instant a = std::max(p.start, from), b = std::min(p.end, to);
    if (b > a) parts.push_back({a, b});
  }
  std::sort(parts.begin(), parts.end(),
            [](const Partition& x, const Partition& y) { return x.start < y.start; });
  Duration down{0};
  Instant covered = from;
  for (const Partition& p : parts) {
    const Instant a = std::max(p.start, covered);
    if (p.end > a) down += p.end - a;
    covered = std::max(covered, p.end);
  }
  return down;
}

std::string stall_text(const Stall& s) {
  return fmt::format("{:.3f}s without progress ({:.3f}s to {:.3f}s)", seconds(s.length()),
                     seconds(s.from - kTimeZero), seconds(s.to - kTimeZero));
}

}  // namespace

bool partitions_explain(const Stall& stall, const TransferOptions& o) {
  const Duration down = downtime(o.link.partitions, stall.from, stall.to);
  if (down.count() <= 0) return false;
  const LinkConfig& l = o.link;
  const Duration round_trip = 2 * (l.delay + l.jitter + l.reorder_delay);
  const Duration slack = o.connection.rtt.initial_rto + round_trip;
  const Duration up = stall.length() - down;
  return up <= std::min(down, o.connection.rtt.max_rto) + slack;
}

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
  ProgressClock progress;
  client.set_progress(&progress);
  server.set_progress(&progress);
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
  // A handshake that failed leaves a listener that never saw a valid SYN in
  // LISTEN, where a listener rests: the client's error, not a hang.
  const bool idle_listener = res.run.outcome == RunOutcome::kIdle && client.quiescent() &&
                             !client.record().established_at &&
                             server.connection().state() == TcpState::kListen &&
                             !server.connection().next_deadline();
  if (res.run.hit_limit() || (!idle_listener && (!client.quiescent() || !server.quiescent()))) {
    progress.stall_until(res.run.end);  // the run ended stuck: that stall counts too
  }
  res.longest_stall = progress.longest();
  res.stall_explained = partitions_explain(res.longest_stall, o);
  if (res.run.hit_limit()) {
    fail(fmt::format("{} at {:.6f}s: {}", to_string(res.run.outcome), seconds(res.duration),
                     states));
  } else if (!idle_listener && (!client.quiescent() || !server.quiescent())) {
    std::string hint;
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
  // An error the partitions explain: the stall that ended in it (see transfer.hpp).
  // An error is explained when its own stall is, or when it came after the
  // peer had given up for an explained reason: the peer's reset (ECONNRESET),
  // or keepalive probes into the void after it (ETIMEDOUT).
  auto explained_timeout = [&o](const AppEndpoint& e) {
    return e.connection().error() == ETIMEDOUT && e.record().error_at &&
           partitions_explain(e.record().error_stall, o);
  };
  auto explained_error = [&](const AppEndpoint& e) {
    if (!is_connection_error(e.connection().error()) || !e.record().error_at) return false;
    const AppEndpoint& peer = &e == &client ? server : client;
    return explained_timeout(e) ||
           (explained_timeout(peer) && *peer.record().error_at <= *e.record().error_at);
  };
  // Why a side's error is not an expected one.
  auto unexplained = [&](const AppEndpoint& e) {
    const int err = e.connection().error();
    std::string why = fmt::format("{} ended with {}", e.name(),
                                  err == ETIMEDOUT    ? "ETIMEDOUT"
                                  : err == ECONNRESET ? "ECONNRESET"
                                                      : fmt::format("errno {}", err));
    if (!e.record().established_at && err == ETIMEDOUT) {
      why += fmt::format(" in the handshake after {} SYN retransmissions",
                         e.connection().stats().syn_retransmits);
    }
    if (e.record().error_at) {
      why += " after " + stall_text(e.record().error_stall);
    }
    return why + " that no partition explains; " + states;
  };
  const bool auto_error =
      o.expect == Expectation::kAuto && (explained_error(client) || explained_error(server));
  // May the partition have caused an error outcome?
  const bool may_fail = o.expect == Expectation::kError || auto_error;
  res.expected_error =
      o.close != CloseMode::kAbort && may_fail && (!clean || o.expect == Expectation::kError);
  // An error side is acceptable under kError, or under kAuto when explained.
  auto acceptable_error = [&](const AppEndpoint& e) {
    return is_connection_error(e.connection().error()) &&
           (o.expect == Expectation::kError || explained_error(e));
  };

  if (o.close == CloseMode::kAbort) {
    // The server learns of the abort from the reset, or, when a partition ate the
    // reset and its retransmissions, from its user timeout.
    if (client.record().aborted) {
      const int err = server.connection().error();
      if (err == ETIMEDOUT && o.expect == Expectation::kAuto && !explained_error(server)) {
        fail(unexplained(server));
      } else if (err != ECONNRESET && !(may_fail && err == ETIMEDOUT)) {
        fail("server did not end with ECONNRESET after the client's abort; " + states);
      }
    } else if (may_fail) {
      res.expected_error = true;  // the partition struck before the abort point
      for (const AppEndpoint* e : {&client, &server}) {
        if (!is_connection_error(e->connection().error())) {
          if (e == &server && idle_listener) continue;  // never got a SYN
          fail(fmt::format("{} did not report ETIMEDOUT/ECONNRESET after the partition; {}",
                           e->name(), states));
        } else if (!acceptable_error(*e)) {
          fail(unexplained(*e));
        }
      }
    } else {
      for (const AppEndpoint* e : {&client, &server}) {
        if (e->connection().error() != 0 && o.expect == Expectation::kAuto) fail(unexplained(*e));
      }
      fail("client never reached the abort point; " + states);
    }
  } else if (res.expected_error) {
    for (const AppEndpoint* e : {&client, &server}) {
      const int err = e->connection().error();
      const bool clean_ok = o.expect == Expectation::kAuto && err == 0 && e->app_complete();
      if (e == &server && idle_listener) continue;  // never got a SYN: nothing to report
      if (is_connection_error(err) && !acceptable_error(*e)) {
        fail(unexplained(*e));
      } else if (!is_connection_error(err) && !clean_ok) {
        fail(fmt::format("{} did not report ETIMEDOUT/ECONNRESET after the partition; {}",
                         e->name(), states));
      }
    }
  } else {
    for (const auto& [self, peer] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      const int err = self->connection().error();
      if (err != 0 && !late_reset(*self, *peer)) {
        fail(o.expect == Expectation::kAuto && is_connection_error(err)
                 ? unexplained(*self)
                 : fmt::format("{} ended with an error; {}", self->name(), states));
      } else if (!self->app_complete()) {
        fail(fmt::format("{} did not get all data and EOF; {}", self->name(), states));
      }
    }
    res.late_resets = late;
  }
  // However the run ended: a long stall needs a partition to explain it.
  if (!res.stall_explained && res.longest_stall.length() > o.max_stall) {
    fail(fmt::format("stalled: {}, longer than the {:.3f}s bound, and no partition explains it; {}",
                     stall_text(res.longest_stall), seconds(o.max_stall), states));
  }
  res.ok = res.failure.empty();
  if (trace) {
    trace(fmt::format("end ({}): {}", to_string(res.run.outcome), states));
    trace(res.ok ? "ok" : "FAIL: " + res.failure);
  }
  return res;
}

}  // namespace tou::sim
