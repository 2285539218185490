// The receive buffer and reassembler: in-order bytes waiting for the
// application, followed by out-of-order bytes held until the gap before them
// fills (RFC 9293 3.10.7.4, "segment text"). Offsets are relative to RCV.NXT
// (offset 0 is the next byte expected). The receive window is
// capacity() - readable().
//
// The bytes live in a ring whose storage is allocated lazily: capacity() is a
// limit, not an allocation. Storage is allocated on the first insert
// (kInitialAllocation or the room that insert needs, rounded up to a power of
// two) and doubles as data needs room, up to capacity(), keeping the in-order
// bytes and the out-of-order bytes at their offsets. A connection's life sees one
// allocation and at most ceil(log2(capacity / kInitialAllocation)) growths, never
// one per segment; draining keeps grown storage, and gives back storage of
// kInitialAllocation or less, so that an idle connection holds none.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
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
  // Smallest storage allocated by the first insert (unless capacity() is smaller).
  static constexpr size_t kInitialAllocation = 16 * 1024;

  // `capacity` bounds the receive window; nothing is allocated until the first insert.
  explicit ReceiveBuffer(size_t capacity);

  // At most this many disjoint out-of-order ranges are held; data that would open
  // a new one past the limit is dropped (bounds the per-segment cost against a
  // peer that sends every other byte).
  static constexpr size_t kMaxOutOfOrderRanges = 4096;

  // Stores data that starts `offset` bytes past RCV.NXT. Bytes that would fall
  // beyond the window (offset + i >= window()) are dropped. Bytes already held are
  // kept as they are (first copy wins). Returns how far RCV.NXT advanced, i.e. how
  // many bytes became readable (0 when the data is out of order). Grows the
  // storage when the bytes lie past what is allocated.
  // Example: insert(100, b) holds b out of order and returns 0; a later
  // insert(0, a) with a.size() == 100 returns 100 + b.size().
  size_t insert(size_t offset, std::span<const uint8_t> data);

  // Copies up to out.size() readable bytes out and frees their space (the storage
  // is kept, unless discard() gives it back).
  size_t read(std::span<uint8_t> out);
  // The readable bytes in place, as one or two spans (the ring may wrap); valid
  // until the next call that changes the buffer. discard() frees them once used.
  std::array<std::span<const uint8_t>, 2> readable_spans() const;
  // Discards up to n readable bytes (as read() without copying). When that
  // empties the buffer (nothing out of order either) and the storage is no more
  // than kInitialAllocation, it is freed.
  size_t discard(size_t n);

  size_t readable() const { return readable_; }
  // The configured limit: readable() plus the window never exceed it.
  size_t capacity() const { return capacity_; }
  // Bytes the peer may still send past RCV.NXT.
  size_t window() const { return capacity_ - readable_; }
  // Bytes of storage held (0 before the first insert; more than capacity() only
  // after set_capacity() lowered the limit).
  size_t allocated() const { return allocated_; }
  // Out-of-order ranges held past RCV.NXT, ascending and disjoint, offsets relative to RCV.NXT.
  const std::vector<ByteRange>& out_of_order() const { return ooo_; }
  size_t out_of_order_bytes() const;
  // Changes the limit, never below readable(). Offsets keep their meaning; when
  // shrinking, out-of-order bytes past the new window are dropped and storage
  // above the new limit is given back: freed when empty, else reallocated to the
  // limit once it is kGiveBackFactor times the limit or more (allocated() may
  // exceed capacity() until then).
  void set_capacity(size_t capacity);
  static constexpr size_t kGiveBackFactor = 2;

 private:
  // Bytes of the ring in use from head_: the readable bytes, then everything up to
  // the end of the last out-of-order range (gaps included).
  size_t used() const { return readable_ + (ooo_.empty() ? 0 : ooo_.back().end); }
  // Makes room for `needed` bytes from head_ (<= capacity_) by growing geometrically.
  void reserve(size_t needed);
  // Moves the ring to new storage of `size` bytes (>= used()), head_ at index 0.
  void reallocate(size_t size);
  // Copies data to the ring at `offset` past RCV.NXT; requires it to fit in allocated_.
  void store(size_t offset, std::span<const uint8_t> data);

  std::unique_ptr<uint8_t[]> storage_;  // allocated_ bytes, not zero-initialised
  size_t allocated_ = 0;
  size_t capacity_;
  size_t head_ = 0;      // index of the first readable byte
  size_t readable_ = 0;  // in-order bytes
  std::vector<ByteRange> ooo_;
};

}  // namespace tou
