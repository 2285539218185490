#include "core/send_buffer.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <utility>

namespace tou {

SendBuffer::SendBuffer(size_t capacity) : capacity_(capacity) {}

size_t SendBuffer::write(std::span<const uint8_t> data) {
  const size_t n = std::min(data.size(), free_space());
  if (n == 0) return 0;
  if (size_ + n > allocated_) reserve(size_ + n);
  const size_t cap = allocated_;
  size_t tail = head_ + size_;
  if (tail >= cap) tail -= cap;
  const size_t first = std::min(n, cap - tail);
  std::memcpy(storage_.get() + tail, data.data(), first);
  std::memcpy(storage_.get(), data.data() + first, n - first);
  size_ += n;
  return n;
}

std::array<std::span<uint8_t>, 2> SendBuffer::writable_spans(size_t max) {
  const size_t grow = std::min(kInitialAllocation, free_space());
  if (allocated_ - size_ < grow) reserve(size_ + grow);
  const size_t n = std::min({max, allocated_ - size_, free_space()});
  if (n == 0) return {};
  const size_t cap = allocated_;
  size_t tail = head_ + size_;
  if (tail >= cap) tail -= cap;
  const size_t first = std::min(n, cap - tail);
  return {std::span<uint8_t>(storage_.get() + tail, first),
          std::span<uint8_t>(storage_.get(), n - first)};
}

void SendBuffer::commit(size_t n) {
  assert(size_ + n <= allocated_ && n <= free_space());
  size_ += n;
}

void SendBuffer::copy_out(size_t offset, std::span<uint8_t> out) const {
  const auto [first, second] = views(offset, out.size());
  if (!first.empty()) std::memcpy(out.data(), first.data(), first.size());
  if (!second.empty()) std::memcpy(out.data() + first.size(), second.data(), second.size());
}

std::array<std::span<const uint8_t>, 2> SendBuffer::views(size_t offset, size_t len) const {
  assert(offset + len <= size_);
  if (len == 0) return {};
  const size_t cap = allocated_;
  size_t start = head_ + offset;
  if (start >= cap) start -= cap;
  const size_t first = std::min(len, cap - start);
  return {std::span<const uint8_t>(storage_.get() + start, first),
          std::span<const uint8_t>(storage_.get(), len - first)};
}

void SendBuffer::consume(size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  if (size_ == 0) {
    head_ = 0;  // keeps the next writes contiguous
    // Idle, a connection holds no storage of its own (issue 11's 8 KiB per
    // idle connection); grown storage stays for the next bulk writes.
    if (allocated_ <= kInitialAllocation) reallocate(0);
    return;
  }
  head_ += n;
  if (head_ >= allocated_) head_ -= allocated_;
}

void SendBuffer::set_capacity(size_t capacity) {
  capacity_ = std::max(capacity, size_);
  if (allocated_ > capacity_) reallocate(size_ == 0 ? 0 : capacity_);
}

void SendBuffer::reserve(size_t needed) {
  assert(needed <= capacity_);
  if (needed <= allocated_) return;
  // Doubling from kInitialAllocation (or the first write's size), capped at the limit.
  size_t size = std::bit_ceil(std::max(needed, kInitialAllocation));
  size = std::max(size, 2 * allocated_);
  reallocate(std::min(size, capacity_));
}

void SendBuffer::reallocate(size_t size) {
  assert(size >= size_);
  if (size == allocated_) return;
  std::unique_ptr<uint8_t[]> resized;
  if (size > 0) {
    resized = std::make_unique_for_overwrite<uint8_t[]>(size);
    copy_out(0, std::span<uint8_t>(resized.get(), size_));
  }
  storage_ = std::move(resized);
  allocated_ = size;
  head_ = 0;
}

}  // namespace tou
