// Malformed datagrams (RFC 9293 3.10.7, RFC 1071 checksum): each ParseError is
// counted in stats().dropped_malformed and changes nothing, and no reply goes
// out, not even an RST. The well-formed base datagram is 10 bytes of data at
// RCV.NXT, which would otherwise be taken.
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

std::vector<uint8_t> wire(const Seg& s) {
  SegmentHeader h = s.h;
  h.src_port = ScriptTest::kRemotePort;
  h.dst_port = ScriptTest::kLocalPort;
  std::vector<uint8_t> out(h.wire_size() + s.payload.size());
  emit_segment(h, s.payload, out);
  return out;
}

std::vector<uint8_t> valid_data() {
  return wire(seg().seq(5001).ack(1001).win(65535).data(10));
}

// Recomputes the checksum after an edit, so that only the intended error remains.
void fix_checksum(std::vector<uint8_t>& d) {
  d[16] = d[17] = 0;
  uint16_t c = segment_checksum(d);
  d[16] = static_cast<uint8_t>(c >> 8);
  d[17] = static_cast<uint8_t>(c);
}

// Inserts option bytes after the 20-byte base header and sets the data offset.
std::vector<uint8_t> with_options(std::vector<uint8_t> d, std::vector<uint8_t> opts) {
  d.insert(d.begin() + 20, opts.begin(), opts.end());
  d[12] = static_cast<uint8_t>(((20 + opts.size()) / 4) << 4);
  fix_checksum(d);
  return d;
}

// Injects `d` into an established connection and checks that it was dropped as
// `why`, with no state change and no reply.
void expect_dropped(const std::vector<uint8_t>& d, ParseError why) {
  ScriptTest t;
  t.establish_active();
  const ConnectionStats before = t.conn().stats();
  const std::optional<Instant> deadline = t.conn().next_deadline();
  t.inject_raw(d);
  const ConnectionStats& after = t.conn().stats();
  EXPECT_EQ(after.dropped_malformed[static_cast<size_t>(why)], 1u) << to_string(why);
  EXPECT_EQ(after.dropped_malformed_total(), 1u);
  EXPECT_EQ(after.segments_received, before.segments_received) << "never reached the TCB";
  EXPECT_EQ(t.conn().state(), TcpState::kEstablished);
  EXPECT_EQ(t.conn().readable(), 0u);
  EXPECT_EQ(t.conn().next_deadline(), deadline);
  t.expect_nothing();
  // The connection still works: the same data, well formed, is taken.
  t.inject_raw(valid_data());
  EXPECT_EQ(t.conn().readable(), 10u);
}

TEST(Malformed, ValidBaseDatagramIsAccepted) {
  ScriptTest t;
  t.establish_active();
  t.inject_raw(valid_data());
  EXPECT_EQ(t.conn().readable(), 10u);
  EXPECT_EQ(t.conn().stats().dropped_malformed_total(), 0u);
}

TEST(Malformed, TooShortDropped) {
  std::vector<uint8_t> d = valid_data();
  d.resize(19);
  expect_dropped(d, ParseError::kTooShort);
}

TEST(Malformed, EmptyDatagramDropped) {
  expect_dropped({}, ParseError::kTooShort);
}

TEST(Malformed, BadChecksumDropped_RFC9293_3_1) {
  std::vector<uint8_t> d = valid_data();
  d.back() ^= 0x01;  // one payload bit
  expect_dropped(d, ParseError::kBadChecksum);
}

TEST(Malformed, DataOffsetBelowFiveDropped_RFC9293_3_1) {
  std::vector<uint8_t> d = valid_data();
  d[12] = 4 << 4;
  fix_checksum(d);
  expect_dropped(d, ParseError::kBadDataOffset);
}

TEST(Malformed, DataOffsetPastEndDropped_RFC9293_3_1) {
  std::vector<uint8_t> d = wire(seg().seq(5001).ack(1001).win(65535));  // 20 bytes
  d[12] = 15 << 4;                                                      // claims a 60-byte header
  fix_checksum(d);
  expect_dropped(d, ParseError::kBadDataOffset);
}

TEST(Malformed, OptionLengthBelowTwoDropped_RFC9293_3_1) {
  expect_dropped(with_options(valid_data(), {2, 1, 0, 0}), ParseError::kBadOption);
}

TEST(Malformed, OptionRunningPastHeaderDropped_RFC9293_3_1) {
  expect_dropped(with_options(valid_data(), {1, 1, 8, 10}), ParseError::kBadOption);
}

TEST(Malformed, FixedSizeOptionWithWrongLengthDropped_RFC9293_3_1) {
  // A timestamp option is 10 bytes (RFC 7323 3), never 6.
  expect_dropped(with_options(valid_data(), {8, 6, 0, 0, 0, 0, 0, 0}), ParseError::kBadOption);
}

TEST(Malformed, SackOptionNotTwoPlusEightNDropped_RFC2018_3) {
  expect_dropped(with_options(valid_data(), {1, 1, 5, 6, 0, 0, 0, 0}), ParseError::kBadOption);
}

TEST(Malformed, SynWithRstDropped_RFC9293_3_10_7) {
  std::vector<uint8_t> d = valid_data();
  d[13] = flags::kSyn | flags::kRst | flags::kAck;
  fix_checksum(d);
  expect_dropped(d, ParseError::kBadFlags);
}

TEST(Malformed, SynWithFinDropped_RFC9293_3_10_7) {
  std::vector<uint8_t> d = valid_data();
  d[13] = flags::kSyn | flags::kFin;
  fix_checksum(d);
  expect_dropped(d, ParseError::kBadFlags);
}

TEST(Malformed, NoAckSynOrRstDropped_RFC9293_3_10_7_4) {
  std::vector<uint8_t> d = valid_data();
  d[13] = flags::kPsh | flags::kFin;
  fix_checksum(d);
  expect_dropped(d, ParseError::kBadFlags);
}

TEST(Malformed, MalformedSynInListenGetsNoReply) {
  ScriptTest t;
  t.conn().listen(t.params());
  std::vector<uint8_t> d = wire(seg().syn().seq(5000).mss(1460).win(65535));
  d[20 + 1] = 0;  // the MSS option's length
  fix_checksum(d);
  t.inject_raw(d);
  t.expect_nothing();
  EXPECT_EQ(t.conn().state(), TcpState::kListen);
  EXPECT_EQ(t.conn().stats().dropped_malformed[static_cast<size_t>(ParseError::kBadOption)], 1u);
}

TEST(Malformed, MalformedSegmentToClosedGetsNoRst) {
  ScriptTest t;
  t.establish_active();
  t.conn().abort(t.now());
  t.expect(seg().rst().seq(1001));
  std::vector<uint8_t> d = valid_data();
  d[5] ^= 0xff;  // corrupt the sequence number: bad checksum
  t.inject_raw(d);
  t.expect_nothing();
  EXPECT_EQ(t.conn().stats().dropped_malformed[static_cast<size_t>(ParseError::kBadChecksum)], 1u);
}

}  // namespace
}  // namespace tou::script
