// The wire format: option layouts, round trips, every parse error, the checksum
// and the packetdrill-like rendering.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "wire/checksum.hpp"
#include "wire/segment.hpp"

namespace tou {
namespace {

using Bytes = std::vector<uint8_t>;

// A header template; tests override fields (smoltcp-style).
SegmentHeader ack_header() {
  SegmentHeader h;
  h.src_port = 4000;
  h.dst_port = 5000;
  h.seq = SeqNum(1000);
  h.ack = SeqNum(2000);
  h.flags = flags::kAck;
  h.window = 65535;
  return h;
}

Bytes emit(const SegmentHeader& h, const Bytes& payload = {}) {
  Bytes out(h.wire_size() + payload.size());
  EXPECT_EQ(emit_segment(h, payload, out), out.size());
  return out;
}

// Rewrites the checksum field so the segment passes verification: tests of the
// later checks build malformed-but-checksummed segments with this.
void fix_checksum(Bytes& seg) {
  seg[16] = seg[17] = 0;
  const uint16_t c = segment_checksum(seg);
  seg[16] = static_cast<uint8_t>(c >> 8);
  seg[17] = static_cast<uint8_t>(c);
}

// A 20-byte header (ports 1 and 2, seq 3, ack 4, window 5) with raw option bytes
// (already padded by the caller, or not, to test that) and a valid checksum.
Bytes raw_segment(uint8_t flag_bits, const Bytes& options = {}, const Bytes& payload = {}) {
  Bytes s = {0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x50, flag_bits, 0, 5, 0, 0, 0, 0};
  s[12] = static_cast<uint8_t>(((20 + options.size()) / 4) << 4);
  s.insert(s.end(), options.begin(), options.end());
  s.insert(s.end(), payload.begin(), payload.end());
  fix_checksum(s);
  return s;
}

ParseError parse_error(const Bytes& b) {
  return parse_segment(b).error;
}

// RFC 1071 computed the slow, obvious way, as the reference for the fast one.
uint16_t reference_checksum(const Bytes& seg) {
  uint32_t sum = 6 + static_cast<uint32_t>(seg.size());  // {0, 6} and the length word
  for (size_t i = 0; i < seg.size(); i += 2) {
    const uint32_t lo = i + 1 < seg.size() ? seg[i + 1] : 0;
    sum += (uint32_t{seg[i]} << 8) | lo;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// ---- checksum ----

TEST(ChecksumTest, KnownAnswerMinimalHeader) {
  // 00 01 | 00 02 | 00 00 00 03 | 00 00 00 04 | 50 10 | 00 05 | 00 00 | 00 00
  // 16-bit words: pseudo-header 0x0006 + 0x0014 (length 20), then
  // 0x0001 + 0x0002 + 0x0000 + 0x0003 + 0x0000 + 0x0004 + 0x5010 + 0x0005
  // = 0x5039, no carries; its complement is 0xafc6.
  Bytes seg = {0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x50, 0x10, 0, 5, 0, 0, 0, 0};
  EXPECT_EQ(segment_checksum(seg), 0xafc6);
}

TEST(ChecksumTest, KnownAnswerOddLengthAndCarry) {
  // As above with a 1-byte payload 0xab: length word 0x0015, last word padded
  // to 0xab00: 0x503a + 0xab00 = 0xfb3a, complement 0x04c5.
  Bytes seg = {0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x50, 0x10, 0, 5, 0, 0, 0, 0, 0xab};
  EXPECT_EQ(segment_checksum(seg), 0x04c5);
  // With payload ff ff instead: 0x5039 + 2 + 0xffff = 0x1503a, end-around carry
  // gives 0x503b, complement 0xafc4.
  seg.back() = 0xff;
  seg.push_back(0xff);
  EXPECT_EQ(segment_checksum(seg), 0xafc4);
}

TEST(ChecksumTest, MatchesReferenceAtEveryLength) {
  std::mt19937 rng(7);
  for (size_t len = 0; len <= 300; ++len) {
    Bytes seg(len);
    for (auto& b : seg) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(segment_checksum(seg), reference_checksum(seg)) << "length " << len;
  }
  Bytes big(65535, 0xff);  // maximal carries
  EXPECT_EQ(segment_checksum(big), reference_checksum(big));
}

// The AVX2 sum (when this CPU has it) folds to what the portable one does, at
// every length and alignment, for zeros (+0 must stay +0), all-ones (-0) and
// random bytes, including sums carried in from a pseudo-header.
TEST(ChecksumTest, VectorizedSumFoldsAsThePortableOne) {
  if (!wire::detail::ones_sum_vectorized()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937_64 rng(13);
  Bytes buf(4096 + 64);
  for (int round = 0; round < 3000; ++round) {
    const int kind = round % 3;
    for (auto& b : buf) b = kind == 0 ? 0 : kind == 1 ? 0xff : static_cast<uint8_t>(rng());
    const size_t offset = rng() % 64;
    const size_t len = rng() % 4096;
    const uint64_t carried_in = round % 2 == 0 ? 0 : rng();
    const uint8_t* p = buf.data() + offset;
    ASSERT_EQ(wire::ones_fold(wire::ones_sum({p, len}, carried_in)),
              wire::ones_fold(wire::detail::ones_sum_portable(p, len, carried_in)))
        << "round " << round << " length " << len << " offset " << offset;
  }
}

TEST(ChecksumTest, EmittedSegmentVerifiesToZero) {
  Bytes payload(1448, 0x5a);
  const Bytes seg = emit(ack_header(), payload);
  EXPECT_EQ(segment_checksum(seg), 0);
  Bytes zeroed = seg;
  zeroed[16] = zeroed[17] = 0;
  EXPECT_EQ(segment_checksum(zeroed), (seg[16] << 8) | seg[17]);
}

TEST(ChecksumTest, PiecesOfAnyLengthSumAsTheWhole) {
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    Bytes seg(1 + rng() % 3000);
    for (uint8_t& b : seg) b = static_cast<uint8_t>(rng() % 4 == 0 ? 0xff : rng());
    // Up to three cuts at random places, odd ones included (empty pieces too).
    std::vector<size_t> cuts = {0, seg.size()};
    for (size_t k = rng() % 4; k > 0; --k) cuts.push_back(rng() % (seg.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::span<const uint8_t>> pieces;
    for (size_t i = 0; i + 1 < cuts.size(); ++i)
      pieces.push_back(std::span<const uint8_t>(seg).subspan(cuts[i], cuts[i + 1] - cuts[i]));
    ASSERT_EQ(segment_checksum(pieces), segment_checksum(seg)) << "round " << round;
  }
}

TEST(ChecksumTest, AHeaderWithItsPayloadElsewhereIsWhatEmitSegmentWrites) {
  SegmentHeader h = ack_header();
  h.options.timestamps = Timestamps{123456, 654321};
  for (size_t len : {0, 1, 7, 1448, 1449}) {
    Bytes payload(len);
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<uint8_t>(i * 37 + 1);
    const Bytes whole = emit(h, payload);
    for (size_t cut : {size_t{0}, len / 2, len / 2 + 1, len}) {
      if (cut > len) continue;
      const std::span<const uint8_t> all(payload);
      const std::span<const uint8_t> pieces[2] = {all.first(cut), all.subspan(cut)};
      Bytes gathered(h.wire_size());
      ASSERT_EQ(emit_segment_header(h, pieces, gathered), h.wire_size());
      gathered.insert(gathered.end(), payload.begin(), payload.end());
      EXPECT_EQ(gathered, whole) << "len " << len << " cut " << cut;
    }
  }
}

TEST(ChecksumTest, EveryOneBitCorruptionIsDetected) {
  SegmentHeader h = ack_header();
  h.options.timestamps = Timestamps{1, 2};
  const Bytes seg = emit(h, Bytes{'h', 'e', 'l', 'l', 'o'});
  ASSERT_TRUE(parse_segment(seg).ok());
  for (size_t bit = 0; bit < seg.size() * 8; ++bit) {
    Bytes bad = seg;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_EQ(parse_error(bad), ParseError::kBadChecksum) << "bit " << bit;
  }
}

// ---- option layout and size ----

TEST(OptionsTest, EmptyOptionsTakeNoSpace) {
  EXPECT_EQ(TcpOptions{}.wire_size(), 0u);
  EXPECT_EQ(emit(ack_header()).size(), kTcpHeaderSize);
}

TEST(OptionsTest, SynLayoutMatchesLinux) {
  SegmentHeader h = ack_header();
  h.flags = flags::kSyn;
  h.options.mss = 1460;
  h.options.sack_permitted = true;
  h.options.timestamps = Timestamps{0x01020304, 0};
  h.options.window_scale = 7;
  const Bytes seg = emit(h);
  // mss 1460, sackOK, TS val ecr, nop, wscale 7: 20 bytes, data offset 10.
  const Bytes expected = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};
  ASSERT_EQ(seg.size(), 40u);
  EXPECT_EQ(seg[12], 10 << 4);
  EXPECT_EQ(Bytes(seg.begin() + 20, seg.end()), expected);
}

TEST(OptionsTest, NopsKeepFieldsAligned) {
  TcpOptions o;
  o.timestamps = Timestamps{};
  EXPECT_EQ(o.wire_size(), 12u);  // nop,nop,TS
  o = {};
  o.sack_permitted = true;
  EXPECT_EQ(o.wire_size(), 4u);  // nop,nop,sackOK
  o = {};
  o.window_scale = 0;
  EXPECT_EQ(o.wire_size(), 4u);  // nop,wscale
  o = {};
  o.sack_count = 1;
  EXPECT_EQ(o.wire_size(), 12u);  // nop,nop,sack 1 block
  o.timestamps = Timestamps{};
  EXPECT_EQ(o.wire_size(), 24u);  // nop,nop,TS,nop,nop,sack
}

TEST(OptionsTest, SackCapacityDependsOnOtherOptions) {
  TcpOptions o;
  EXPECT_EQ(o.sack_capacity(), 4u);  // 4 + 32 = 36
  o.timestamps = Timestamps{};
  EXPECT_EQ(o.sack_capacity(), 3u);  // 12 + 4 + 24 = 40
  o.mss = 1460;
  o.window_scale = 7;
  o.sack_permitted = true;
  EXPECT_EQ(o.sack_capacity(), 2u);  // 20 + 4 + 16 = 40
}

TEST(OptionsTest, EmitDropsSackBlocksThatDoNotFit) {
  SegmentHeader h = ack_header();
  h.options.timestamps = Timestamps{5, 6};
  h.options.sack_count = 4;
  for (uint32_t i = 0; i < 4; ++i) {
    h.options.sack_blocks[i] = {SeqNum(100 * i + 10), SeqNum(100 * i + 20)};
  }
  EXPECT_EQ(h.options.wire_size(), kMaxOptionsSize);
  const ParseResult r = parse_segment(emit(h));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.segment.header.options.sack_count, 3);
  SegmentHeader expected = h;
  expected.options.sack_count = 3;
  EXPECT_EQ(r.segment.header, expected);
}

// ---- round trips ----

// Every combination of options (mss, wscale, sackOK, TS, 0..4 SACK blocks), with
// and without payload, parses back to the header it was emitted from (SACK blocks
// beyond sack_capacity() excepted), and emit writes exactly wire_size()+payload.
TEST(RoundTripTest, EveryOptionCombination) {
  const Bytes payload = {1, 2, 3, 4, 5, 6, 7};
  for (unsigned mask = 0; mask < 16; ++mask) {
    for (uint8_t sacks = 0; sacks <= kMaxSackBlocks; ++sacks) {
      for (const bool with_payload : {false, true}) {
        SegmentHeader h = ack_header();
        h.flags = flags::kAck | flags::kPsh;
        if (mask & 1) h.options.mss = 1448;
        if (mask & 2) h.options.window_scale = 14;
        if (mask & 4) h.options.sack_permitted = true;
        if (mask & 8) h.options.timestamps = Timestamps{0xdeadbeef, 0xfeedface};
        h.options.sack_count = sacks;
        for (uint32_t i = 0; i < sacks; ++i) {
          h.options.sack_blocks[i] = {SeqNum(0xfffffff0 + 1000 * i), SeqNum(500 + 1000 * i)};
        }
        SCOPED_TRACE(to_string(h, 0));
        const Bytes body = with_payload ? payload : Bytes{};
        const size_t size = h.wire_size() + body.size();
        ASSERT_EQ(h.options.wire_size() % 4, 0u);
        ASSERT_LE(h.options.wire_size(), kMaxOptionsSize);

        Bytes out(size + 8, 0xee);  // sentinel bytes past the end stay untouched
        ASSERT_EQ(emit_segment(h, body, out), size);
        for (size_t i = size; i < out.size(); ++i) ASSERT_EQ(out[i], 0xee);
        out.resize(size);

        const ParseResult r = parse_segment(out);
        ASSERT_TRUE(r.ok()) << to_string(r.error);
        SegmentHeader expected = h;
        expected.options.sack_count =
            static_cast<uint8_t>(std::min<size_t>(sacks, h.options.sack_capacity()));
        EXPECT_EQ(r.segment.header, expected);
        EXPECT_EQ(Bytes(r.segment.payload.begin(), r.segment.payload.end()), body);
        EXPECT_EQ(r.segment.payload.data(), out.data() + h.wire_size());
      }
    }
  }
}

TEST(RoundTripTest, AllHeaderFieldsAndEveryFlag) {
  SegmentHeader h;
  h.src_port = 0xfedc;
  h.dst_port = 0x0102;
  h.seq = SeqNum(0xfffffffe);
  h.ack = SeqNum(0x80000001);
  h.flags = flags::kAck | flags::kPsh | flags::kUrg | flags::kEce | flags::kCwr | flags::kFin;
  h.window = 0xabcd;
  h.urgent = 0x1234;
  const ParseResult r = parse_segment(emit(h));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.segment.header, h);
  EXPECT_TRUE(r.segment.payload.empty());
}

TEST(RoundTripTest, PayloadAlreadyInPlace) {
  SegmentHeader h = ack_header();
  h.options.timestamps = Timestamps{1, 2};
  const Bytes payload = {9, 8, 7, 6, 5};
  Bytes out(h.wire_size() + payload.size());
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<long>(h.wire_size()));
  const std::span<const uint8_t> in_place(out.data() + h.wire_size(), payload.size());
  ASSERT_EQ(emit_segment(h, in_place, out), out.size());
  EXPECT_EQ(out, emit(h, payload));
}

// ---- parsing: accepted oddities ----

TEST(ParseTest, UnknownOptionsAreSkipped) {
  // kind 30 (MPTCP) len 4, then mss; kind 254 len 2; nop padding.
  const Bytes seg = raw_segment(flags::kAck, {30, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xdc, 254, 2, 1, 1});
  const ParseResult r = parse_segment(seg);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.segment.header.options.mss, 1500);
}

TEST(ParseTest, EolEndsOptionParsing) {
  // mss, EOL, then bytes that would be a malformed option if they were read.
  const Bytes seg = raw_segment(flags::kAck, {2, 4, 0x05, 0xdc, 0, 8, 3, 0});
  const ParseResult r = parse_segment(seg);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.segment.header.options.mss, 1500);
  EXPECT_FALSE(r.segment.header.options.timestamps);
}

