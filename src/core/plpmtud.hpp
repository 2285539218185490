// Datagram Packetization Layer Path MTU Discovery (DPLPMTUD, RFC 8899) for
// one connection's send direction, as a small sans-I/O state machine. Sizes
// are IP packet sizes (the PLPMTU of RFC 8899 2 plus the IP and UDP headers),
// so they compare directly with link MTUs and ICMP "too big" reports.
//
// The connection asks probe_size() whether a probe is due, sends one data
// segment of that size and reports on_probe_sent(); the probe's fate comes back
// as on_probe_acked() or on_probe_lost() (its loss is not congestion, RFC 8899
// 4.4). A validated ICMP Packet Too Big goes to on_ptb(); repeated loss of
// full-sized segments to on_black_hole(). plpmtu() is the size to send with.
//
//   Plpmtud p({.enabled = true, .overhead = 28, .base_mtu = 1200, .max_mtu = 1500});
//   if (auto size = p.probe_size(now)) { send_probe(*size); p.on_probe_sent(now); }
//   ... p.on_probe_acked(now);  // p.plpmtu() == 1500
#pragma once

#include <cstdint>
#include <optional>

#include "base/time.hpp"

namespace tou {

struct PlpmtudConfig {
  bool enabled = false;  // off: the connection sends with its configured MSS
  // IP + UDP header bytes in front of each segment (IPv4 20 + 8, IPv6 40 + 8).
  uint16_t overhead = 28;
  // BASE_PLPMTU (RFC 8899 5.1.4): confirmed first, never left by a PTB. IPv6:
  // 1280 (RFC 8200 5); IPv4: 1200, which RFC 8899 5.1.2 suggests as a size
  // that works on nearly every path.
  uint16_t base_mtu = 1200;
  // MIN_PLPMTU (RFC 8899 5.1.2), used in ERROR when even the base is lost:
  // 576 for IPv4 (RFC 791's datagram every host accepts), 1280 for IPv6.
  uint16_t min_mtu = 576;
  // MAX_PLPMTU: the local interface's MTU (RFC 8899 5.1.2).
  uint16_t max_mtu = 1500;
  // MAX_PROBES (RFC 8899 5.1.2): losses of one size before it is given up.
  int max_probes = 3;
  // The search stops once the largest size that worked and the smallest that
  // failed are this close (bytes).
  uint16_t search_granularity = 4;
  // PMTU_RAISE_TIMER (RFC 8899 5.1.1): how long SEARCH_COMPLETE lasts before
  // the search for a larger size starts again.
  Duration raise_interval = std::chrono::seconds(600);
};

struct PlpmtudStats {
  uint64_t probes_sent = 0;
  uint64_t probes_acked = 0;
  uint64_t probes_lost = 0;
  uint64_t ptb_accepted = 0;  // validated PTBs that lowered the size or ended a probe
  uint64_t ptb_rejected = 0;  // PTBs that failed validation (RFC 8899 4.6.1)
  uint64_t black_holes = 0;   // fall-backs to the base without any ICMP (RFC 8899 4.3)
  uint64_t size_changes = 0;  // times plpmtu() changed
};

class Plpmtud {
 public:
  // RFC 8899 5.2.
  enum class State : uint8_t { kDisabled, kBase, kSearching, kSearchComplete, kError };

  explicit Plpmtud(const PlpmtudConfig& config = {});

  bool enabled() const { return state_ != State::kDisabled; }
  State state() const { return state_; }
  // The size to send with (IP bytes): the largest confirmed, or the base.
  uint16_t plpmtu() const { return plpmtu_; }
  uint16_t overhead() const { return config_.overhead; }
  uint16_t base_mtu() const { return config_.base_mtu; }
  uint16_t max_mtu() const { return max_mtu_; }
  const PlpmtudStats& stats() const { return stats_; }

  // The probe size due now (IP bytes), or nullopt: no probe in flight, and the
  // state searches, confirms the base (a probe of exactly plpmtu()), or its
  // raise timer has run out. Never more than max_mtu().
  std::optional<uint16_t> probe_size(Instant now);
  bool probe_in_flight() const { return probe_in_flight_; }
  uint16_t probe_in_flight_size() const { return probe_in_flight_ ? probe_size_ : 0; }
  void on_probe_sent(Instant now);
  // The probe was delivered: its size is confirmed (RFC 8899 5.2, SEARCHING).
  void on_probe_acked(Instant now);
  // The probe was lost; after max_probes losses of one size the search goes
  // below it (or the base failed: ERROR).
  void on_probe_lost(Instant now);

  // RFC 8899 4.6.2: a PTB the caller validated against a segment in flight
  // (quoted_probe: the quoted segment was the probe in flight; quoted_size:
  // that segment's IP size as sent, 0 when unknown). Returns true when
  // accepted: the size (or the probe) went down to ptb_mtu, never below
  // min_mtu, never above the size that was sent; a report about a segment
  // sent before the size went down changes nothing. A report not smaller
  // than what was sent is rejected (counted).
  bool on_ptb(Instant now, uint32_t ptb_mtu, bool quoted_probe, uint32_t quoted_size = 0);
  // Rejected before reaching the state machine (no segment in flight matched).
  void count_rejected_ptb() { ++stats_.ptb_rejected; }
  // RFC 8899 4.3: full-sized segments keep being lost while the path carried
  // smaller ones (or nothing at all): back to the base, or to ERROR when the
  // base itself was what failed.
  void on_black_hole(Instant now);
  // A smaller MAX_PLPMTU: the local interface's MTU went down (an EMSGSIZE
  // from our own stack), or the peer's MSS option or TCP_MAXSEG allow no more.
  void lower_max(Instant now, uint16_t mtu);

 private:
  void set_plpmtu(uint16_t mtu);
  void enter_search(Instant now);
  void choose_next(Instant now);
  void complete(Instant now);

  PlpmtudConfig config_;
  State state_ = State::kDisabled;
  uint16_t plpmtu_ = 0;
  uint16_t max_mtu_ = 0;
  uint16_t search_low_ = 0;   // the largest size confirmed in this search
  uint16_t search_high_ = 0;  // the smallest size that failed (max_mtu + 1 at first)
  uint16_t probe_size_ = 0;   // the size to probe next (or in flight)
  int probe_count_ = 0;       // losses of probe_size_ so far
  bool probe_in_flight_ = false;
  Instant raise_at_{};
  PlpmtudStats stats_;
};

const char* to_string(Plpmtud::State state);

}  // namespace tou
