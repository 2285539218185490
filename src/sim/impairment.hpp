// The per-datagram impairment decisions of a link: the propagation delay with
// jitter, loss (independent, Gilbert-Elliott per datagram, or bursts that last
// a time, which alone needs the datagram's send time),
// reordering, corruption (which bits) and duplication. The simulator's Link
// (virtual time) and tou-netem (real time, UDP or TUN) both draw their
// decisions here, so the same settings and seed mean the same impairments.
//
//   Rng rng(seed);
//   Impairment imp(ImpairmentConfig{.loss = 0.1, .duplicate = 0.05}, rng);
//   Verdict v = imp.decide(bytes, now);   // may flip bits in `bytes`
//   if (!v.lost) schedule(now + v.delay + (v.reordered ? reorder_delay : 0), bytes);
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/time.hpp"
#include "sim/rng.hpp"

namespace tou::sim {

// Two-state bursty loss (Gilbert 1960, Elliott 1963). Before each datagram the
// state moves Good -> Bad with probability p (Bad -> Good with r); then the
// datagram is lost with the state's loss probability. The long-run fraction of
// time in Bad is p / (p + r), so the average loss is
//   loss_in_good * r / (p + r) + loss_in_bad * p / (p + r).
struct GilbertElliott {
  double p = 0;             // Good -> Bad
  double r = 1;             // Bad -> Good; the Bad state lasts 1/r datagrams on average
  double loss_in_good = 0;  // 1 - k in Elliott's notation
  double loss_in_bad = 1;   // 1 - h

  double average_loss() const;

  // The parameters `--burst` uses for an average loss L: no loss in Good, half
  // the datagrams lost in Bad (loss_in_bad = max(0.5, L)), Bad lasting
  // mean_bad_length = 8 datagrams (r = 1/8), and p chosen so that the average is
  // exactly L: p = r * pi / (1 - pi) with pi = L / loss_in_bad. When that p would
  // exceed 1 (L close to loss_in_bad), p = 1 and r = (1 - pi) / pi instead.
  // At L = 1% this gives bursts of about 4 losses within 8 datagrams, once every
  // ~400 datagrams. As in netem, the chain advances per datagram, not per unit
  // of time: a sparse sender (one retransmission per RTO) can stay in Bad across
  // long idle periods, so runs of lost retransmissions are likelier than on a
  // real path whose bursts last a fixed time.
  static GilbertElliott with_average_loss(double loss, double mean_bad_length = 8,
                                          double loss_in_bad = 0.5);
};

// Bursts that last a time (a two-state continuous-time Markov chain): the path
// is Bad for an exponentially distributed time of mean `mean_bad` and Good for
// one of mean mean_bad * (1 - pi) / pi, pi = loss / loss_in_bad being the share
// of time in Bad; a datagram sent while Bad is lost with loss_in_bad, none while
// Good. The state at a datagram's send time is drawn from the exact transition
// probability since the previous datagram,
//   P(Bad after dt | Bad)  = pi + (1 - pi) * e^(-dt / tau)
//   P(Bad after dt | Good) = pi - pi * e^(-dt / tau),   1/tau = 1/mean_bad + 1/mean_good,
// so a sparse sender (one retransmission per RTO) meets a fresh state each time,
// as on a real path, unlike the per-datagram chain above. One draw for the
// state and one for the loss per datagram, as in GilbertElliott.
struct TimedBursts {
  Duration mean_bad{0};
  double share_bad = 0;  // pi, the long-run share of time in Bad
  double loss_in_bad = 1;

  // `loss` on average: loss_in_bad = max(0.5, loss), pi = loss / loss_in_bad.
  static TimedBursts with_average_loss(double loss, Duration mean_bad, double loss_in_bad = 0.5);
  // The chance to be Bad `dt` after being `bad`.
  double bad_after(bool bad, Duration dt) const;
};

// The time-agnostic part of a link's settings. Probabilities are fractions in [0, 1].
struct ImpairmentConfig {
  Duration delay{0};   // one-way propagation delay
  Duration jitter{0};  // extra delay, uniform in [0, jitter]
  double loss = 0;
  bool burst_loss = false;  // Gilbert-Elliott with GilbertElliott::with_average_loss(loss)
  // With burst_loss: > 0 selects TimedBursts::with_average_loss(loss, burst_duration)
  // (bursts that last this long on average) instead of the per-datagram chain.
  Duration burst_duration{0};
  double duplicate = 0;
  double reorder = 0;
  double corrupt = 0;
  int corrupt_bits = 1;  // distinct bits flipped in a corrupted datagram
};

// What happens to one datagram. When `lost`, only `delay` is meaningful (a lost
// datagram still took its draw of jitter, so that later ones keep their FIFO point).
struct Verdict {
  Duration delay{0};  // propagation delay + jitter
  bool lost = false;
  bool reordered = false;   // the caller holds it back by its reorder delay
  bool corrupted = false;   // bits were flipped in the bytes passed to decide()
  bool duplicated = false;  // a second, identical copy arrives with it
};

class Impairment {
 public:
  // `rng` must outlive the impairment.
  Impairment(const ImpairmentConfig& config, Rng& rng);

  // Decides the fate of one datagram, drawing in this fixed order: jitter, loss,
  // reorder, corruption (chance, then which bits, flipped in `bytes`), duplication.
  // A lost datagram draws nothing after the loss. `now` (the send time, never
  // decreasing) matters only to TimedBursts.
  Verdict decide(std::span<uint8_t> bytes, Instant now = kTimeZero);

  const ImpairmentConfig& config() const { return config_; }

 private:
  bool lose(Instant now);
  void flip_bits(std::span<uint8_t> bytes);

  ImpairmentConfig config_;
  Rng& rng_;
  GilbertElliott ge_;
  TimedBursts timed_;
  bool ge_bad_ = false;
  std::optional<Instant> last_send_;  // TimedBursts: when the state was last drawn
};

}  // namespace tou::sim
