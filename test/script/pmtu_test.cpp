// DPLPMTUD (RFC 8899) in the connection: the base first, probes as data
// segments of the probed size, a lost probe that is not congestion, PTBs
// validated against what is in flight, and black holes survived without ICMP.
// IPv4 sizes: 28 bytes of IP + UDP, 20 of TCP; base 1200 (MSS 1152), the
// interface 1500 (MSS 1452). After the handshake SND.NXT = 1001.
#include <algorithm>
#include <utility>
#include <vector>

#include "script/script.hpp"

namespace tou::script {
namespace {

constexpr uint16_t kBaseMss = 1200 - 48;
constexpr uint16_t kMaxMss = 1500 - 48;

ConnectionConfig pmtu_config(bool sack = false) {
  ConnectionConfig c = ScriptTest::default_config();
  c.sack = sack;
  c.send_buffer = 256 * 1024;
  c.plpmtud = {.enabled = true, .overhead = 28, .base_mtu = 1200, .min_mtu = 576, .max_mtu = 1500};
  return c;
}

Seg peer_ack(uint32_t ack) {
  return seg().seq(5001).ack(ack).win(65535);
}

// The start of a datagram as an ICMP error quotes it: our ports and a sequence number.
std::vector<uint8_t> quote(uint32_t seq, uint16_t src = ScriptTest::kLocalPort,
                           uint16_t dst = ScriptTest::kRemotePort) {
  return {static_cast<uint8_t>(src >> 8),
          static_cast<uint8_t>(src),
          static_cast<uint8_t>(dst >> 8),
          static_cast<uint8_t>(dst),
          static_cast<uint8_t>(seq >> 24),
          static_cast<uint8_t>(seq >> 16),
          static_cast<uint8_t>(seq >> 8),
          static_cast<uint8_t>(seq),
          0x50,
          0x10};
}

// Handshake, the base confirmed by the first full segment, then the probe
// of the interface's MTU acknowledged: the connection sends 1452-byte segments.
// Returns SND.NXT.
uint32_t reach_interface_mtu(ScriptTest& t) {
  t.establish_active(seg().sack_ok());
  EXPECT_EQ(t.conn().info().snd_mss, kBaseMss);
  EXPECT_EQ(t.conn().plpmtud().state(), Plpmtud::State::kBase);
  t.app_send(kBaseMss);
  Captured first = t.take();
  EXPECT_EQ(first.payload.size(), kBaseMss);
  t.at_ms(10);
  t.inject(peer_ack(1001 + kBaseMss));
  EXPECT_EQ(t.conn().plpmtud().state(), Plpmtud::State::kSearching);
  t.app_send(kMaxMss);
  Captured probe = t.take();
  EXPECT_EQ(probe.payload.size(), kMaxMss) << "the probe is one data segment of 1500 bytes of IP";
  uint32_t nxt = 1001 + kBaseMss + kMaxMss;
  t.at_ms(20);
  t.inject(peer_ack(nxt));
  EXPECT_EQ(t.conn().plpmtud().state(), Plpmtud::State::kSearchComplete);
  EXPECT_EQ(t.conn().info().snd_mss, kMaxMss);
  EXPECT_EQ(t.conn().info().pmtu, 1500);
  EXPECT_EQ(t.conn().plpmtud().stats().probes_acked, 2u);
  return nxt;
}

TEST(Pmtu, OffByDefaultTheConfiguredMssRules) {
  ScriptTest t;
  t.establish_active();
  EXPECT_EQ(t.conn().info().snd_mss, 1460);
  EXPECT_EQ(t.conn().info().pmtu, 0);
  EXPECT_FALSE(t.conn().plpmtud().enabled());
}

TEST(Pmtu, StartsAtTheBaseThenProbesTheInterfaceMtu_RFC8899_5_2) {
  ScriptTest t(pmtu_config());
  reach_interface_mtu(t);
  t.app_send(3 * kMaxMss);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.take().payload.size(), kMaxMss);
}

TEST(Pmtu, NoProbeWithoutTheDataToFillIt_RFC8899_4_1) {
  ScriptTest t(pmtu_config());
  t.establish_active();
  t.app_send(kBaseMss);
  t.take();
  t.inject(peer_ack(1001 + kBaseMss));
  t.app_send(kMaxMss - 1);  // one byte short of a probe: ordinary segments
  EXPECT_EQ(t.take().payload.size(), kBaseMss);
  EXPECT_EQ(t.conn().plpmtud().stats().probes_sent, 1u);
}

TEST(Pmtu, ProbeNeverLargerThanThePeersMss_RFC8899_5_1_2) {
  ScriptTest t(pmtu_config());
  t.establish_active(seg().mss(1300));
  t.app_send(kBaseMss);
  EXPECT_EQ(t.take().payload.size(), kBaseMss);
  t.inject(peer_ack(1001 + kBaseMss));
  t.app_send(4000);
  EXPECT_EQ(t.take().payload.size(), 1300u) << "probe capped at the peer's MSS";
  EXPECT_EQ(t.conn().plpmtud().max_mtu(), 1300 + 48);
}

// Handshake with SACK and the base confirmed by one full segment acknowledged
// 10 ms later; returns SND.NXT, where the next probe goes.
uint32_t confirm_base_with_sack(ScriptTest& t) {
  t.establish_active(seg().sack_ok());
  t.app_send(kBaseMss);
  t.take();
  t.at_ms(10);
  t.inject(peer_ack(1001 + kBaseMss));
  return 1001 + kBaseMss;
}

TEST(Pmtu, LostProbeIsNotCongestion_RFC8899_4_4) {
  ScriptTest t(pmtu_config(true));
  uint32_t probe_seq = confirm_base_with_sack(t);
  uint32_t cwnd = t.conn().info().cwnd;
  t.app_send(kMaxMss + 4 * kBaseMss);
  EXPECT_EQ(t.take().payload.size(), kMaxMss);  // the probe, lost on the way
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.take().payload.size(), kBaseMss);
  uint32_t after = probe_seq + kMaxMss;
  t.at_ms(20);
  for (int i = 1; i <= 4; ++i) t.inject(peer_ack(probe_seq).sack(after, after + i * kBaseMss));
  const PlpmtudStats& st = t.conn().plpmtud().stats();
  EXPECT_EQ(st.probes_lost, 1u);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 0u);
  EXPECT_GE(t.conn().info().cwnd, cwnd) << "a lost probe must not shrink cwnd";
  EXPECT_EQ(t.conn().info().snd_mss, kBaseMss);
  // Its bytes go out again in segments of the current size.
  t.drain();
  std::vector<Captured> sent;
  while (t.pending() > 0) sent.push_back(t.take());
  auto sent_at = [&](uint32_t seq) {
    for (const Captured& c : sent) {
      if (c.h.seq == SeqNum(seq)) return c.payload.size();
    }
    return size_t{0};
  };
  EXPECT_EQ(sent_at(probe_seq), kBaseMss);
  EXPECT_EQ(sent_at(probe_seq + kBaseMss), size_t{kMaxMss - kBaseMss});
}

