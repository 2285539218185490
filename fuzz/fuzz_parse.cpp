// Fuzz target for the wire format. For every input:
//   1. parse it as is (almost always kBadChecksum; exercises the reject path),
//      and check segment_checksum against a slow RFC 1071 reference;
//   2. parse a copy with the checksum fixed up, so the fuzzer reaches the data
//      offset, flag and option checks; if that parses, emit the header and payload,
//      re-parse, and require the same header (minus SACK blocks past
//      sack_capacity(), which emit drops by design) and the same payload bytes.
// to_string() runs on every parsed header. Failures abort (asserts are off in
// RelWithDebInfo, so this uses its own check).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "wire/segment.hpp"

namespace {

uint16_t reference_checksum(std::span<const uint8_t> seg) {
  uint64_t sum = 6 + (seg.size() & 0xffff);
  for (size_t i = 0; i < seg.size(); i += 2) {
    const uint64_t lo = i + 1 < seg.size() ? seg[i + 1] : 0;
    sum += (uint64_t{seg[i]} << 8) | lo;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void check_round_trip(const tou::Segment& seg) {
  const tou::SegmentHeader& h = seg.header;
  FUZZ_CHECK(h.options.wire_size() % 4 == 0);
  FUZZ_CHECK(h.options.wire_size() <= tou::kMaxOptionsSize);
  const size_t size = h.wire_size() + seg.payload.size();
  if (size > 0xffff) return;  // not one datagram; emit asserts on this
  std::vector<uint8_t> out(size);
  FUZZ_CHECK(tou::emit_segment(h, seg.payload, out) == size);

  const tou::ParseResult again = tou::parse_segment(out);
  FUZZ_CHECK(again.ok());
  tou::SegmentHeader expected = h;
  expected.options.sack_count =
      static_cast<uint8_t>(std::min<size_t>(h.options.sack_count, h.options.sack_capacity()));
  FUZZ_CHECK(again.segment.header == expected);
  FUZZ_CHECK(again.segment.payload.size() == seg.payload.size());
  FUZZ_CHECK(std::equal(seg.payload.begin(), seg.payload.end(), again.segment.payload.begin()));
}

void check_parse(std::span<const uint8_t> input) {
  const tou::ParseResult r = tou::parse_segment(input);
  FUZZ_CHECK(r.error < tou::ParseError::kCount);
  const std::string name = tou::to_string(r.error);
  FUZZ_CHECK(!name.empty());
  if (!r.ok()) return;
  const std::span<const uint8_t> payload = r.segment.payload;
  FUZZ_CHECK(payload.data() >= input.data());
  FUZZ_CHECK(payload.data() + payload.size() == input.data() + input.size());
  const std::string line = tou::to_string(r.segment.header, payload.size());
  FUZZ_CHECK(!line.empty());
  check_round_trip(r.segment);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  FUZZ_CHECK(tou::segment_checksum(input) == reference_checksum(input));
  check_parse(input);

  if (size >= tou::kTcpHeaderSize) {
    std::vector<uint8_t> fixed(data, data + size);
    fixed[16] = fixed[17] = 0;
    const uint16_t c = tou::segment_checksum(fixed);
    fixed[16] = static_cast<uint8_t>(c >> 8);
    fixed[17] = static_cast<uint8_t>(c);
    FUZZ_CHECK(tou::parse_segment(fixed).error != tou::ParseError::kBadChecksum);
    check_parse(fixed);
  }
  return 0;
}
