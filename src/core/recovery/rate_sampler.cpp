#include "core/recovery/rate_sampler.hpp"

#include <algorithm>

namespace tou {

uint64_t RateSample::delivery_rate() const {
  if (!valid || interval <= Duration{0}) return 0;
  return delivered * 1'000'000 / static_cast<uint64_t>(to_us(interval));
}

DeliveryStamp DeliveryRateSampler::on_sent(Instant now, bool nothing_outstanding,
                                           uint32_t in_flight) {
  // Draft 3.2: the first transmission after an idle period restarts both clocks, so the
  // idle time is not part of any interval.
  if (nothing_outstanding) first_send_time_ = delivered_time_ = now;
  DeliveryStamp stamp;
  stamp.delivered = delivered_;
  stamp.delivered_time = delivered_time_;
  stamp.first_send_time = first_send_time_;
  stamp.lost = lost_;
  stamp.tx_in_flight = in_flight;
  stamp.is_app_limited = app_limited_ != 0;
  return stamp;
}

void DeliveryRateSampler::on_delivered(const DeliveryStamp& stamp, Instant sent, SeqNum end,
                                       uint32_t len, Instant now) {
  delivered_ += len;
  delivered_time_ = now;
  // Draft 3.3 UpdateRateSample: keep the most recently sent transmission (Linux
  // tcp_skb_sent_after: later send time, ties broken by the higher end sequence).
  if (prior_ && (sent < prior_sent_ || (sent == prior_sent_ && end <= prior_end_))) return;
  prior_ = stamp;
  prior_sent_ = sent;
  prior_end_ = end;
  // The next interval's send phase starts at this transmission.
  first_send_time_ = sent;
}

RateSample DeliveryRateSampler::generate(Instant now, Duration min_rtt) {
  RateSample rs;
  rs.newly_delivered = delivered_ - delivered_at_ack_start_;
  delivered_at_ack_start_ = delivered_;
  // Draft 3.4: the application-limited phase ends once its data is delivered.
  if (app_limited_ != 0 && delivered_ > app_limited_) app_limited_ = 0;
  rs.round_count = round_count_;
  if (!prior_) return rs;
  const DeliveryStamp p = *prior_;
  prior_.reset();
  rs.has_prior = true;
  // BBR 4.5.1 (BBRUpdateRound): a round trip ends when a transmission sent after the
  // previous round's end is delivered.
  if (p.delivered >= next_round_delivered_) {
    next_round_delivered_ = delivered_;
    ++round_count_;
    rs.round_start = true;
    rs.round_count = round_count_;
  }
  rs.prior_delivered = p.delivered;
  rs.is_app_limited = p.is_app_limited;
  rs.tx_in_flight = p.tx_in_flight;
  rs.lost = lost_ - p.lost;
  rs.delivered = delivered_ - p.delivered;
  rs.send_elapsed = prior_sent_ - p.first_send_time;
  rs.ack_elapsed = delivered_time_ - p.delivered_time;
  rs.rtt = now - prior_sent_;
  // Draft 3.3: the longer of the two phases, so that neither ACK compression nor a send
  // burst overstates the rate; shorter than min_rtt means the sample cannot be trusted.
  rs.interval = std::max(rs.send_elapsed, rs.ack_elapsed);
  rs.valid = rs.delivered > 0 && rs.interval > Duration{0} && rs.interval >= min_rtt;
  return rs;
}

void DeliveryRateSampler::mark_app_limited(uint32_t in_flight) {
  // Draft 3.4: the phase lasts until what is in flight now has been delivered.
  app_limited_ = std::max<uint64_t>(delivered_ + in_flight, 1);
}

void DeliveryRateSampler::clear() {
  *this = DeliveryRateSampler{};
}

}  // namespace tou