TEST(Pmtu, ProbeLostWithOtherDataIsStillCongestion_RFC8899_4_4) {
  ScriptTest t(pmtu_config(true));
  uint32_t probe_seq = confirm_base_with_sack(t);
  t.app_send(kMaxMss + 5 * kBaseMss);
  EXPECT_EQ(t.take().payload.size(), kMaxMss);  // the probe: lost
  for (int i = 0; i < 5; ++i) t.take();         // the second of these: lost too
  uint32_t first = probe_seq + kMaxMss;         // delivered
  uint32_t third = first + 2 * kBaseMss;        // delivered, with the two after it
  t.at_ms(20);
  t.inject(peer_ack(probe_seq).sack(first, first + kBaseMss));
  t.inject(peer_ack(probe_seq).sack(third, third + kBaseMss).sack(first, first + kBaseMss));
  t.inject(peer_ack(probe_seq).sack(third, third + 2 * kBaseMss).sack(first, first + kBaseMss));
  t.inject(peer_ack(probe_seq).sack(third, third + 3 * kBaseMss).sack(first, first + kBaseMss));
  EXPECT_EQ(t.conn().plpmtud().stats().probes_lost, 1u);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 1u) << "the other segment's loss is congestion";
}

// A peer behind a path that drops every packet above `mtu` (no ICMP): it
// acknowledges what arrives, with SACK blocks for what is out of order.
class LossyPath {
 public:
  LossyPath(uint32_t rcv_nxt, uint32_t mtu) : rcv_nxt_(rcv_nxt), mtu_(mtu) {}
  // Takes what the connection sent and, one RTT of 10 ms later, answers each
  // arriving segment with an ACK.
  void carry(ScriptTest& t) {
    t.drain();
    std::vector<Captured> flight;
    while (t.pending() > 0) flight.push_back(t.take());
    now_ms_ += 10;
    t.at_ms(now_ms_);
    for (const Captured& c : flight) {
      if (c.payload.empty() || c.payload.size() + 48 > mtu_) continue;
      uint32_t seq = c.h.seq.raw();
      blocks_.push_back({seq, seq + static_cast<uint32_t>(c.payload.size())});
      merge();
      Seg a = peer_ack(rcv_nxt_);
      for (auto it = blocks_.rbegin(); it != blocks_.rend() && a.h.options.sack_count < 3; ++it) {
        a.sack(it->first, it->second);
      }
      t.inject(a);
    }
  }

