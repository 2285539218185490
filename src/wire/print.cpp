// packetdrill-like rendering of a segment header, for tests and traces.
#include <string>

#include "wire/segment.hpp"

namespace tou {
namespace {

void append_num(std::string& s, uint64_t v) {
  s += std::to_string(v);
}

void append_options(std::string& s, const TcpOptions& o) {
  bool first = true;
  auto sep = [&] {
    s += first ? " <" : ",";
    first = false;
  };
  if (o.mss) {
    sep();
    s += "mss ";
    append_num(s, *o.mss);
  }
  if (o.sack_permitted) {
    sep();
    s += "sackOK";
  }
  if (o.timestamps) {
    sep();
    s += "TS val ";
    append_num(s, o.timestamps->value);
    s += " ecr ";
    append_num(s, o.timestamps->echo_reply);
  }
  if (o.window_scale) {
    sep();
    s += "wscale ";
    append_num(s, *o.window_scale);
  }
  if (o.sack_count != 0) {
    sep();
    s += "sack";
    for (const SackBlock& b : o.sacks()) {
      s += ' ';
      append_num(s, b.left.raw());
      s += ':';
      append_num(s, b.right.raw());
    }
  }
  if (!first) s += '>';
}

}  // namespace

std::string to_string(const SegmentHeader& h, size_t payload_len) {
  std::string s;
  s.reserve(96);
  static constexpr struct {
    uint8_t bit;
    char letter;
  } kLetters[] = {{flags::kSyn, 'S'}, {flags::kFin, 'F'}, {flags::kRst, 'R'}, {flags::kPsh, 'P'},
                  {flags::kUrg, 'U'}, {flags::kAck, '.'}, {flags::kEce, 'E'}, {flags::kCwr, 'W'}};
  for (const auto& l : kLetters) {
    if (h.has(l.bit)) s += l.letter;
  }
  s += ' ';
  append_num(s, h.seq.raw());
  s += ':';
  append_num(s, (h.seq + static_cast<uint32_t>(payload_len)).raw());
  s += '(';
  append_num(s, payload_len);
  s += ')';
  if (h.has(flags::kAck)) {
    s += " ack ";
    append_num(s, h.ack.raw());
  }
  s += " win ";
  append_num(s, h.window);
  if (h.has(flags::kUrg)) {
    s += " urg ";
    append_num(s, h.urgent);
  }
  append_options(s, h.options);
  return s;
}

}  // namespace tou
