// Steady-state goodput: CUBIC over 100 Mbit/s with a 50 ms RTT and a one-BDP
// drop-tail queue, no loss, must keep the link at least 90% busy with payload
// once slow start is over (measured over the second half of a 50 MB transfer).
#include <gtest/gtest.h>

#include "sim/goodput_table.hpp"
#include "sim/transfer.hpp"
#include "sim_test_util.hpp"

namespace tou::sim {
namespace {

using namespace std::chrono_literals;

TEST(Goodput, CubicFillsA100MbitLinkWith50msRtt) {
  TransferOptions o;
  o.bytes_to_server = static_cast<uint64_t>(50'000'000 * std::min(1.0, testing::test_scale()));
  o.bytes_to_client = 0;
  o.link.rate_mbps = 100;
  o.link.delay = 25ms;
  o.link.queue_packets = bdp_packets(100, 50ms);
  o.connection.congestion_control = "cubic";
  o.steady_state_from = 0.5;
  const TransferResult r = run_transfer(1, o);
  ASSERT_TRUE(r.ok) << testing::explain(1, o, r);
  std::printf(
      "steady-state goodput %.2f Mbit/s (%.1f%% of the link), whole transfer %.2f Mbit/s "
      "(%.1f%%), retransmissions %llu, queue drops %llu\n",
      r.to_server.steady_goodput_bps / 1e6, 100 * r.to_server.steady_fraction,
      r.to_server.goodput_bps / 1e6, 100 * r.to_server.goodput_fraction,
      static_cast<unsigned long long>(r.retransmissions()),
      static_cast<unsigned long long>(r.to_server_link.dropped_queue));
  EXPECT_GE(r.to_server.steady_fraction, 0.90) << testing::explain(1, o, r);
}

}  // namespace
}  // namespace tou::sim