TEST(ParseTest, PayloadStartsAtDataOffset) {
  const Bytes seg = raw_segment(flags::kAck | flags::kFin, {1, 1, 1, 1}, {'a', 'b', 'c'});
  const ParseResult r = parse_segment(seg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.segment.header.seq, SeqNum(3));
  EXPECT_EQ(r.segment.header.ack, SeqNum(4));
  EXPECT_EQ(r.segment.header.window, 5);
  ASSERT_EQ(r.segment.payload.size(), 3u);
  EXPECT_EQ(r.segment.payload[0], 'a');
  EXPECT_EQ(r.segment.seq_len(), 4u);  // 3 bytes + FIN
}

TEST(ParseTest, ReservedBitsAreIgnored) {
  Bytes seg = raw_segment(flags::kAck);
  seg[12] |= 0x0f;
  fix_checksum(seg);
  EXPECT_TRUE(parse_segment(seg).ok());
}

TEST(ParseTest, ValidFlagCombinations) {
  EXPECT_TRUE(parse_segment(raw_segment(flags::kSyn)).ok());
  EXPECT_TRUE(parse_segment(raw_segment(flags::kSyn | flags::kAck)).ok());
  EXPECT_TRUE(parse_segment(raw_segment(flags::kRst)).ok());
  EXPECT_TRUE(parse_segment(raw_segment(flags::kRst | flags::kAck)).ok());
  EXPECT_TRUE(parse_segment(raw_segment(flags::kFin | flags::kAck)).ok());
}

