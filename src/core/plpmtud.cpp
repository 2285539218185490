// DPLPMTUD state machine (RFC 8899 5.2): BASE confirms the base size,
// SEARCHING probes upward (the interface's MTU first, then a binary search
// between the largest size that worked and the smallest that failed),
// SEARCH_COMPLETE waits for the raise timer, ERROR holds the minimum when even
// the base is lost.
#include "core/plpmtud.hpp"

#include <algorithm>

namespace tou {

namespace {

// RFC 791: every IPv4 link carries 68 bytes; no PTB may claim less.
constexpr uint16_t kSmallestMtu = 68;

}  // namespace

const char* to_string(Plpmtud::State state) {
  switch (state) {
    case Plpmtud::State::kDisabled:
      return "DISABLED";
    case Plpmtud::State::kBase:
      return "BASE";
    case Plpmtud::State::kSearching:
      return "SEARCHING";
    case Plpmtud::State::kSearchComplete:
      return "SEARCH_COMPLETE";
    case Plpmtud::State::kError:
      return "ERROR";
  }
  return "?";
}

Plpmtud::Plpmtud(const PlpmtudConfig& config) : config_(config) {
  config_.min_mtu = std::max(config_.min_mtu, kSmallestMtu);
  config_.max_mtu = std::max(config_.max_mtu, config_.min_mtu);
  config_.base_mtu = std::clamp(config_.base_mtu, config_.min_mtu, config_.max_mtu);
  config_.max_probes = std::max(config_.max_probes, 1);
  max_mtu_ = config_.max_mtu;
  plpmtu_ = config_.base_mtu;
  if (!config_.enabled) return;
  // RFC 8899 5.2: BASE first; its confirmation is a probe of the base size
  // (in practice the first full-sized data segment).
  state_ = State::kBase;
  probe_size_ = config_.base_mtu;
  search_low_ = config_.base_mtu;
  search_high_ = static_cast<uint16_t>(max_mtu_ + 1);
}

void Plpmtud::set_plpmtu(uint16_t mtu) {
  if (mtu == plpmtu_) return;
  plpmtu_ = mtu;
  ++stats_.size_changes;
}

std::optional<uint16_t> Plpmtud::probe_size(Instant now) {
  if (state_ == State::kDisabled || probe_in_flight_) return std::nullopt;
  if (state_ == State::kSearchComplete) {
    if (now < raise_at_) return std::nullopt;
    enter_search(now);  // RFC 8899 5.2: PMTU_RAISE_TIMER expired
    if (state_ != State::kSearching) return std::nullopt;
  }
  if (state_ == State::kError && probe_count_ >= config_.max_probes) {
    if (now < raise_at_) return std::nullopt;
    probe_count_ = 0;  // try the base again
  }
  return probe_size_;
}

void Plpmtud::on_probe_sent(Instant) {
  probe_in_flight_ = true;
  ++stats_.probes_sent;
}

void Plpmtud::on_probe_acked(Instant now) {
  if (!probe_in_flight_) return;
  probe_in_flight_ = false;
  ++stats_.probes_acked;
  switch (state_) {
    case State::kBase:
    case State::kError:
      // RFC 8899 5.2: the base is confirmed; search above it.
      set_plpmtu(config_.base_mtu);
      enter_search(now);
      break;
    case State::kSearching:
      set_plpmtu(std::max(plpmtu_, probe_size_));
      search_low_ = probe_size_;
      probe_count_ = 0;
      choose_next(now);
      break;
    default:
      break;
  }
}

void Plpmtud::on_probe_lost(Instant now) {
  if (!probe_in_flight_) return;
  probe_in_flight_ = false;
  ++stats_.probes_lost;
  ++probe_count_;
  if (probe_count_ < config_.max_probes) return;
  switch (state_) {
    case State::kBase:
      // RFC 8899 5.2: the base itself does not get through: ERROR.
      state_ = State::kError;
      set_plpmtu(config_.min_mtu);
      probe_count_ = 0;
      break;
    case State::kError:
      raise_at_ = now + config_.raise_interval;  // rest before the next tries
      break;
    case State::kSearching:
      search_high_ = probe_size_;
      probe_count_ = 0;
      choose_next(now);
      break;
    default:
      break;
  }
}

void Plpmtud::enter_search(Instant now) {
  state_ = State::kSearching;
  search_low_ = plpmtu_;
  search_high_ = static_cast<uint16_t>(max_mtu_ + 1);
  probe_count_ = 0;
  // The interface's MTU first: on most paths it is the answer, in one probe.
  probe_size_ = max_mtu_;
  if (plpmtu_ >= max_mtu_) complete(now);
}

void Plpmtud::choose_next(Instant now) {
  if (search_low_ >= max_mtu_ || search_high_ - search_low_ <= config_.search_granularity) {
    complete(now);
    return;
  }
  probe_size_ = static_cast<uint16_t>(search_low_ + (search_high_ - search_low_) / 2);
  probe_count_ = 0;
}

void Plpmtud::complete(Instant now) {
  state_ = State::kSearchComplete;
  probe_count_ = 0;
  raise_at_ = now + config_.raise_interval;
}

bool Plpmtud::on_ptb(Instant now, uint32_t ptb_mtu, bool quoted_probe, uint32_t quoted_size) {
  if (state_ == State::kDisabled) return false;
  bool probe = quoted_probe && probe_in_flight_;
  uint32_t sent = probe ? probe_size_ : quoted_size != 0 ? quoted_size : plpmtu_;
  // RFC 8899 4.6.2: a PTB claiming the sent size fits (or an impossible size)
  // is not believed.
  if (ptb_mtu >= sent || ptb_mtu < kSmallestMtu) {
    ++stats_.ptb_rejected;
    return false;
  }
  ++stats_.ptb_accepted;
  uint16_t mtu = static_cast<uint16_t>(std::max<uint32_t>(ptb_mtu, config_.min_mtu));
  if (probe) {
    probe_in_flight_ = false;
    ++stats_.probes_lost;
    if (mtu >= plpmtu_) {
      // The probe failed and the path named its size: nothing above it fits.
      search_high_ = std::min<uint16_t>(search_high_, static_cast<uint16_t>(mtu + 1));
      if (mtu > plpmtu_) {
        probe_size_ = mtu;  // exactly that next
        probe_count_ = 0;
        state_ = State::kSearching;
      } else {
        choose_next(now);
      }
      return true;
    }
  }
  // A report about a segment sent before the size went down (one ICMP for
  // each packet of a flight): true, and nothing more to do.
  if (mtu >= plpmtu_) return true;
  // The current size does not fit: lower it at once (RFC 8899 4.6.2), and
  // let the raise timer try larger ones again later.
  set_plpmtu(mtu);
  search_low_ = plpmtu_;
  search_high_ = static_cast<uint16_t>(plpmtu_ + 1);
  if (plpmtu_ < config_.base_mtu) {
    state_ = State::kError;
    probe_size_ = config_.base_mtu;
    probe_count_ = config_.max_probes;  // no base probe until the raise timer
    raise_at_ = now + config_.raise_interval;
  } else {
    complete(now);
  }
  return true;
}

void Plpmtud::on_black_hole(Instant now) {
  if (state_ == State::kDisabled) return;
  ++stats_.black_holes;
  probe_in_flight_ = false;
  probe_count_ = 0;
  probe_size_ = config_.base_mtu;
  if (plpmtu_ > config_.base_mtu) {
    // RFC 8899 4.3 / 5.2: back to the base, confirm it, search again.
    state_ = State::kBase;
    set_plpmtu(config_.base_mtu);
  } else {
    state_ = State::kError;
    set_plpmtu(config_.min_mtu);
    raise_at_ = now;
  }
}

void Plpmtud::lower_max(Instant now, uint16_t mtu) {
  mtu = std::max(mtu, config_.min_mtu);
  if (mtu >= max_mtu_) return;
  max_mtu_ = mtu;
  config_.base_mtu = std::min(config_.base_mtu, max_mtu_);
  search_high_ = std::min<uint16_t>(search_high_, static_cast<uint16_t>(max_mtu_ + 1));
  if (plpmtu_ > max_mtu_) set_plpmtu(max_mtu_);
  if (state_ == State::kDisabled) return;
  if (probe_size_ <= max_mtu_) return;
  probe_in_flight_ = false;
  probe_count_ = 0;
  if (state_ == State::kSearching) {
    probe_size_ = max_mtu_;  // the new largest size first, as at the search's start
    if (plpmtu_ >= max_mtu_) complete(now);
  } else {
    probe_size_ = config_.base_mtu;
  }
}

}  // namespace tou
