// Fuzzes the whole input path of one connection: a core in a state chosen by
// the input (LISTEN, SYN-SENT or ESTABLISHED) receives a sequence of
// datagrams (raw bytes, or well-formed segments with fuzzed fields near the
// live sequence numbers, which reach deeper) mixed with API calls and time
// steps. Invariants: no crash or sanitizer report, every emitted datagram
// parses, and a CLOSED connection holds no timers.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdlib>
#include <vector>

#include "core/connection.hpp"

namespace {

using namespace tou;

constexpr uint16_t kLocal = 4000, kRemote = 5000;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Harness {
  Connection conn;
  Instant now{};
  std::array<uint8_t, 70000> out{};
  SeqNum peer_seq{5001};  // what the fuzzed peer believes it sends next

  explicit Harness(const ConnectionConfig& c) : conn(c) {}

  void drain() {
    for (int i = 0; i < 10000; ++i) {
      size_t n = conn.poll_transmit(now, out);
      if (n == 0) return;
      check(parse_segment({out.data(), n}).ok());
    }
    std::abort();  // poll_transmit never stops
  }
  void feed(const SegmentHeader& h, std::span<const uint8_t> payload) {
    std::vector<uint8_t> buf(h.wire_size() + payload.size());
    emit_segment(h, payload, buf);
    conn.on_datagram(now, buf);
    drain();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ConnectionConfig config;
  config.timestamps = in.ConsumeBool();
  config.sack = in.ConsumeBool();
  config.window_scaling = in.ConsumeBool();
  config.nodelay = in.ConsumeBool();
  config.keepalive = in.ConsumeBool();
  config.send_buffer = config.receive_buffer = 16 * 1024;
  config.msl = std::chrono::milliseconds(500);
  Harness h(config);
  OpenParams params{kLocal, kRemote, SeqNum(1000), 0};

  int start = in.ConsumeIntegralInRange(0, 2);
  if (start == 0) {
    h.conn.listen(params);
  } else {
    h.conn.connect(h.now, params);
    h.drain();
    if (start == 2) {  // complete the handshake
      SegmentHeader synack;
      synack.src_port = kRemote;
      synack.dst_port = kLocal;
      synack.seq = SeqNum(5000);
      synack.ack = SeqNum(1001);
      synack.flags = flags::kSyn | flags::kAck;
      synack.window = 65535;
      synack.options.mss = 1000;
      synack.options.sack_permitted = true;
      synack.options.window_scale = 2;
      synack.options.timestamps = Timestamps{1, 1};
      h.feed(synack, {});
    }
  }

  std::vector<uint8_t> app(4096, 0xab);
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange(0, 7)) {
      case 0: {  // raw datagram
        std::vector<uint8_t> raw = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange(0, 200));
        h.conn.on_datagram(h.now, raw);
        h.drain();
        break;
      }
      case 1:
      case 2: {  // a well-formed segment near the live sequence space
        SegmentHeader s;
        s.src_port = kRemote;
        s.dst_port = kLocal;
        s.seq = h.peer_seq + static_cast<uint32_t>(in.ConsumeIntegralInRange<int32_t>(-3000, 3000));
        s.ack = SeqNum(1001) + in.ConsumeIntegralInRange<uint32_t>(0, 40000);
        s.flags = in.ConsumeIntegral<uint8_t>();
        if ((s.flags & (flags::kSyn | flags::kRst)) == (flags::kSyn | flags::kRst))
          s.flags &= ~flags::kRst;
        if ((s.flags & (flags::kSyn | flags::kFin)) == (flags::kSyn | flags::kFin))
          s.flags &= ~flags::kFin;
        if ((s.flags & (flags::kAck | flags::kSyn | flags::kRst)) == 0) s.flags |= flags::kAck;
        s.window = in.ConsumeIntegral<uint16_t>();
        if (in.ConsumeBool())
          s.options.timestamps =
              Timestamps{in.ConsumeIntegral<uint32_t>(), in.ConsumeIntegral<uint32_t>()};
        uint8_t blocks = in.ConsumeIntegralInRange<uint8_t>(0, 3);
        for (uint8_t b = 0; b < blocks; ++b) {
          SeqNum left = SeqNum(1001) + in.ConsumeIntegralInRange<uint32_t>(0, 40000);
          s.options.sack_blocks[s.options.sack_count++] = {
              left, left + in.ConsumeIntegralInRange<uint32_t>(1, 5000)};
        }
        if (s.flags & flags::kSyn) {
          s.options.mss = in.ConsumeIntegral<uint16_t>();
          if (in.ConsumeBool()) s.options.window_scale = in.ConsumeIntegral<uint8_t>();
          s.options.sack_permitted = in.ConsumeBool();
          s.options.sack_count = 0;
        }
        size_t len = in.ConsumeIntegralInRange<size_t>(0, 1200);
        std::vector<uint8_t> payload(len, 0x5c);
        h.feed(s, payload);
        if (in.ConsumeBool()) h.peer_seq = s.seq + static_cast<uint32_t>(len);
        break;
      }
      case 3:
        h.conn.send(h.now, {app.data(), in.ConsumeIntegralInRange<size_t>(0, app.size())});
        h.drain();
        break;
      case 4: {
        std::vector<uint8_t> sink(in.ConsumeIntegralInRange<size_t>(1, 8192));
        h.conn.recv(h.now, sink);
        h.drain();
        break;
      }
      case 5:
        switch (in.ConsumeIntegralInRange(0, 2)) {
          case 0:
            h.conn.shutdown(h.now);
            break;
          case 1:
            h.conn.close(h.now);
            break;
          default:
            h.conn.abort(h.now);
            break;
        }
        h.drain();
        break;
      default: {  // time passes; due timers run
        h.now += std::chrono::milliseconds(in.ConsumeIntegralInRange(1, 5000));
        if (auto d = h.conn.next_deadline(); d && *d <= h.now) h.conn.on_timer(h.now);
        h.drain();
        break;
      }
    }
    while (h.conn.poll_event()) {
    }
    if (h.conn.state() == TcpState::kClosed) check(!h.conn.next_deadline().has_value());
  }
  return 0;
}
