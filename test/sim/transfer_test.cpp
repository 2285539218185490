// The scenario runner over clean and simple impaired links: every close mode
// and congestion controller, determinism, the command line, expected errors.
#include <gtest/gtest.h>

#include <cerrno>

#include "sim/goodput_table.hpp"
#include "sim/transfer.hpp"
#include "sim_test_util.hpp"

namespace tou::sim {
namespace {

using namespace std::chrono_literals;
using testing::explain;

struct ModeParam {
  const char* cc;
  CloseMode close;
};

std::ostream& operator<<(std::ostream& os, const ModeParam& p) {
  return os << p.cc << " " << to_string(p.close);
}

class CleanTransfer : public ::testing::TestWithParam<ModeParam> {};

TEST_P(CleanTransfer, DeliversEverythingAndCloses) {
  TransferOptions o;
  o.connection.congestion_control = GetParam().cc;
  o.close = GetParam().close;
  o.bytes_to_server = 300000;
  o.bytes_to_client = 123457;
  const TransferResult r = run_transfer(1, o);
  ASSERT_TRUE(r.ok) << explain(1, o, r);
  EXPECT_EQ(r.client.state, TcpState::kClosed);
  EXPECT_EQ(r.server.state, TcpState::kClosed);
  EXPECT_FALSE(r.client.deadline_pending);
  EXPECT_FALSE(r.server.deadline_pending);
  if (o.close == CloseMode::kAbort) {
    EXPECT_TRUE(r.client.aborted);
    EXPECT_EQ(r.server.error, ECONNRESET);
    return;
  }
  EXPECT_EQ(r.client.error, 0);
  EXPECT_EQ(r.server.error, 0);
  EXPECT_EQ(r.to_server.delivered, 300000u);
  EXPECT_EQ(r.to_client.delivered, 123457u);
  EXPECT_TRUE(r.to_server.eof && r.to_client.eof);
  EXPECT_EQ(r.retransmissions(), 0u);
  EXPECT_EQ(r.timeouts(), 0u);
  EXPECT_GT(r.to_server.goodput_bps, 0);
  ASSERT_TRUE(r.data_done);
  // TIME-WAIT (2 * msl) ends the run, on the side that closed first.
  EXPECT_GE(r.duration, *r.data_done + 2 * o.connection.msl - 1s);
}

INSTANTIATE_TEST_SUITE_P(Sim, CleanTransfer,
                         ::testing::Values(ModeParam{"newreno", CloseMode::kBoth},
                                           ModeParam{"newreno", CloseMode::kClient},
                                           ModeParam{"newreno", CloseMode::kServer},
                                           ModeParam{"newreno", CloseMode::kAbort},
                                           ModeParam{"cubic", CloseMode::kBoth},
                                           ModeParam{"cubic", CloseMode::kClient},
                                           ModeParam{"cubic", CloseMode::kServer},
                                           ModeParam{"cubic", CloseMode::kAbort}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.cc) + "_" +
                                  to_string(param_info.param.close);
                         });

TEST(Transfer, NothingToSendEitherWay) {
  TransferOptions o;
  o.bytes_to_server = 0;
  o.bytes_to_client = 0;
  const TransferResult r = run_transfer(3, o);
  EXPECT_TRUE(r.ok) << explain(3, o, r);
}

TEST(Transfer, OneWayOnly) {
  TransferOptions o;
  o.bytes_to_server = 1;
  o.bytes_to_client = 0;
  TransferResult r = run_transfer(3, o);
  EXPECT_TRUE(r.ok) << explain(3, o, r);
  o.bytes_to_server = 0;
  o.bytes_to_client = 70001;
  r = run_transfer(3, o);
  EXPECT_TRUE(r.ok) << explain(3, o, r);
}

TransferOptions impaired() {
  TransferOptions o;
  o.bytes_to_server = 60000;
  o.bytes_to_client = 40000;
  o.link.loss = 0.05;
  o.link.duplicate = 0.02;
  o.link.reorder = 0.05;
  o.link.corrupt = 0.02;
  o.link.jitter = 2ms;
  return o;
}

TEST(Transfer, IsAPureFunctionOfSeedAndOptions) {
  const TransferOptions o = impaired();
  const TransferResult a = run_transfer(42, o);
  const TransferResult b = run_transfer(42, o);
  const TransferResult c = run_transfer(43, o);
  EXPECT_TRUE(a.ok) << explain(42, o, a);
  EXPECT_EQ(a.trace_digest, b.trace_digest);
  EXPECT_EQ(a.duration, b.duration);
  EXPECT_EQ(a.summary(), b.summary());
  EXPECT_EQ(a.client.stats.segments_sent, b.client.stats.segments_sent);
  EXPECT_NE(a.trace_digest, c.trace_digest);
}

TEST(Transfer, ImpairmentsAreCountedOnTheLinks) {
  const TransferOptions o = impaired();
  const TransferResult r = run_transfer(5, o);
  ASSERT_TRUE(r.ok) << explain(5, o, r);
  const LinkStats& up = r.to_server_link;
  EXPECT_GT(up.sent, 40u);
  EXPECT_EQ(up.sent, up.forwarded - up.duplicated + up.dropped());
  EXPECT_GT(r.to_server_link.dropped_loss + r.to_client_link.dropped_loss, 0u);
}

TEST(Transfer, CommandLineSpellsOutEverySetting) {
  TransferOptions o = impaired();
  o.link.burst_loss = true;
  o.link.rate_mbps = 12.5;
  o.link.queue_packets = 40;
  o.link.partitions = {{kTimeZero + 150ms, kTimeZero + 2500ms}};
  o.connection.congestion_control = "newreno";
  o.connection.user_timeout = 2s;
  o.connection.sack = false;
  o.connection.max_retransmissions = 30;
  o.close = CloseMode::kServer;
  const std::string cmd = to_command_line(9, o);
  for (const char* part : {"tou-sim --seed 9 --runs 1",
                           "--bytes 60000",
                           "--bytes-back 40000",
                           "--loss 0.05",
                           "--burst",
                           "--dup 0.02",
                           "--reorder 0.05",
                           "--corrupt 0.02",
                           "--delay 10",
                           "--jitter 2",
                           "--rate 12.5",
                           "--queue 40",
                           "--partition 150:2500",
                           "--cc newreno",
                           "--close server",
                           "--user-timeout 2000",
                           "--msl 10000",
                           "--no-sack",
                           "--reorder-delay 10",
                           "--max-retrans 30"}) {
    EXPECT_NE(cmd.find(part), std::string::npos) << part << " not in " << cmd;
  }
  EXPECT_EQ(cmd.find("--max-stall"), std::string::npos) << "the default is left out";
  o.link.burst_duration = 25ms;
  o.max_stall = 90s;
  const std::string timed = to_command_line(9, o);
  EXPECT_NE(timed.find("--burst-duration 25"), std::string::npos) << timed;
  EXPECT_EQ(timed.find("--burst "), std::string::npos) << timed;
  EXPECT_NE(timed.find("--max-stall 90000"), std::string::npos) << timed;
}

TEST(Transfer, ValidationCatchesBadOptions) {
  TransferOptions o;
  EXPECT_EQ(validate(o), "");
  o.close = CloseMode::kAbort;
  o.bytes_to_client = 1;
  EXPECT_NE(validate(o), "");
  o = TransferOptions{};
  o.connection.congestion_control = "vegas";
  EXPECT_NE(validate(o), "");
  const TransferResult r = run_transfer(1, o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("invalid options"), std::string::npos);
  o = TransferOptions{};
  o.link.loss = 1.5;
  EXPECT_NE(validate(o), "");
  EXPECT_EQ(parse_close_mode("server"), CloseMode::kServer);
  EXPECT_EQ(parse_close_mode("half"), std::nullopt);
}

// A partition longer than the user timeout in the middle of the transfer: both
// sides must give up with ETIMEDOUT (or ECONNRESET) and end CLOSED.
TEST(Transfer, LongPartitionEndsInAnErrorNotAHang) {
  TransferOptions o;
  o.bytes_to_server = 200000;
  o.bytes_to_client = 200000;
  o.link.rate_mbps = 2;  // 0.8 s of data each way
  o.connection.user_timeout = 2s;
  o.link.partitions = {{kTimeZero + 300ms, kTimeZero + 300ms + 6s}};
  const TransferResult r = run_transfer(8, o);
  ASSERT_TRUE(r.ok) << explain(8, o, r);
  EXPECT_TRUE(r.expected_error);
  EXPECT_TRUE(r.client.error == ETIMEDOUT || r.client.error == ECONNRESET) << r.client.error;
  EXPECT_TRUE(r.server.error == ETIMEDOUT || r.server.error == ECONNRESET) << r.server.error;
  // Nobody waits for the partition to end.
  EXPECT_LT(r.duration, 300ms + 6s);
}

TEST(Transfer, ShortPartitionIsSurvived) {
  TransferOptions o;
  o.bytes_to_server = 200000;
  o.bytes_to_client = 200000;
  o.link.rate_mbps = 2;
  o.connection.user_timeout = 4s;
  o.link.partitions = {{kTimeZero + 300ms, kTimeZero + 1300ms}};
  const TransferResult r = run_transfer(8, o);
  ASSERT_TRUE(r.ok) << explain(8, o, r);
  EXPECT_FALSE(r.expected_error);
  EXPECT_GT(r.timeouts(), 0u);
  EXPECT_GT(r.to_server_link.dropped_partition, 0u);
}

TEST(Transfer, ExpectingAnErrorThatDoesNotComeFails) {
  TransferOptions o;
  o.bytes_to_server = 10000;
  o.expect = Expectation::kError;
  const TransferResult r = run_transfer(1, o);
  EXPECT_FALSE(r.ok);
  // The transfer itself was clean: the only failure is the missing error.
  EXPECT_EQ(r.client.error, 0);
  EXPECT_EQ(r.server.error, 0);
  EXPECT_TRUE(r.client.app_complete && r.server.app_complete);
  EXPECT_EQ(r.failure.rfind("client did not report ETIMEDOUT/ECONNRESET after the partition", 0),
            0u)
      << r.failure;
}

// A user timeout that no partition explains is a failure, not "ok (expected
// error)": here the first ACK cannot come back within the 150 ms user timeout.
TEST(Transfer, UnexplainedTimeoutFails) {
  TransferOptions o;
  o.link.delay = 100ms;
  o.connection.user_timeout = 150ms;
  const TransferResult r = run_transfer(3, o);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.expected_error);
  EXPECT_NE(r.failure.find("ended with ETIMEDOUT after"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("that no partition explains"), std::string::npos) << r.failure;
}

// Every run reports its longest stall; one past max_stall that no partition
// explains fails the run, even though every byte arrived.
TEST(Transfer, StallPastTheBoundFails) {
  TransferOptions o;
  o.bytes_to_server = 20000;
  o.link.loss = 0.3;
  o.max_stall = 150ms;  // below the 200 ms RTO floor: any timeout exceeds it
  const TransferResult r = run_transfer(1, o);
  ASSERT_GT(r.timeouts(), 0u);
  EXPECT_TRUE(r.client.app_complete && r.server.app_complete);
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.longest_stall.length(), 150ms);
  EXPECT_EQ(r.failure.rfind("stalled: ", 0), 0u) << r.failure;
  o.max_stall = TransferOptions{}.max_stall;
  const TransferResult fine = run_transfer(1, o);
  EXPECT_TRUE(fine.ok) << explain(1, o, fine);
  EXPECT_EQ(fine.longest_stall.length(), r.longest_stall.length());
}

