#include "sim/transfer.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "sim/app_endpoint.hpp"
#include "sim/rng.hpp"

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

TransferResult run_transfer(uint64_t seed, const TransferOptions& o) {
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
    fail(fmt::format("hang at {:.6f}s (nothing left to happen, not both CLOSED): {}",
                     seconds(res.duration), states));
  }
  if (!client.record().failure.empty()) fail(client.record().failure + "; " + states);
  if (!server.record().failure.empty()) fail(server.record().failure + "; " + states);

  bool long_partition_hit = false;
  if (o.connection.user_timeout.count() > 0) {
    for (const Partition& p : o.link.partitions) {
      if (p.end - p.start > o.connection.user_timeout && (!data_done || p.start < *data_done)) {
        long_partition_hit = true;
      }
    }
  }
  res.expected_error =
      o.close != CloseMode::kAbort &&
      (o.expect == Expectation::kError || (o.expect == Expectation::kAuto && long_partition_hit));

  if (o.close == CloseMode::kAbort) {
    if (!client.record().aborted) fail("client never reached the abort point; " + states);
    if (server.connection().error() != ECONNRESET) {
      fail("server did not end with ECONNRESET after the client's abort; " + states);
    }
  } else if (res.expected_error) {
    for (const AppEndpoint* e : {&client, &server}) {
      const int err = e->connection().error();
      const bool clean_ok = o.expect == Expectation::kAuto && err == 0 && e->app_complete();
      if (!is_connection_error(err) && !clean_ok) {
        fail(
            fmt::format("{} reported no ETIMEDOUT/ECONNRESET after a partition longer than "
                        "the user timeout; {}",
                        e->name(), states));
      }
    }
  } else {
    for (const auto& [self, peer] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      if (!self->app_complete()) {
        fail(fmt::format("{} did not get all data and EOF; {}", self->name(), states));
      } else if (self->connection().error() != 0) {
        if (late_reset(*self, *peer)) {
          ++res.late_resets;
        } else {
          fail(fmt::format("{} ended with an error; {}", self->name(), states));
        }
      }
    }
  }
  res.ok = res.failure.empty();
  return res;
}

}  // namespace tou::sim
