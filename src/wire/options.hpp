// TCP option codec, internal to src/wire (the public types are in segment.hpp).
#pragma once

#include <cstdint>
#include <span>

#include "wire/segment.hpp"

namespace tou::wire {

// Option kinds and their fixed lengths (RFC 9293 3.1, RFC 2018, RFC 7323).
constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptMss = 2;
constexpr uint8_t kOptWindowScale = 3;
constexpr uint8_t kOptSackPermitted = 4;
constexpr uint8_t kOptSack = 5;
constexpr uint8_t kOptTimestamps = 8;
constexpr uint8_t kOptMssLen = 4;
constexpr uint8_t kOptWindowScaleLen = 3;
constexpr uint8_t kOptSackPermittedLen = 2;
constexpr uint8_t kOptTimestampsLen = 10;
constexpr uint8_t kSackBlockLen = 8;

// Decodes the option area (the bytes between the fixed header and the data
// offset). Returns kNone or kBadOption; `out` is only meaningful on kNone.
ParseError parse_options(std::span<const uint8_t> area, TcpOptions& out);

// Writes exactly opts.wire_size() bytes at `out`; returns the end pointer.
uint8_t* emit_options(const TcpOptions& opts, uint8_t* out);

}  // namespace tou::wire
