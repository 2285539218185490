// packetdrill-style scripted tests against one sans-I/O Connection: inject
// segments at explicit virtual times, expect exactly these segments back.
//
//   ScriptTest t;                       // our ISS 1000, the peer's ISS 5000
//   t.conn().connect(t.now(), t.params());
//   t.expect(seg().syn().seq(1000));
//   t.inject(seg().syn().ack_flag().seq(5000).ack(1001).mss(1460));
//   t.expect(seg().ack_flag().seq(1001).ack(5001));
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/connection.hpp"

namespace tou::script {

// A segment template: fields left unset match anything in expect().
struct Seg {
  SegmentHeader h;
  std::vector<uint8_t> payload;
  // Which fields expect() compares.
  bool check_seq = false, check_ack = false, check_win = false, check_len = true;
  bool check_options = false;

  Seg& syn() {
    h.flags |= flags::kSyn;
    return *this;
  }
  Seg& fin() {
    h.flags |= flags::kFin;
    return *this;
  }
  Seg& rst() {
    h.flags |= flags::kRst;
    return *this;
  }
  Seg& psh() {
    h.flags |= flags::kPsh;
    return *this;
  }
  Seg& ack_flag() {
    h.flags |= flags::kAck;
    return *this;
  }
  Seg& seq(uint32_t s) {
    h.seq = SeqNum(s);
    check_seq = true;
    return *this;
  }
  Seg& ack(uint32_t a) {
    h.ack = SeqNum(a);
    h.flags |= flags::kAck;
    check_ack = true;
    return *this;
  }
  Seg& win(uint16_t w) {
    h.window = w;
    check_win = true;
    return *this;
  }
  Seg& data(size_t n, uint8_t fill = 'x') {
    payload.assign(n, fill);
    return *this;
  }
  Seg& bytes(std::vector<uint8_t> b) {
    payload = std::move(b);
    return *this;
  }
  Seg& mss(uint16_t m) {
    h.options.mss = m;
    return *this;
  }
  Seg& wscale(uint8_t s) {
    h.options.window_scale = s;
    return *this;
  }
  Seg& sack_ok() {
    h.options.sack_permitted = true;
    return *this;
  }
  Seg& ts(uint32_t val, uint32_t ecr) {
    h.options.timestamps = Timestamps{val, ecr};
    return *this;
  }
  Seg& sack(uint32_t left, uint32_t right) {
    h.options.sack_blocks[h.options.sack_count++] = SackBlock{SeqNum(left), SeqNum(right)};
    return *this;
  }
  Seg& any_len() {
    check_len = false;
    return *this;
  }
  Seg& options_exact() {
    check_options = true;
    return *this;
  }
};
inline Seg seg() {
  return Seg{};
}

struct Captured {
  SegmentHeader h;
  std::vector<uint8_t> payload;
  std::string str() const { return to_string(h, payload.size()); }
};

// Every controller the registry knows, for tests that every one of them must pass.
inline std::vector<std::string> all_controllers() {
  std::vector<std::string> names;
  for (std::string_view n : congestion_controller_names()) names.emplace_back(n);
  return names;
}

class ScriptTest {
 public:
  static constexpr uint16_t kLocalPort = 4000;
  static constexpr uint16_t kRemotePort = 5000;
  static constexpr uint32_t kIss = 1000;
  static constexpr uint32_t kPeerIss = 5000;

  explicit ScriptTest(ConnectionConfig config = default_config()) : conn_(config) {}

  // Small, deterministic defaults: no timestamps or window scaling unless a test asks.
  static ConnectionConfig default_config() {
    ConnectionConfig c;
    c.timestamps = false;
    c.window_scaling = false;
    c.sack = false;
    c.pacing = false;
    c.send_buffer = 64 * 1024;
    c.receive_buffer = 64 * 1024;
    c.msl = std::chrono::seconds(1);
    return c;
  }

  Connection& conn() { return conn_; }
  Instant now() const { return now_; }
  OpenParams params() const { return {kLocalPort, kRemotePort, SeqNum(kIss), 0}; }

  // Moves virtual time forward to t (ms since start), running every timer due
  // on the way and capturing what the connection sends.
  void at_ms(int64_t ms) { advance_to(instant_from_us(ms * 1000)); }
  void advance_to(Instant t);

  // Sends a segment from the peer (ports filled in) and captures the replies.
  void inject(const Seg& s);
  // Raw bytes from the peer.
  void inject_raw(const std::vector<uint8_t>& datagram);

  // Next captured segment must match the template.
  void expect(const Seg& s, const char* what = "");
  void expect_nothing();
  // Drains poll_transmit into the capture queue.
  void drain();
  size_t pending() const { return out_.size(); }
  Captured take();

  // Writes n bytes through the API and captures what goes out.
  size_t app_send(size_t n, uint8_t fill = 'a');
  std::vector<uint8_t> app_recv(size_t max = 1 << 20);
  // Writes `segments` full 1460-byte segments and takes them off the wire
  // unchecked: the usual preamble of a loss-recovery test.
  void send_flight(int segments) {
    app_send(static_cast<size_t>(segments) * 1460);
    for (int i = 0; i < segments; ++i) take();
  }

  // Full handshakes, leaving the queue empty and the connection ESTABLISHED.
  void establish_active(const Seg& synack_extra = Seg{});
  void establish_passive(const Seg& syn_extra = Seg{});

 private:
  Connection conn_;
  Instant now_{};
  std::deque<Captured> out_;
};

}  // namespace tou::script