 private:
  void merge() {
    std::sort(blocks_.begin(), blocks_.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (auto b : blocks_) {
      if (b.second <= rcv_nxt_) continue;
      if (b.first <= rcv_nxt_) {
        rcv_nxt_ = b.second;
        continue;
      }
      if (!merged.empty() && b.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, b.second);
      } else {
        merged.push_back(b);
      }
    }
    blocks_.clear();
    for (auto b : merged) {
      if (b.first <= rcv_nxt_) {
        rcv_nxt_ = std::max(rcv_nxt_, b.second);
      } else {
        blocks_.push_back(b);
      }
    }
  }
  uint32_t rcv_nxt_;
  uint32_t mtu_;
  int64_t now_ms_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> blocks_;
};

TEST(Pmtu, ThreeLostProbesOfASizeSearchBelowIt_RFC8899_5_1_2) {
  ScriptTest t(pmtu_config(true));
  t.establish_active(seg().sack_ok());
  LossyPath path(1001, 1280);
  for (int round = 0; round < 400; ++round) {
    if (t.conn().send_queued() < 8 * kMaxMss) t.app_send(8 * kMaxMss);
    path.carry(t);
    if (round > 2 && t.conn().plpmtud().state() == Plpmtud::State::kSearchComplete) break;
  }
  EXPECT_EQ(t.conn().plpmtud().state(), Plpmtud::State::kSearchComplete);
  EXPECT_LE(t.conn().info().pmtu, 1280);
  EXPECT_GE(t.conn().info().pmtu, 1280 - 4);
  const PlpmtudStats& st = t.conn().plpmtud().stats();
  EXPECT_EQ(st.probes_lost % 3, 0u) << "each size that failed, failed three times";
  EXPECT_GE(st.probes_lost, 3u);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 0u) << "probe losses are not congestion";
  EXPECT_EQ(t.conn().stats().rto_timeouts, 0u);
}

TEST(Pmtu, ValidPtbLowersTheMssAtOnce_RFC8899_4_6_2) {
  ScriptTest t(pmtu_config());
  uint32_t nxt = reach_interface_mtu(t);
  t.app_send(3 * kMaxMss);
  for (int i = 0; i < 3; ++i) t.take();
  EXPECT_TRUE(t.conn().on_packet_too_big(t.now(), 1280, quote(nxt + kMaxMss)));
  EXPECT_EQ(t.conn().info().pmtu, 1280);
  EXPECT_EQ(t.conn().info().snd_mss, 1280 - 48);
  EXPECT_EQ(t.conn().plpmtud().stats().ptb_accepted, 1u);
  // The router reports each packet of the flight: the others change nothing.
  EXPECT_TRUE(t.conn().on_packet_too_big(t.now(), 1280, quote(nxt)));
  EXPECT_TRUE(t.conn().on_packet_too_big(t.now(), 1280, quote(nxt + 2 * kMaxMss)));
  EXPECT_EQ(t.conn().plpmtud().stats().ptb_rejected, 0u);
  EXPECT_EQ(t.conn().info().pmtu, 1280);
  // The three segments were too big: each goes again in two pieces that fit.
  t.drain();
  std::vector<size_t> sizes;
  while (t.pending() > 0) sizes.push_back(t.take().payload.size());
  ASSERT_GE(sizes.size(), 2u);
  for (size_t s : sizes) EXPECT_LE(s, 1280u - 48);
  EXPECT_EQ(t.conn().stats().fast_recoveries, 0u);
  EXPECT_EQ(t.conn().stats().rto_timeouts, 0u);
}

