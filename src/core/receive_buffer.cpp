#include "core/receive_buffer.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <utility>

namespace tou {

ReceiveBuffer::ReceiveBuffer(size_t capacity) : capacity_(capacity) {}

size_t ReceiveBuffer::insert(size_t offset, std::span<const uint8_t> data) {
  const size_t win = window();
  if (offset >= win || data.empty()) return 0;
  // Trim what lies past the window (RFC 9293 3.10.7.4: text beyond it is not accepted).
  const size_t end = offset + std::min(data.size(), win - offset);

  // Fast path: in order with nothing held out of order.
  if (offset == 0 && ooo_.empty()) {
    if (readable_ + end > allocated_) reserve(readable_ + end);
    store(0, data.first(end));
    readable_ += end;
    return end;
  }

  // Where the new range [offset, end) goes among the held ranges: `first` is the first
  // range that ends at or after `offset` (touching or overlapping), `last` one past the
  // last range that begins at or before `end`.
  auto first = std::partition_point(ooo_.begin(), ooo_.end(),
                                    [&](const ByteRange& r) { return r.end < offset; });
  auto last =
      std::partition_point(first, ooo_.end(), [&](const ByteRange& r) { return r.begin <= end; });
  if (first == last && offset != 0 && ooo_.size() >= kMaxOutOfOrderRanges) {
    // A new, separate range over the limit: drop it (out-of-order data is never owed).
    return 0;
  }
  if (readable_ + end > allocated_) reserve(readable_ + end);

  // First copy wins: store only the gaps between the held ranges.
  size_t cursor = offset;
  for (auto it = first; it != last && cursor < end; ++it) {
    if (it->begin > cursor) store(cursor, data.subspan(cursor - offset, it->begin - cursor));
    cursor = std::max(cursor, it->end);
  }
  if (cursor < end) store(cursor, data.subspan(cursor - offset, end - cursor));

  // Merge [offset, end) with the ranges it touches.
  ByteRange merged{offset, end};
  if (first != last) {
    merged.begin = std::min(merged.begin, first->begin);
    merged.end = std::max(merged.end, (last - 1)->end);
    *first = merged;
    ooo_.erase(first + 1, last);
  } else {
    ooo_.insert(first, merged);
  }

  if (ooo_.front().begin != 0) return 0;
  // The gap at RCV.NXT is filled: the first range becomes readable and the rest shift down.
  const size_t advance = ooo_.front().end;
  readable_ += advance;
  ooo_.erase(ooo_.begin());
  for (ByteRange& r : ooo_) {
    r.begin -= advance;
    r.end -= advance;
  }
  return advance;
}

size_t ReceiveBuffer::read(std::span<uint8_t> out) {
  const size_t n = std::min(out.size(), readable_);
  if (n == 0) return 0;
  const size_t first = std::min(n, allocated_ - head_);
  std::memcpy(out.data(), storage_.get() + head_, first);
  std::memcpy(out.data() + first, storage_.get(), n - first);
  return discard(n);
}

std::array<std::span<const uint8_t>, 2> ReceiveBuffer::readable_spans() const {
  if (readable_ == 0) return {};
  const size_t first = std::min(readable_, allocated_ - head_);
  return {std::span<const uint8_t>(storage_.get() + head_, first),
          std::span<const uint8_t>(storage_.get(), readable_ - first)};
}

size_t ReceiveBuffer::discard(size_t n) {
  n = std::min(n, readable_);
  readable_ -= n;
  if (readable_ == 0 && ooo_.empty()) {
    head_ = 0;  // keeps the next segments contiguous
    // Idle, a connection holds no storage of its own; grown storage stays
    // for the next window's worth.
    if (allocated_ <= kInitialAllocation) reallocate(0);
  } else {
    head_ += n;
    if (head_ >= allocated_) head_ -= allocated_;
  }
  return n;
}

size_t ReceiveBuffer::out_of_order_bytes() const {
  size_t total = 0;
  for (const ByteRange& r : ooo_) total += r.end - r.begin;
  return total;
}

void ReceiveBuffer::set_capacity(size_t capacity) {
  capacity_ = std::max(capacity, readable_);
  // Shrinking: out-of-order bytes past the new window are dropped.
  const size_t win = window();
  std::erase_if(ooo_, [&](const ByteRange& r) { return r.begin >= win; });
  if (!ooo_.empty()) ooo_.back().end = std::min(ooo_.back().end, win);
  // Storage above the limit is given back when empty, or once it is twice the limit:
  // a limit lowered a little at a time (as the program reads, after SO_RCVBUF shrank
  // on an open connection) reallocates a logarithmic number of times, not per read.
  if (allocated_ <= capacity_) return;
  if (used() == 0) {
    reallocate(0);
  } else if (allocated_ >= kGiveBackFactor * capacity_) {
    reallocate(capacity_);
  }
}

void ReceiveBuffer::reserve(size_t needed) {
  assert(needed <= capacity_);
  if (needed <= allocated_) return;
  // Doubling from kInitialAllocation (or the first insert's room), capped at the limit.
  size_t size = std::bit_ceil(std::max(needed, kInitialAllocation));
  size = std::max(size, 2 * allocated_);
  reallocate(std::min(size, capacity_));
}

void ReceiveBuffer::reallocate(size_t size) {
  const size_t used_bytes = used();
  assert(size >= used_bytes);
  if (size == allocated_) return;
  std::unique_ptr<uint8_t[]> resized;
  if (size > 0) {
    resized = std::make_unique_for_overwrite<uint8_t[]>(size);
    // Lay the ring out from head_ so every offset keeps its meaning; the gaps between
    // out-of-order ranges are copied along (their bytes are never read).
    const size_t first = std::min(used_bytes, allocated_ - head_);
    if (first > 0) std::memcpy(resized.get(), storage_.get() + head_, first);
    if (used_bytes > first) std::memcpy(resized.get() + first, storage_.get(), used_bytes - first);
  }
  storage_ = std::move(resized);
  allocated_ = size;
  head_ = 0;
}

void ReceiveBuffer::store(size_t offset, std::span<const uint8_t> data) {
  const size_t cap = allocated_;
  assert(readable_ + offset + data.size() <= cap);
  size_t start = head_ + readable_ + offset;  // < 2 * cap
  if (start >= cap) start -= cap;
  const size_t first = std::min(data.size(), cap - start);
  std::memcpy(storage_.get() + start, data.data(), first);
  std::memcpy(storage_.get(), data.data() + first, data.size() - first);
}

}  // namespace tou