// A stall that a partition covers is explained, and the stall is reported.
TEST(Transfer, PartitionExplainsItsStall) {
  TransferOptions o;
  o.bytes_to_server = 200000;
  o.bytes_to_client = 200000;
  o.link.rate_mbps = 2;
  o.expect = Expectation::kSuccess;
  o.max_stall = 1s;
  o.link.partitions = {{kTimeZero + 300ms, kTimeZero + 3300ms}};
  const TransferResult r = run_transfer(8, o);
  ASSERT_TRUE(r.ok) << explain(8, o, r);
  EXPECT_TRUE(r.stall_explained);
  EXPECT_GE(r.longest_stall.length(), 2s);
  // It begins once the link's queue has drained after 300 ms and ends after 3.3 s.
  EXPECT_GE(r.longest_stall.from, kTimeZero + 300ms);
  EXPECT_LT(r.longest_stall.from, kTimeZero + 1s);
  EXPECT_GT(r.longest_stall.to, kTimeZero + 3300ms);
}

// A handshake that fails leaves the listener in LISTEN: the client's error,
// explained when a partition covers the handshake, and never a "hang".
TEST(Transfer, FailedHandshakeIsAnErrorNotAHang) {
  TransferOptions o;
  o.connection.syn_retries = o.connection.synack_retries = 2;  // 1 + 2 + 4 s
  o.link.partitions = {{kTimeZero, kTimeZero + 60s}};
  o.connection.user_timeout = 5s;
  const TransferResult r = run_transfer(4, o);
  EXPECT_TRUE(r.ok) << explain(4, o, r);
  EXPECT_TRUE(r.expected_error);
  EXPECT_EQ(r.client.error, ETIMEDOUT);
  EXPECT_EQ(r.server.state, TcpState::kListen);
  EXPECT_EQ(r.failure.find("hang"), std::string::npos);
  // The same failure with no partition to explain it: a failure, not a hang.
  o.link.partitions.clear();
  o.link.loss = 1.0;
  const TransferResult lost = run_transfer(4, o);
  EXPECT_FALSE(lost.ok);
  EXPECT_EQ(lost.failure.find("hang"), std::string::npos) << lost.failure;
  EXPECT_NE(lost.failure.find("ETIMEDOUT in the handshake after 2 SYN retransmissions"),
            std::string::npos)
      << lost.failure;
}