// ---- parsing: one test per error ----

TEST(ParseErrorTest, TooShort) {
  const Bytes seg = raw_segment(flags::kAck);
  for (size_t len = 0; len < kTcpHeaderSize; ++len) {
    EXPECT_EQ(parse_error(Bytes(seg.begin(), seg.begin() + len)), ParseError::kTooShort);
  }
}

TEST(ParseErrorTest, BadDataOffset) {
  for (const uint8_t doff : {0, 1, 4, 6, 15}) {  // below 5, or past a 20-byte datagram
    Bytes seg = raw_segment(flags::kAck);
    seg[12] = static_cast<uint8_t>(doff << 4);
    fix_checksum(seg);
    EXPECT_EQ(parse_error(seg), ParseError::kBadDataOffset) << "data offset " << int{doff};
  }
}

TEST(ParseErrorTest, BadOption) {
  const Bytes cases[] = {
      {1, 1, 1, 2},                           // length byte missing at the end of the area
      {2, 0, 1, 1},                           // length 0
      {254, 1, 1, 1},                         // length 1
      {254, 6, 1, 1},                         // runs past the header
      {2, 3, 5, 1},                           // MSS with length 3
      {3, 4, 7, 0},                           // window scale with length 4
      {4, 3, 0, 1},                           // SACK-permitted with length 3
      {8, 8, 0, 0, 0, 0, 0, 0, 1, 1},         // timestamps with length 8 (+ padding)
      {5, 2, 1, 1},                           // SACK with no blocks
      {5, 6, 0, 0, 0, 1, 1, 1},               // SACK with length 6: not 2+8n
      {5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1},  // SACK with length 11
  };
  for (const Bytes& opts : cases) {
    Bytes padded = opts;
    while (padded.size() % 4 != 0) padded.push_back(1);
    EXPECT_EQ(parse_error(raw_segment(flags::kAck, padded)), ParseError::kBadOption)
        << "option kind " << int{opts[0]} << " length " << int{opts[1]};
  }
  // Five SACK blocks (length 42) cannot fit in 40 bytes of options, so the
  // length always runs past the header.
  Bytes five = {5, 42};
  five.resize(40, 0);
  EXPECT_EQ(parse_error(raw_segment(flags::kAck, five)), ParseError::kBadOption);
}

