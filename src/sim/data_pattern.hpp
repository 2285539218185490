// The bytes a simulated application sends: a seeded stream addressable by
// offset, so the sender generates and the receiver checks any stretch of it
// without keeping the data (a 50 MB transfer costs no memory).
//
//   DataPattern p(key);
//   p.fill(offset, chunk);                          // sender
//   if (auto bad = p.mismatch(offset, got)) ...    // receiver: first wrong byte
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace tou::sim {

class DataPattern {
 public:
  explicit DataPattern(uint64_t key) : key_(key) {}

  // Byte i of the stream is byte (i % 8), little-endian, of splitmix64(key + i / 8).
  uint8_t at(uint64_t offset) const;
  // Writes bytes [offset, offset + out.size()) of the stream into out.
  void fill(uint64_t offset, std::span<uint8_t> out) const;
  // Index in `data` of the first byte that differs from the stream at `offset`.
  std::optional<size_t> mismatch(uint64_t offset, std::span<const uint8_t> data) const;

 private:
  uint64_t key_;
};

}  // namespace tou::sim
