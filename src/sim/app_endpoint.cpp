#include "sim/app_endpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "cc/bbr.hpp"
#include "core/tcp_state.hpp"
#include "wire/segment.hpp"

namespace tou::sim {

namespace {

constexpr size_t kChunk = 16 * 1024;  // application read/write size

std::string errno_name(int err) {
  switch (err) {
    case 0:
      return "0";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case ECONNRESET:
      return "ECONNRESET";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case ECONNABORTED:
      return "ECONNABORTED";
    case EPIPE:
      return "EPIPE";
    default:
      return fmt::format("errno {}", err);
  }
}

std::string time_or_none(const std::optional<Instant>& t) {
  if (!t) return "none";
  return fmt::format("{:.6f}s", static_cast<double>(to_us(*t)) / 1e6);
}

}  // namespace

AppEndpoint::AppEndpoint(const char* name, const ConnectionConfig& config, const AppPlan& plan)
    : name_(name),
      conn_(config),
      plan_(plan),
      out_(plan.send_key),
      in_(plan.receive_key),
      chunk_(kChunk) {}

void AppEndpoint::connect(Instant now, const OpenParams& params) {
  conn_.connect(now, params);
  drive(now);
}

void AppEndpoint::listen(Instant now, const OpenParams& params) {
  conn_.listen(params);
  drive(now);
}

void AppEndpoint::on_datagram(Instant now, EndpointId /*from*/, std::span<const uint8_t> datagram) {
  if (conn_.state() == TcpState::kClosed) {
    // No connection any more: answer as the demultiplexer would (RFC 9293 3.10.7.1).
    const ParseResult parsed = parse_segment(datagram);
    if (parsed.ok()) {
      std::vector<uint8_t> reply(kTcpHeaderSize + kMaxOptionsSize);
      const size_t n = make_reset_reply(parsed.segment, reply);
      if (n > 0) {
        reply.resize(n);
        pending_resets_.push_back(std::move(reply));
        ++rec_.resets_sent;
        log(now, "answers with a reset (no connection)");
      }
    }
  } else {
    const uint64_t acked = conn_.stats().bytes_acked;
    conn_.on_datagram(now, datagram);
    if (conn_.stats().bytes_acked > acked) acked_.note(now);  // the user timeout restarts
  }
  drive(now, /*network=*/true);
}

Transmit AppEndpoint::poll_transmit(Instant now, std::span<uint8_t> buf) {
  if (!pending_resets_.empty()) {
    const std::vector<uint8_t>& r = pending_resets_.front();
    std::copy(r.begin(), r.end(), buf.begin());
    const size_t n = r.size();
    pending_resets_.erase(pending_resets_.begin());
    return {n, peer_};
  }
  return {conn_.poll_transmit(now, buf), peer_};
}

// BBR's model in the trace, to tell which bound holds the sender back.
std::string AppEndpoint::cc_state() const {
  const auto* bbr = dynamic_cast<const Bbr*>(&conn_.congestion_controller());
  if (bbr == nullptr) return {};
  auto bytes = [](uint64_t v) {
    return v == std::numeric_limits<uint64_t>::max() ? std::string("inf") : std::to_string(v);
  };
  return fmt::format(" bbr {} bw {:.0f} inflight_hi {} inflight_lo {} pacing {}",
                     Bbr::to_string(bbr->state()), bbr->bw() * 8, bytes(bbr->inflight_hi()),
                     bytes(bbr->inflight_lo()), bbr->pacing_rate(Duration{0}).value_or(0) * 8);
}

std::optional<Instant> AppEndpoint::next_deadline() const {
  return conn_.next_deadline();
}

void AppEndpoint::on_timer(Instant now) {
  conn_.on_timer(now);
  if (log_) {
    const ConnectionInfo i = conn_.info();
    log(now,
        fmt::format("after timer: srtt {}ms rttvar {}ms rto {}ms cwnd {} ssthresh {} flight {} "
                    "rto_timeouts {}",
                    to_us(i.srtt) / 1000.0, to_us(i.rttvar) / 1000.0, to_us(i.rto) / 1000.0, i.cwnd,
                    i.ssthresh, i.flight_size, i.stats.rto_timeouts) +
            cc_state());
  }
  drive(now);
}

bool AppEndpoint::quiescent() const {
  return conn_.state() == TcpState::kClosed && !conn_.next_deadline() && pending_resets_.empty();
}

bool AppEndpoint::app_complete() const {
  return rec_.failure.empty() && rec_.sent == plan_.bytes_to_send &&
         rec_.received == plan_.bytes_to_receive && rec_.eof;
}

std::string AppEndpoint::describe() const {
  return fmt::format("{} {} error {} sent {}/{} received {}/{} eof {}{} deadline {}", name_,
                     to_string(conn_.state()), errno_name(conn_.error()), rec_.sent,
                     plan_.bytes_to_send, rec_.received, plan_.bytes_to_receive,
                     rec_.eof ? "yes" : "no", rec_.aborted ? " aborted" : "",
                     time_or_none(conn_.next_deadline()));
}

void AppEndpoint::log(Instant now, const std::string& what) {
  if (log_) log_(now, fmt::format("{} {}", name_, what));
}

void AppEndpoint::app_fail(Instant now, std::string reason) {
  if (rec_.failure.empty()) rec_.failure = fmt::format("{}: {}", name_, reason);
  log(now, "FAILURE " + reason);
}

void AppEndpoint::note_progress(Instant now, bool acknowledged) {
  if (progress_ != nullptr) progress_->note(now);
  if (acknowledged) acked_.note(now);
}

namespace {

// A state change that says the peer acknowledged us: the handshake, or our FIN.
bool acknowledges_us(TcpState from, TcpState to) {
  using S = TcpState;
  if (to == S::kSynReceived || to == S::kEstablished) return true;
  const bool our_fin_sent = from == S::kFinWait1 || from == S::kClosing || from == S::kLastAck;
  return our_fin_sent && (to == S::kFinWait2 || to == S::kTimeWait || to == S::kClosed);
}

}  // namespace

void AppEndpoint::note_state(Instant now, bool network) {
  if (conn_.state() == logged_state_) return;
  log(now, fmt::format("{} -> {}{}", to_string(logged_state_), to_string(conn_.state()),
                       conn_.error() != 0 ? " error " + errno_name(conn_.error()) : ""));
  if (conn_.state() == TcpState::kClosed && conn_.error() != 0) {
    // An error ends a stall without being progress (progress.hpp).
    if (!rec_.error_at) {
      rec_.error_at = now;
      if (progress_ != nullptr) progress_->stall_until(now);
      rec_.error_stall = acked_.stall_until(now);
    }
  } else if (network && logged_state_ != TcpState::kTimeWait) {
    // A segment got through (TIME-WAIT's end is a timer).
    note_progress(now, acknowledges_us(logged_state_, conn_.state()));
  }
  logged_state_ = conn_.state();
}

void AppEndpoint::drive(Instant now, bool network) {
  note_state(now, network);
  if (!synchronized_ && is_synchronized(conn_.state())) {
    synchronized_ = true;
    rec_.established_at = now;
  }
  if (!rec_.aborted) {
    read_all(now);
    if (synchronized_ && !rec_.aborted && conn_.state() != TcpState::kClosed) {
      write_all(now);
      switch (plan_.role) {
        case CloseRole::kActive:
          if (!rec_.shut && rec_.sent == plan_.bytes_to_send) {
            log(now, "shutdown()");
            conn_.shutdown(now);
            rec_.shut = true;
          }
          if (rec_.eof && rec_.shut && !rec_.closed) {
            log(now, "close()");
            conn_.close(now);
            rec_.closed = true;
          }
          break;
        case CloseRole::kPassive:
          if (rec_.eof && rec_.sent == plan_.bytes_to_send && !rec_.closed) {
            log(now, "close()");
            conn_.close(now);
            rec_.shut = rec_.closed = true;
          }
          break;
        case CloseRole::kAbort:
          break;  // read_all() aborts midway
      }
    }
  }
  drain_events(now);
  note_state(now, false);
  if (conn_.state() == TcpState::kClosed && !rec_.closed_at) rec_.closed_at = now;
}

void AppEndpoint::read_all(Instant now) {
  for (;;) {
    size_t want = chunk_.size();
    if (plan_.role == CloseRole::kAbort) {
      want = static_cast<size_t>(std::min<uint64_t>(want, plan_.abort_after - rec_.received));
    }
    const size_t n = want == 0 ? 0 : conn_.recv(now, std::span(chunk_.data(), want));
    if (n == 0) break;
    const std::span<const uint8_t> got(chunk_.data(), n);
    if (rec_.received + n > plan_.bytes_to_receive) {
      app_fail(now, fmt::format("received {} bytes, more than the {} sent", rec_.received + n,
                                plan_.bytes_to_receive));
    } else if (auto bad = in_.mismatch(rec_.received, got)) {
      app_fail(now, fmt::format("byte {} of the stream is wrong (got {:#04x}, want {:#04x})",
                                rec_.received + *bad, got[*bad], in_.at(rec_.received + *bad)));
    }
    note_progress(now, /*acknowledged=*/false);
    if (!rec_.first_byte_at) rec_.first_byte_at = now;
    rec_.last_byte_at = now;
    rec_.received += n;
    const auto mark = static_cast<uint64_t>(
        std::ceil(plan_.steady_state_from * static_cast<double>(plan_.bytes_to_receive)));
    if (!rec_.steady_mark_at && rec_.received >= mark) {
      rec_.steady_mark_at = now;
      rec_.steady_mark_bytes = rec_.received;
    }
    if (plan_.role == CloseRole::kAbort && rec_.received >= plan_.abort_after) {
      log(now, fmt::format("abort() after reading {} bytes", rec_.received));
      conn_.abort(now);
      rec_.aborted = true;
      return;
    }
  }
  if (!rec_.eof && conn_.read_eof()) {
    rec_.eof = true;
    rec_.eof_at = now;
    note_progress(now, /*acknowledged=*/false);
    log(now, fmt::format("read EOF after {} bytes", rec_.received));
    if (rec_.received != plan_.bytes_to_receive) {
      app_fail(now, fmt::format("EOF after {} of {} bytes", rec_.received, plan_.bytes_to_receive));
    }
  }
}

void AppEndpoint::write_all(Instant now) {
  while (rec_.sent < plan_.bytes_to_send) {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>({chunk_.size(), plan_.bytes_to_send - rec_.sent, conn_.send_space()}));
    if (n == 0) break;
    const std::span<uint8_t> data(chunk_.data(), n);
    out_.fill(rec_.sent, data);
    const size_t taken = conn_.send(now, data);
    rec_.sent += taken;
    if (taken < n) break;
  }
}

void AppEndpoint::drain_events(Instant /*now*/) {
  while (std::optional<ConnectionEvent> e = conn_.poll_event()) {
    if (*e == ConnectionEvent::kError) rec_.error_event = true;
  }
}

}  // namespace tou::sim
