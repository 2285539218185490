// TCP options: decoding (RFC 9293 3.1, 3.2), the aligned emit layout, and its size.
#include "wire/options.hpp"

#include <algorithm>
#include <cassert>

#include "wire/byte_order.hpp"

namespace tou {
namespace {

// Bytes of everything but the SACK option, in the layout wire_size() documents.
size_t fixed_options_size(const TcpOptions& o) {
  size_t n = o.mss ? 4 : 0;  // mss
  if (o.timestamps) {
    n += 12;  // sackOK,TS or nop,nop,TS
  } else if (o.sack_permitted) {
    n += 4;  // nop,nop,sackOK
  }
  return n + (o.window_scale ? 4 : 0);  // nop,wscale
}

size_t emitted_sack_blocks(const TcpOptions& o) {
  assert(o.sack_count <= kMaxSackBlocks);
  return std::min<size_t>(o.sack_count, o.sack_capacity());
}

}  // namespace

size_t TcpOptions::sack_capacity() const {
  // nop,nop,kind,len then 8 bytes per block.
  const size_t fixed = fixed_options_size(*this);
  if (fixed + 4 + wire::kSackBlockLen > kMaxOptionsSize) return 0;
  return std::min(kMaxSackBlocks, (kMaxOptionsSize - fixed - 4) / wire::kSackBlockLen);
}

size_t TcpOptions::wire_size() const {
  const size_t blocks = emitted_sack_blocks(*this);
  const size_t n = fixed_options_size(*this) + (blocks ? 4 + blocks * wire::kSackBlockLen : 0);
  assert(n % 4 == 0 && n <= kMaxOptionsSize);
  return n;
}

namespace wire {

ParseError parse_options(std::span<const uint8_t> area, TcpOptions& out) {
  out = TcpOptions{};
  const uint8_t* p = area.data();
  const size_t end = area.size();
  size_t i = 0;
  while (i < end) {
    const uint8_t kind = p[i];
    if (kind == kOptEol) break;  // RFC 9293 3.1: end of option list
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    // RFC 9293 3.1: every other option has a length octet counting kind and length.
    if (end - i < 2) return ParseError::kBadOption;
    const uint8_t len = p[i + 1];
    if (len < 2 || len > end - i) return ParseError::kBadOption;
    const uint8_t* v = p + i + 2;
    switch (kind) {
      case kOptMss:
        if (len != kOptMssLen) return ParseError::kBadOption;
        out.mss = load_be16(v);
        break;
      case kOptWindowScale:
        if (len != kOptWindowScaleLen) return ParseError::kBadOption;
        out.window_scale = v[0];  // raw; RFC 7323 2.3 clamping to 14 is the core's job
        break;
      case kOptSackPermitted:
        if (len != kOptSackPermittedLen) return ParseError::kBadOption;
        out.sack_permitted = true;
        break;
      case kOptSack: {
        // RFC 2018 3: length 2+8n, 1 <= n <= 4.
        const size_t blocks = (len - 2u) / kSackBlockLen;
        if ((len - 2u) % kSackBlockLen != 0 || blocks == 0 || blocks > kMaxSackBlocks) {
          return ParseError::kBadOption;
        }
        for (size_t b = 0; b < blocks; ++b) {
          out.sack_blocks[b] = {SeqNum(load_be32(v + 8 * b)), SeqNum(load_be32(v + 8 * b + 4))};
        }
        out.sack_count = static_cast<uint8_t>(blocks);
        break;
      }
      case kOptTimestamps:
        if (len != kOptTimestampsLen) return ParseError::kBadOption;
        out.timestamps = Timestamps{load_be32(v), load_be32(v + 4)};
        break;
      default:
        break;  // RFC 9293 3.1: unknown options with a valid length are skipped
    }
    i += len;
  }
  return ParseError::kNone;
}

uint8_t* emit_options(const TcpOptions& o, uint8_t* p) {
  if (o.mss) {
    *p++ = kOptMss;
    *p++ = kOptMssLen;
    store_be16(p, *o.mss);
    p += 2;
  }
  if (o.timestamps) {
    if (o.sack_permitted) {
      *p++ = kOptSackPermitted;
      *p++ = kOptSackPermittedLen;
    } else {
      *p++ = kOptNop;
      *p++ = kOptNop;
    }
    *p++ = kOptTimestamps;
    *p++ = kOptTimestampsLen;
    store_be32(p, o.timestamps->value);
    store_be32(p + 4, o.timestamps->echo_reply);
    p += 8;
  } else if (o.sack_permitted) {
    *p++ = kOptNop;
    *p++ = kOptNop;
    *p++ = kOptSackPermitted;
    *p++ = kOptSackPermittedLen;
  }
  if (o.window_scale) {
    *p++ = kOptNop;
    *p++ = kOptWindowScale;
    *p++ = kOptWindowScaleLen;
    *p++ = *o.window_scale;
  }
  if (const size_t blocks = emitted_sack_blocks(o); blocks != 0) {
    *p++ = kOptNop;
    *p++ = kOptNop;
    *p++ = kOptSack;
    *p++ = static_cast<uint8_t>(2 + blocks * kSackBlockLen);
    for (size_t b = 0; b < blocks; ++b) {
      store_be32(p, o.sack_blocks[b].left.raw());
      store_be32(p + 4, o.sack_blocks[b].right.raw());
      p += kSackBlockLen;
    }
  }
  return p;
}

}  // namespace wire
}  // namespace tou
