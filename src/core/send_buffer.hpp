// The send buffer: bytes the application wrote that are not yet acknowledged.
// Offset 0 is the oldest unacknowledged byte (SND.UNA for data). A ring buffer,
// so the data path never allocates once capacity is reached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tou {

class SendBuffer {
 public:
  explicit SendBuffer(size_t capacity);

  // Appends up to free_space() bytes; returns how many were taken.
  size_t write(std::span<const uint8_t> data);
  // Copies bytes [offset, offset + out.size()) into out; requires offset + out.size() <= size().
  void copy_out(size_t offset, std::span<uint8_t> out) const;
  // Drops the first n bytes (acknowledged); requires n <= size().
  void consume(size_t n);

  size_t size() const { return size_; }
  size_t capacity() const { return storage_.size(); }
  size_t free_space() const { return capacity() - size_; }
  // Grows or shrinks capacity (never below size()).
  void set_capacity(size_t capacity);

 private:
  std::vector<uint8_t> storage_;
  size_t head_ = 0;  // index of offset 0 in storage_
  size_t size_ = 0;
};

}  // namespace tou
