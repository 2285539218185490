// The DPLPMTUD state machine alone (RFC 8899 5.2): sizes in IP bytes.
#include "core/plpmtud.hpp"

#include <gtest/gtest.h>

namespace tou {
namespace {

using State = Plpmtud::State;

const Instant kT0{};

PlpmtudConfig v4(uint16_t max = 1500) {
  return {.enabled = true, .overhead = 28, .base_mtu = 1200, .min_mtu = 576, .max_mtu = max};
}

// Confirms the base: the first probe is the base size itself.
void confirm_base(Plpmtud& p) {
  ASSERT_EQ(p.probe_size(kT0), 1200);
  p.on_probe_sent(kT0);
  p.on_probe_acked(kT0);
}

TEST(Plpmtud, DisabledNeverProbes) {
  Plpmtud p;
  EXPECT_FALSE(p.enabled());
  EXPECT_EQ(p.probe_size(kT0), std::nullopt);
  EXPECT_FALSE(p.on_ptb(kT0, 1280, false));
}

TEST(Plpmtud, BaseThenTheInterfaceMtuFirst) {
  Plpmtud p(v4());
  EXPECT_EQ(p.state(), State::kBase);
  EXPECT_EQ(p.plpmtu(), 1200);
  confirm_base(p);
  EXPECT_EQ(p.state(), State::kSearching);
  EXPECT_EQ(p.probe_size(kT0), 1500);
  p.on_probe_sent(kT0);
  EXPECT_EQ(p.probe_size(kT0), std::nullopt) << "one probe at a time";
  p.on_probe_acked(kT0);
  EXPECT_EQ(p.plpmtu(), 1500);
  EXPECT_EQ(p.state(), State::kSearchComplete);
  EXPECT_EQ(p.stats().probes_acked, 2u);
}

TEST(Plpmtud, BinarySearchAfterMaxProbesLosses) {
  Plpmtud p(v4());
  confirm_base(p);
  // The path carries 1280: every larger probe is lost, smaller ones arrive.
  for (int i = 0; i < 100 && p.state() == State::kSearching; ++i) {
    std::optional<uint16_t> size = p.probe_size(kT0);
    ASSERT_TRUE(size);
    p.on_probe_sent(kT0);
    if (*size <= 1280) {
      p.on_probe_acked(kT0);
    } else {
      p.on_probe_lost(kT0);
    }
  }
  EXPECT_EQ(p.state(), State::kSearchComplete);
  EXPECT_LE(p.plpmtu(), 1280);
  EXPECT_GE(p.plpmtu(), 1276);
  EXPECT_EQ(p.stats().probes_lost % 3, 0u);
}

TEST(Plpmtud, RaiseTimerSearchesAgain_RFC8899_5_1_1) {
  Plpmtud p(v4());
  confirm_base(p);
  for (int i = 0; i < 3; ++i) {
    p.on_probe_sent(kT0);
    p.on_probe_lost(kT0);  // 1500 three times
  }
  ASSERT_EQ(p.probe_size(kT0), 1350);
  p.on_probe_sent(kT0);
  p.on_probe_acked(kT0);
  while (p.state() == State::kSearching) {
    p.on_probe_sent(kT0);
    p.on_probe_lost(kT0);
  }
  EXPECT_EQ(p.plpmtu(), 1350);
  EXPECT_EQ(p.probe_size(kT0 + std::chrono::seconds(599)), std::nullopt);
  EXPECT_EQ(p.probe_size(kT0 + std::chrono::seconds(600)), 1500);
  EXPECT_EQ(p.state(), State::kSearching);
}

TEST(Plpmtud, LostBaseIsAnError) {
  Plpmtud p(v4());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(p.probe_size(kT0), 1200);
    p.on_probe_sent(kT0);
    p.on_probe_lost(kT0);
  }
  EXPECT_EQ(p.state(), State::kError);
  EXPECT_EQ(p.plpmtu(), 576);
  ASSERT_EQ(p.probe_size(kT0), 1200) << "ERROR keeps trying the base";
  p.on_probe_sent(kT0);
  p.on_probe_acked(kT0);
  EXPECT_EQ(p.plpmtu(), 1200);
  EXPECT_EQ(p.state(), State::kSearching);
}

TEST(Plpmtud, PtbNeverRaisesNorGoesBelowTheMinimum_RFC8899_4_6_2) {
  Plpmtud p(v4());
  confirm_base(p);
  p.on_probe_sent(kT0);
  p.on_probe_acked(kT0);  // 1500
  EXPECT_FALSE(p.on_ptb(kT0, 1500, false));
  EXPECT_FALSE(p.on_ptb(kT0, 9000, false));
  EXPECT_FALSE(p.on_ptb(kT0, 20, false));
  EXPECT_EQ(p.stats().ptb_rejected, 3u);
  EXPECT_TRUE(p.on_ptb(kT0, 1400, false));
  EXPECT_EQ(p.plpmtu(), 1400);
  EXPECT_EQ(p.state(), State::kSearchComplete);
  EXPECT_TRUE(p.on_ptb(kT0, 100, false));
  EXPECT_EQ(p.plpmtu(), 576);
  EXPECT_EQ(p.state(), State::kError);
}

TEST(Plpmtud, PtbForAProbeNamesTheNextProbe) {
  Plpmtud p(v4());
  confirm_base(p);
  ASSERT_EQ(p.probe_size(kT0), 1500);
  p.on_probe_sent(kT0);
  EXPECT_TRUE(p.on_ptb(kT0, 1400, true));
  EXPECT_EQ(p.plpmtu(), 1200) << "the probe failed; the size in use stays";
  EXPECT_EQ(p.probe_size(kT0), 1400);
}

TEST(Plpmtud, BlackHoleBackToBase_RFC8899_4_3) {
  Plpmtud p(v4());
  confirm_base(p);
  p.on_probe_sent(kT0);
  p.on_probe_acked(kT0);
  p.on_black_hole(kT0);
  EXPECT_EQ(p.plpmtu(), 1200);
  EXPECT_EQ(p.state(), State::kBase);
  EXPECT_EQ(p.stats().black_holes, 1u);
  EXPECT_EQ(p.probe_size(kT0), 1200);
}

TEST(Plpmtud, SmallerInterfaceCapsEverything) {
  Plpmtud p(v4());
  confirm_base(p);
  p.lower_max(kT0, 1300);
  EXPECT_EQ(p.probe_size(kT0), 1300);
  p.lower_max(kT0, 1000);
  EXPECT_EQ(p.plpmtu(), 1000);
  EXPECT_EQ(p.max_mtu(), 1000);
}

}  // namespace
}  // namespace tou
