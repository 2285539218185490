#include "core/send_buffer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace tou {

SendBuffer::SendBuffer(size_t capacity) : storage_(capacity) {}

size_t SendBuffer::write(std::span<const uint8_t> data) {
  const size_t n = std::min(data.size(), free_space());
  if (n == 0) return 0;
  const size_t cap = capacity();
  size_t tail = head_ + size_;
  if (tail >= cap) tail -= cap;
  const size_t first = std::min(n, cap - tail);
  std::memcpy(storage_.data() + tail, data.data(), first);
  std::memcpy(storage_.data(), data.data() + first, n - first);
  size_ += n;
  return n;
}

void SendBuffer::copy_out(size_t offset, std::span<uint8_t> out) const {
  assert(offset + out.size() <= size_);
  if (out.empty()) return;
  const size_t cap = capacity();
  size_t start = head_ + offset;
  if (start >= cap) start -= cap;
  const size_t first = std::min(out.size(), cap - start);
  std::memcpy(out.data(), storage_.data() + start, first);
  std::memcpy(out.data() + first, storage_.data(), out.size() - first);
}

void SendBuffer::consume(size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  if (size_ == 0) {
    head_ = 0;  // keeps the next writes contiguous
    return;
  }
  head_ += n;
  if (head_ >= capacity()) head_ -= capacity();
}

void SendBuffer::set_capacity(size_t capacity) {
  capacity = std::max(capacity, size_);
  if (capacity == storage_.size()) return;
  std::vector<uint8_t> grown(capacity);
  copy_out(0, std::span<uint8_t>(grown.data(), size_));
  storage_ = std::move(grown);
  head_ = 0;
}

}  // namespace tou