TEST(Pmtu, PtbValidatedAgainstWhatIsInFlight_RFC8899_4_6_1) {
  ScriptTest t(pmtu_config());
  uint32_t nxt = reach_interface_mtu(t);
  t.app_send(2 * kMaxMss);
  t.take();
  t.take();
  Connection& c = t.conn();
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1280, quote(nxt - 10))) << "already acknowledged";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1280, quote(nxt + 2 * kMaxMss))) << "not sent yet";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1280, quote(nxt, 4001))) << "another source port";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1280, quote(nxt, 4000, 5001))) << "another peer port";
  std::vector<uint8_t> short_quote = quote(nxt);
  short_quote.resize(6);
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1280, short_quote)) << "no sequence number quoted";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 1500, quote(nxt))) << "not below what was sent";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 9000, quote(nxt))) << "above what was sent";
  EXPECT_FALSE(c.on_packet_too_big(t.now(), 0, quote(nxt))) << "no size";
  EXPECT_EQ(c.plpmtud().stats().ptb_rejected, 8u);
  EXPECT_EQ(c.plpmtud().stats().ptb_accepted, 0u);
  EXPECT_EQ(c.info().snd_mss, kMaxMss);
  // Far below the base: never under MIN_PLPMTU.
  EXPECT_TRUE(c.on_packet_too_big(t.now(), 300, quote(nxt)));
  EXPECT_EQ(c.info().pmtu, 576);
  EXPECT_EQ(c.plpmtud().state(), Plpmtud::State::kError);
}

TEST(Pmtu, PtbForTheProbeProbesTheReportedSizeNext_RFC8899_4_6_2) {
  ScriptTest t(pmtu_config());
  t.establish_active();
  t.app_send(kBaseMss);
  t.take();
  t.inject(peer_ack(1001 + kBaseMss));
  uint32_t probe_seq = 1001 + kBaseMss;
  t.app_send(kMaxMss);
  EXPECT_EQ(t.take().payload.size(), kMaxMss);
  EXPECT_TRUE(t.conn().on_packet_too_big(t.now(), 1400, quote(probe_seq)));
  EXPECT_EQ(t.conn().info().snd_mss, kBaseMss) << "the probe failed; the base still holds";
  // The probe's bytes again, then the next probe: exactly 1400 bytes of IP.
  t.drain();
  EXPECT_EQ(t.take().payload.size(), kBaseMss);
  EXPECT_EQ(t.take().payload.size(), kMaxMss - kBaseMss);
  t.inject(peer_ack(probe_seq + kMaxMss));
  t.app_send(1400);
  EXPECT_EQ(t.take().payload.size(), 1400u - 48);
  t.inject(peer_ack(probe_seq + kMaxMss + 1400 - 48));
  EXPECT_EQ(t.conn().info().pmtu, 1400);
}

TEST(Pmtu, BlackHoleFallsBackToTheBaseWithoutIcmp_RFC8899_4_3) {
  ScriptTest t(pmtu_config());
  uint32_t nxt = reach_interface_mtu(t);
  // The path's MTU drops to 1280 and nothing says so: full segments vanish.
  t.app_send(2 * kMaxMss);
  t.take();
  t.take();
  for (int ms = 30; ms < 5000; ms += 10) {
    t.at_ms(ms);
    if (t.conn().info().snd_mss != kMaxMss) break;
    while (t.pending() > 0) t.take();  // retransmissions of 1452 bytes: lost too
  }
  EXPECT_EQ(t.conn().info().snd_mss, kBaseMss);
  EXPECT_EQ(t.conn().plpmtud().stats().black_holes, 1u);
  EXPECT_EQ(t.conn().plpmtud().state(), Plpmtud::State::kBase);
  EXPECT_EQ(t.conn().stats().rto_timeouts, 2u);
  // The oldest segment goes again in pieces that fit the base.
  t.drain();
  Captured r = t.take();
  EXPECT_EQ(r.h.seq, SeqNum(nxt));
  EXPECT_EQ(r.payload.size(), kBaseMss);
}

TEST(Pmtu, LocalEmsgsizeLowersTheLargestSize) {
  ScriptTest t(pmtu_config());
  reach_interface_mtu(t);
  t.conn().on_local_mtu(t.now(), 1400);
  EXPECT_EQ(t.conn().plpmtud().max_mtu(), 1400);
  EXPECT_EQ(t.conn().info().snd_mss, 1400 - 48);
}

}  // namespace
}  // namespace tou::script
