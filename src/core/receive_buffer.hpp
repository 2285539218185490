// The receive buffer and reassembler: in-order bytes waiting for the
// application, followed by out-of-order bytes held until the gap before them
// fills (RFC 9293 3.10.7.4, "segment text"). Offsets are relative to RCV.NXT
// (offset 0 is the next byte expected). A ring buffer of fixed capacity; the
// receive window is capacity() - readable().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tou {

struct ByteRange {
  size_t begin;  // offset from RCV.NXT, inclusive
  size_t end;    // exclusive
  friend constexpr bool operator==(const ByteRange&, const ByteRange&) = default;
};

class ReceiveBuffer {
 public:
  explicit ReceiveBuffer(size_t capacity);

  // At most this many disjoint out-of-order ranges are held; data that would open
  // a new one past the limit is dropped (bounds the per-segment cost against a
  // peer that sends every other byte).
  static constexpr size_t kMaxOutOfOrderRanges = 4096;

  // Stores data that starts `offset` bytes past RCV.NXT. Bytes that would fall
  // beyond the window (offset + i >= window()) are dropped. Bytes already held are
  // kept as they are (first copy wins). Returns how far RCV.NXT advanced, i.e. how
  // many bytes became readable (0 when the data is out of order).
  // Example: insert(100, b) holds b out of order and returns 0; a later
  // insert(0, a) with a.size() == 100 returns 100 + b.size().
  size_t insert(size_t offset, std::span<const uint8_t> data);

  // Copies up to out.size() readable bytes out and frees their space.
  size_t read(std::span<uint8_t> out);
  // Discards up to n readable bytes (as read() without copying).
  size_t discard(size_t n);

  size_t readable() const { return readable_; }
  size_t capacity() const { return storage_.size(); }
  // Bytes the peer may still send past RCV.NXT.
  size_t window() const { return capacity() - readable_; }
  // Out-of-order ranges held past RCV.NXT, ascending and disjoint, offsets relative to RCV.NXT.
  const std::vector<ByteRange>& out_of_order() const { return ooo_; }
  size_t out_of_order_bytes() const;
  // Grows capacity (only while nothing is held out of order); never shrinks below readable().
  // (Also correct with out-of-order data held: offsets keep their meaning, and when
  // shrinking, out-of-order bytes past the new window are dropped.)
  void set_capacity(size_t capacity);

 private:
  // Copies data to the ring at `offset` past RCV.NXT; requires it to fit in window().
  void store(size_t offset, std::span<const uint8_t> data);

  std::vector<uint8_t> storage_;
  size_t head_ = 0;      // index of the first readable byte
  size_t readable_ = 0;  // in-order bytes
  std::vector<ByteRange> ooo_;
};

}  // namespace tou
