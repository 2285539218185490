// The send buffer: bytes the application wrote that are not yet acknowledged.
// Offset 0 is the oldest unacknowledged byte (SND.UNA for data). A ring buffer
// whose storage is allocated lazily: capacity() is a limit, not an allocation.
// Storage is allocated on the first write (kInitialAllocation or the write's size,
// rounded up to a power of two) and doubles as data needs room, up to capacity(),
// so a connection's life sees one allocation and at most
// ceil(log2(capacity / kInitialAllocation)) growths, never one per segment.
// Draining keeps grown storage (no allocation per segment); storage of
// kInitialAllocation or less is given back once everything is acknowledged,
// so that an idle connection holds none (a request/response pays one
// allocation per response, a bulk sender none).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace tou {

class SendBuffer {
 public:
  // Smallest storage allocated by the first write (unless capacity() is smaller).
  static constexpr size_t kInitialAllocation = 16 * 1024;

  // `capacity` bounds size(); nothing is allocated until the first write.
  explicit SendBuffer(size_t capacity);

  // Appends up to free_space() bytes; returns how many were taken. Grows the storage
  // (keeping its content) when the bytes do not fit in what is allocated.
  // Example: SendBuffer b(1 << 20); b.write(data) with data.size() == 100 returns 100
  // and leaves b.allocated() == kInitialAllocation.
  size_t write(std::span<const uint8_t> data);
  // Zero-copy write: up to `max` bytes of free storage past the data, as one or two
  // spans (the ring may wrap), to be filled and then committed. Grows the storage
  // (as write() would) only when less than kInitialAllocation of it is free.
  std::array<std::span<uint8_t>, 2> writable_spans(size_t max);
  // Appends the first n bytes of the last writable_spans(); requires n <= their size.
  void commit(size_t n);
  // Copies bytes [offset, offset + out.size()) into out; requires offset + out.size() <= size().
  void copy_out(size_t offset, std::span<uint8_t> out) const;
  // Bytes [offset, offset + len) in place, as one or two spans (the second non-empty
  // only where the ring wraps); requires offset + len <= size(). The spans stay valid
  // until the storage changes: a write(), writable_spans() or set_capacity() (which
  // may reallocate or fill space consume() freed), a consume() that empties the
  // buffer (which may free it), or the buffer's end. consume() alone moves no byte.
  std::array<std::span<const uint8_t>, 2> views(size_t offset, size_t len) const;
  // Drops the first n bytes (acknowledged); requires n <= size(). Keeps the
  // storage, unless that empties the buffer and the storage is no more than
  // kInitialAllocation: then it is freed (allocated() == 0).
  void consume(size_t n);

  size_t size() const { return size_; }
  // The configured limit on size() (the send window the application may fill).
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ - size_; }
  // Bytes of storage held (0 before the first write; never more than capacity()).
  size_t allocated() const { return allocated_; }
  // Changes the limit (never below size()). Storage above a smaller limit is
  // given back: reallocated to the limit, or freed when the buffer is empty.
  void set_capacity(size_t capacity);

 private:
  // Makes room for `needed` bytes (<= capacity_) by growing the storage geometrically.
  void reserve(size_t needed);
  // Moves the content to new storage of `size` bytes (>= size_), starting at index 0.
  void reallocate(size_t size);

  std::unique_ptr<uint8_t[]> storage_;  // allocated_ bytes, not zero-initialised
  size_t allocated_ = 0;
  size_t capacity_;
  size_t head_ = 0;  // index of offset 0 in storage_
  size_t size_ = 0;
};

}  // namespace tou