TEST(ParseErrorTest, BadChecksum) {
  Bytes seg = emit(ack_header(), Bytes(100, 7));
  seg[16] ^= 0x01;
  EXPECT_EQ(parse_error(seg), ParseError::kBadChecksum);
  seg[16] ^= 0x01;
  seg.back() ^= 0x80;
  EXPECT_EQ(parse_error(seg), ParseError::kBadChecksum);
}

TEST(ParseErrorTest, BadFlags) {
  EXPECT_EQ(parse_error(raw_segment(flags::kSyn | flags::kRst)), ParseError::kBadFlags);
  EXPECT_EQ(parse_error(raw_segment(flags::kSyn | flags::kRst | flags::kAck)),
            ParseError::kBadFlags);
  EXPECT_EQ(parse_error(raw_segment(flags::kSyn | flags::kFin)), ParseError::kBadFlags);
  EXPECT_EQ(parse_error(raw_segment(0)), ParseError::kBadFlags);
  EXPECT_EQ(parse_error(raw_segment(flags::kFin)), ParseError::kBadFlags);
  EXPECT_EQ(parse_error(raw_segment(flags::kPsh | flags::kUrg)), ParseError::kBadFlags);
}

TEST(ParseErrorTest, EveryErrorHasAName) {
  for (uint8_t e = 0; e < static_cast<uint8_t>(ParseError::kCount); ++e) {
    EXPECT_STRNE(to_string(static_cast<ParseError>(e)), "unknown");
  }
  EXPECT_STREQ(to_string(ParseError::kBadChecksum), "bad-checksum");
}

