// A tou::Connection with a scripted application on top, as a network Endpoint.
// The application writes `bytes_to_send` bytes of a DataPattern as fast as
// send() takes them, reads everything with recv() and checks every byte against
// the peer's pattern, and closes as its CloseRole says. Like the engine's
// demultiplexer, the endpoint answers datagrams that arrive once the connection
// is CLOSED with a reset (make_reset_reply, RFC 9293 3.10.7.1).
//
// The application acts only once the connection is synchronized (as a real one
// waits for connect() / accept()), and after every event of its endpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/connection.hpp"
#include "sim/data_pattern.hpp"
#include "sim/network.hpp"
#include "sim/progress.hpp"

namespace tou::sim {

enum class CloseRole : uint8_t {
  kActive,   // shutdown() once every byte is queued; close() after reading EOF
  kPassive,  // close() once EOF is read and every byte is queued (no shutdown before)
  kAbort,    // abort() once abort_after bytes have been read
};

struct AppPlan {
  uint64_t bytes_to_send = 0;
  uint64_t bytes_to_receive = 0;  // what the peer sends; EOF must come after exactly this many
  uint64_t send_key = 0;          // DataPattern of our bytes
  uint64_t receive_key = 0;       // DataPattern of the peer's bytes
  CloseRole role = CloseRole::kActive;
  uint64_t abort_after = 0;  // kAbort: bytes read before abort()
  double steady_state_from =
      0.5;  // fraction of bytes_to_receive where the steady-state clock starts
};

// What the application saw.
struct AppRecord {
  uint64_t sent = 0;      // bytes send() accepted
  uint64_t received = 0;  // bytes recv() returned, all checked
  bool eof = false;
  bool shut = false;     // shutdown() or close() called
  bool closed = false;   // close() called
  bool aborted = false;  // abort() called
  std::optional<Instant> established_at;
  std::optional<Instant> first_byte_at;  // first byte read
  std::optional<Instant> last_byte_at;   // last byte read
  std::optional<Instant> eof_at;
  std::optional<Instant> steady_mark_at;  // received reached steady_state_from * bytes_to_receive
  uint64_t steady_mark_bytes = 0;
  std::optional<Instant> closed_at;  // the connection reached CLOSED
  std::optional<Instant> error_at;   // it reached CLOSED with an error
  Stall error_stall;                 // the stall of our acknowledgements that ended in it
  bool error_event = false;          // ConnectionEvent::kError seen
  uint64_t resets_sent = 0;          // answers to datagrams after CLOSED
  std::string failure;               // first application-level failure (wrong byte, EOF early, ...)
};

class AppEndpoint : public Endpoint {
 public:
  AppEndpoint(const char* name, const ConnectionConfig& config, const AppPlan& plan);

  // Receives one line per application call and state change (optional).
  void set_log(std::function<void(Instant, const std::string&)> log) { log_ = std::move(log); }
  // Where this endpoint reports delivery progress (optional; shared with the
  // peer). Besides, it keeps its own clock of when the peer last acknowledged
  // something of ours (data, FIN, SYN): the user timeout's view, whose stall
  // ends in an ETIMEDOUT (AppRecord::error_stall).
  void set_progress(ProgressClock* run) { progress_ = run; }
  // Sets the peer all datagrams go to; call before the run.
  void set_peer(EndpointId peer) { peer_ = peer; }
  // Opens the connection (connect or listen) at `now`.
  void connect(Instant now, const OpenParams& params);
  void listen(Instant now, const OpenParams& params);

  void on_datagram(Instant now, EndpointId from, std::span<const uint8_t> datagram) override;
  Transmit poll_transmit(Instant now, std::span<uint8_t> buf) override;
  std::optional<Instant> next_deadline() const override;
  void on_timer(Instant now) override;

  const Connection& connection() const { return conn_; }
  const AppPlan& plan() const { return plan_; }
  const AppRecord& record() const { return rec_; }
  const char* name() const { return name_; }
  // CLOSED, with nothing pending: the endpoint will never act again on its own.
  bool quiescent() const;
  // Every byte sent and queued, every byte received, EOF read.
  bool app_complete() const;
  // One line: "client ESTABLISHED error 0 sent 5/5 received 3/5 eof no deadline 1.2s".
  std::string describe() const;

 private:
  std::string cc_state() const;
  // `network`: a datagram arrived (a state change it caused is progress).
  void drive(Instant now, bool network = false);
  void read_all(Instant now);
  void write_all(Instant now);
  void drain_events(Instant now);
  void app_fail(Instant now, std::string reason);
  void log(Instant now, const std::string& what);
  void note_state(Instant now, bool network);  // logs a state change since the last call
  void note_progress(Instant now, bool acknowledged);

  const char* name_;
  Connection conn_;
  AppPlan plan_;
  AppRecord rec_;
  DataPattern out_;
  DataPattern in_;
  EndpointId peer_ = 0;
  bool synchronized_ = false;
  std::vector<std::vector<uint8_t>> pending_resets_;
  std::vector<uint8_t> chunk_;
  TcpState logged_state_ = TcpState::kClosed;
  std::function<void(Instant, const std::string&)> log_;
  ProgressClock* progress_ = nullptr;
  ProgressClock acked_;  // the peer acknowledged our data, FIN or SYN
};

}  // namespace tou::sim
