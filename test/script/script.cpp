#include "script/script.hpp"

#include <array>

namespace tou::script {

void ScriptTest::drain() {
  std::array<uint8_t, 70000> buf;
  for (int i = 0; i < 10000; ++i) {
    size_t n = conn_.poll_transmit(now_, buf);
    if (n == 0) return;
    ParseResult r = parse_segment({buf.data(), n});
    ASSERT_TRUE(r.ok()) << "the connection emitted a malformed segment: " << to_string(r.error);
    out_.push_back({r.segment.header, {r.segment.payload.begin(), r.segment.payload.end()}});
  }
  FAIL() << "poll_transmit did not stop";
}

void ScriptTest::advance_to(Instant t) {
  drain();
  for (int i = 0; i < 100000; ++i) {
    std::optional<Instant> d = conn_.next_deadline();
    if (!d || *d > t) break;
    now_ = std::max(now_, *d);
    conn_.on_timer(now_);
    drain();
  }
  now_ = std::max(now_, t);
}

void ScriptTest::inject(const Seg& s) {
  SegmentHeader h = s.h;
  h.src_port = kRemotePort;
  h.dst_port = kLocalPort;
  std::vector<uint8_t> buf(h.wire_size() + s.payload.size());
  emit_segment(h, s.payload, buf);
  inject_raw(buf);
}

void ScriptTest::inject_raw(const std::vector<uint8_t>& datagram) {
  conn_.on_datagram(now_, datagram);
  drain();
}

Captured ScriptTest::take() {
  drain();
  if (out_.empty()) {
    ADD_FAILURE() << "expected a segment, none was sent";
    return {};
  }
  Captured c = out_.front();
  out_.pop_front();
  return c;
}

void ScriptTest::expect(const Seg& s, const char* what) {
  drain();
  ASSERT_FALSE(out_.empty()) << "expected " << to_string(s.h, s.payload.size()) << " " << what
                             << ", nothing was sent (state " << to_string(conn_.state()) << ")";
  Captured c = out_.front();
  out_.pop_front();
  std::string want = to_string(s.h, s.payload.size());
  std::string ctx = "\n  want: " + want + "\n  got:  " + c.str() + "\n  " + what;
  EXPECT_EQ(c.h.flags, s.h.flags) << ctx;
  if (s.check_seq) {
    EXPECT_EQ(c.h.seq.raw(), s.h.seq.raw()) << ctx;
  }
  if (s.check_ack) {
    EXPECT_EQ(c.h.ack.raw(), s.h.ack.raw()) << ctx;
  }
  if (s.check_win) {
    EXPECT_EQ(c.h.window, s.h.window) << ctx;
  }
  if (s.check_len) {
    EXPECT_EQ(c.payload.size(), s.payload.size()) << ctx;
  }
  if (s.check_options) {
    EXPECT_EQ(c.h.options.mss, s.h.options.mss) << ctx;
    EXPECT_EQ(c.h.options.window_scale, s.h.options.window_scale) << ctx;
    EXPECT_EQ(c.h.options.sack_permitted, s.h.options.sack_permitted) << ctx;
    EXPECT_EQ(c.h.options.timestamps.has_value(), s.h.options.timestamps.has_value()) << ctx;
  }
  if (s.h.options.sack_count > 0) {
    ASSERT_EQ(c.h.options.sack_count, s.h.options.sack_count) << ctx;
    for (size_t i = 0; i < s.h.options.sack_count; ++i) {
      EXPECT_EQ(c.h.options.sack_blocks[i], s.h.options.sack_blocks[i]) << ctx;
    }
  }
}

void ScriptTest::expect_nothing() {
  drain();
  if (!out_.empty()) {
    ADD_FAILURE() << "expected nothing, got " << out_.front().str();
    out_.clear();
  }
}

size_t ScriptTest::app_send(size_t n, uint8_t fill) {
  std::vector<uint8_t> data(n, fill);
  size_t taken = conn_.send(now_, data);
  drain();
  return taken;
}

std::vector<uint8_t> ScriptTest::app_recv(size_t max) {
  std::vector<uint8_t> data(max);
  size_t n = conn_.recv(now_, data);
  data.resize(n);
  drain();
  return data;
}

void ScriptTest::establish_active(const Seg& synack_extra) {
  conn_.connect(now_, params());
  Captured syn = take();
  ASSERT_TRUE(syn.h.has(flags::kSyn));
  Seg synack = synack_extra;
  synack.syn().seq(kPeerIss).ack(kIss + 1);
  if (!synack.h.options.mss) synack.mss(1460);
  if (synack.h.window == 0) synack.h.window = 65535;
  inject(synack);
  expect(seg().ack_flag().seq(kIss + 1).ack(kPeerIss + 1), "handshake ACK");
  ASSERT_EQ(conn_.state(), TcpState::kEstablished);
}

void ScriptTest::establish_passive(const Seg& syn_extra) {
  conn_.listen(params());
  Seg syn = syn_extra;
  syn.syn().seq(kPeerIss);
  if (!syn.h.options.mss) syn.mss(1460);
  if (syn.h.window == 0) syn.h.window = 65535;
  inject(syn);
  expect(seg().syn().ack(kPeerIss + 1).seq(kIss), "SYN-ACK");
  Seg ack;
  ack.seq(kPeerIss + 1).ack(kIss + 1).win(65535);
  if (syn.h.options.timestamps) ack.ts(syn.h.options.timestamps->value + 1, 1);
  inject(ack);
  ASSERT_EQ(conn_.state(), TcpState::kEstablished);
  expect_nothing();
}

}  // namespace tou::script