// ---- rendering ----

TEST(ToStringTest, SynAck) {
  SegmentHeader h;
  h.seq = SeqNum(1000);
  h.ack = SeqNum(1);
  h.flags = flags::kSyn | flags::kAck;
  h.window = 65535;
  h.options.mss = 1460;
  h.options.sack_permitted = true;
  h.options.timestamps = Timestamps{1, 0};
  h.options.window_scale = 7;
  EXPECT_EQ(to_string(h, 0),
            "S. 1000:1000(0) ack 1 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>");
}

TEST(ToStringTest, DataWithoutOptions) {
  SegmentHeader h;
  h.seq = SeqNum(1);
  h.ack = SeqNum(1);
  h.flags = flags::kAck | flags::kPsh;
  h.window = 257;
  EXPECT_EQ(to_string(h, 1460), "P. 1:1461(1460) ack 1 win 257");
}

TEST(ToStringTest, SackBlocks) {
  SegmentHeader h;
  h.seq = SeqNum(1);
  h.ack = SeqNum(1461);
  h.flags = flags::kAck;
  h.window = 257;
  h.options.sack_count = 2;
  h.options.sack_blocks[0] = {SeqNum(2921), SeqNum(4381)};
  h.options.sack_blocks[1] = {SeqNum(5841), SeqNum(7301)};
  EXPECT_EQ(to_string(h, 0), ". 1:1(0) ack 1461 win 257 <sack 2921:4381 5841:7301>");
}

TEST(ToStringTest, SynFinRstWithoutAckAndWrap) {
  SegmentHeader h;
  h.seq = SeqNum(0xfffffff0);
  h.flags = flags::kSyn;
  EXPECT_EQ(to_string(h, 0), "S 4294967280:4294967280(0) win 0");
  h.flags = flags::kRst;
  EXPECT_EQ(to_string(h, 0), "R 4294967280:4294967280(0) win 0");
  h.flags = flags::kFin | flags::kAck;
  EXPECT_EQ(to_string(h, 32), "F. 4294967280:16(32) ack 0 win 0");
}

TEST(ToStringTest, UrgentAndEcnFlags) {
  SegmentHeader h;
  h.flags = flags::kAck | flags::kUrg | flags::kEce | flags::kCwr;
  h.urgent = 3;
  EXPECT_EQ(to_string(h, 0), "U.EW 0:0(0) ack 0 win 0 urg 3");
}

}  // namespace
}  // namespace tou
