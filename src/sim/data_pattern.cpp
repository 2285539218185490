#include "sim/data_pattern.hpp"

#include <array>

#include "sim/rng.hpp"

namespace tou::sim {

namespace {

std::array<uint8_t, 8> word(uint64_t key, uint64_t index) {
  const uint64_t w = splitmix64(key + index);
  std::array<uint8_t, 8> b;
  for (size_t i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(w >> (8 * i));
  return b;
}

}  // namespace

uint8_t DataPattern::at(uint64_t offset) const {
  return word(key_, offset / 8)[offset % 8];
}

void DataPattern::fill(uint64_t offset, std::span<uint8_t> out) const {
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t pos = offset + i;
    const auto w = word(key_, pos / 8);
    for (size_t j = pos % 8; j < 8 && i < out.size(); ++j) out[i++] = w[j];
  }
}

std::optional<size_t> DataPattern::mismatch(uint64_t offset, std::span<const uint8_t> data) const {
  size_t i = 0;
  while (i < data.size()) {
    const uint64_t pos = offset + i;
    const auto w = word(key_, pos / 8);
    for (size_t j = pos % 8; j < 8 && i < data.size(); ++j, ++i) {
      if (data[i] != w[j]) return i;
    }
  }
  return std::nullopt;
}

}  // namespace tou::sim