TEST(Transfer, HitLimitIsAFailureNamingTheStates) {
  TransferOptions o;
  o.bytes_to_server = 1'000'000;
  o.link.rate_mbps = 1;  // 8 s of data
  o.limits.max_time = kTimeZero + 1s;
  const TransferResult r = run_transfer(1, o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("virtual time limit"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("client "), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("server "), std::string::npos) << r.failure;
}

TEST(GoodputTable, PrintsARowPerLossRate) {
  GoodputTableOptions t;
  t.bytes = 300000;
  t.losses = {0, 0.01};
  const auto cells = measure_goodput(t);
  ASSERT_EQ(cells.size(), 2 * t.congestion_controls.size());
  EXPECT_EQ(t.congestion_controls, registered_controllers());
  for (const GoodputCell& c : cells) {
    EXPECT_EQ(c.failures, 0) << c.congestion_control << " " << c.loss;
    EXPECT_GT(c.fraction, 0.0);
    EXPECT_LE(c.fraction, 1.0);
  }
  const std::string md = goodput_markdown(t, cells);
  EXPECT_NE(md.find("| Loss | NewReno (Mbit/s) | NewReno (% of link) | CUBIC (Mbit/s)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| BBR (Mbit/s) | BBR (% of link) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1% |"), std::string::npos) << md;
  EXPECT_EQ(bdp_packets(100, 50ms), 412u);
}

}  // namespace
}  // namespace tou::sim
