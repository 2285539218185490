// SendBatch and RecvBatch over real loopback UDP sockets: a GSO train arrives
// as the datagrams that were queued, a GRO batch splits back into them, and a
// kernel that refuses trains (simulated) gets them one by one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "engine/gso.hpp"
#include "engine/udp_socket.hpp"

namespace tou::engine {
namespace {

struct NoErrors final : SendBatch::ErrorSink {
  virtual ~NoErrors() = default;
  void on_send_error(int, int err) override { errors.push_back(err); }
  std::vector<int> errors;
};

// Datagram i: `len` bytes, each (i * 7 + k) mod 256.
std::vector<uint8_t> datagram(size_t i, size_t len) {
  std::vector<uint8_t> d(len);
  for (size_t k = 0; k < len; ++k) d[k] = static_cast<uint8_t>(i * 7 + k);
  return d;
}

struct Pair {
  UdpSocket tx, rx;
  SockAddr rx_addr;
  explicit Pair(bool gro) {
    EXPECT_EQ(rx.open(AF_INET, -1), 0);
    EXPECT_EQ(rx.bind(SockAddr::loopback(AF_INET, 0)), 0);
    EXPECT_EQ(rx.local_address(rx_addr), 0);
    if (gro) {
      EXPECT_TRUE(enable_gro(rx.fd()));
    }
    EXPECT_EQ(tx.open(AF_INET, -1), 0);
    EXPECT_EQ(tx.connect(rx_addr), 0);
  }
};

// Queues `lengths` on the pair's sender and flushes; returns datagrams sent.
size_t send_all(SendBatch& batch, Pair& p, const std::vector<size_t>& lengths) {
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto out = batch.next();
    auto d = datagram(i, lengths[i]);
    std::copy(d.begin(), d.end(), out.begin());
    batch.commit(p.tx.fd(), d.size(), nullptr, nullptr);
  }
  NoErrors errors;
  size_t sent = batch.flush(errors);
  EXPECT_TRUE(errors.errors.empty());
  return sent;
}

// Everything waiting on the receiver, GRO batches split, in order.
std::vector<std::vector<uint8_t>> receive_all(RecvBatch& batch, Pair& p, size_t expected) {
  std::vector<std::vector<uint8_t>> got;
  for (int round = 0; round < 1000 && got.size() < expected; ++round) {
    int n = batch.receive(p.rx.fd());
    EXPECT_GE(n, 0);
    if (n == 0) ::usleep(1000);
    for (size_t i = 0; i < static_cast<size_t>(std::max(n, 0)); ++i) {
      for_each_gro_segment(batch.data(i), batch.segment_size(i),
                           [&](auto seg) { got.emplace_back(seg.begin(), seg.end()); });
    }
  }
  return got;
}

void expect_datagrams(const std::vector<std::vector<uint8_t>>& got,
                      const std::vector<size_t>& lengths) {
  ASSERT_EQ(got.size(), lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) EXPECT_EQ(got[i], datagram(i, lengths[i])) << i;
}

const std::vector<size_t> kTrain = {1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 700};

// A sender and a receiver on loopback, with the GSO mode set for the test.
struct Link {
  Link(GsoMode mode, bool gro) : p(gro) { set_gso_mode(mode); }
  ~Link() { set_gso_mode(GsoMode::kOn); }
  // Sends the datagrams in one flush; they must all arrive, in order, intact.
  void exchange(const std::vector<size_t>& lengths) {
    EXPECT_EQ(send_all(tx, p, lengths), lengths.size());
    expect_datagrams(receive_all(rx, p, lengths.size()), lengths);
  }
  Pair p;
  SendBatch tx;
  RecvBatch rx;
};

TEST(UdpBatch, AGsoTrainArrivesAsTheQueuedDatagrams) {
  Link link(GsoMode::kOn, false);
  link.exchange(kTrain);
  EXPECT_EQ(link.tx.stats().gso_trains, 1u);
  EXPECT_EQ(link.tx.stats().gso_segments, kTrain.size());
  // Without UDP_GRO the receiving kernel segments the train.
  EXPECT_EQ(link.rx.stats().gro_batches, 0u);
}

TEST(UdpBatch, AGroBatchSplitsIntoThePeersDatagrams) {
  Link link(GsoMode::kOn, true);
  link.exchange(kTrain);
  // On loopback the train reaches a UDP_GRO socket whole.
  EXPECT_EQ(link.rx.stats().gro_batches, 1u);
  EXPECT_EQ(link.rx.stats().gro_segments, kTrain.size());
}

TEST(UdpBatch, DatagramsOfSeveralSizesKeepTheirOrder) {
  Link link(GsoMode::kOn, true);
  link.exchange({500, 500, 1300, 1300, 1300, 40, 9000, 9000, 100, 100, 100});
  EXPECT_EQ(link.tx.stats().gso_trains, 4u);  // 500x2, 1300x3+40, 9000x2+100, 100x2
}

TEST(UdpBatch, AKernelThatRefusesTrainsGetsTheDatagramsOneByOne) {
  Link link(GsoMode::kFailOnce, false);
  link.exchange(kTrain);
  EXPECT_EQ(link.tx.stats().gso_fallbacks, 1u);
  EXPECT_EQ(link.tx.stats().gso_trains, 0u);
  EXPECT_EQ(gso_mode(), GsoMode::kOn);  // the simulated refusal is used up
  // GSO stays off for this batch: the next flush sends one by one too.
  link.exchange(kTrain);
  EXPECT_EQ(link.tx.stats().gso_trains, 0u);
  EXPECT_EQ(link.tx.stats().gso_fallbacks, 1u);
}

// Datagram i's first 20 bytes written into the batch, the rest left where it
// lies (in one or two pieces, as a ring's wrap cuts it): a train of
// [hdr1, payload1, hdr2, payload2, ...] arrives as the datagrams themselves.
TEST(UdpBatch, HeadersWithPayloadViewsArriveWhole) {
  for (GsoMode mode : {GsoMode::kOn, GsoMode::kOff}) {
    Link link(mode, true);
    const std::vector<size_t> lengths = {1200, 1200, 1200, 1200, 1200, 20, 1200, 1200, 700};
    std::vector<std::vector<uint8_t>> data;
    for (size_t i = 0; i < lengths.size(); ++i) data.push_back(datagram(i, lengths[i]));
    for (size_t i = 0; i < lengths.size(); ++i) {
      constexpr size_t kHeader = 20;
      auto out = link.tx.next();
      std::copy_n(data[i].begin(), kHeader, out.begin());
      const std::span<const uint8_t> payload = std::span<const uint8_t>(data[i]).subspan(kHeader);
      const size_t cut = i % 2 == 0 ? payload.size() : 333 % (payload.size() + 1);
      const std::span<const uint8_t> pieces[2] = {payload.first(cut), payload.subspan(cut)};
      link.tx.commit_views(link.p.tx.fd(), kHeader, pieces, nullptr, nullptr);
    }
    NoErrors errors;
    const uint64_t generation = link.tx.generation();
    EXPECT_EQ(link.tx.flush(errors), lengths.size());
    EXPECT_GT(link.tx.generation(), generation);
    EXPECT_TRUE(errors.errors.empty());
    expect_datagrams(receive_all(link.rx, link.p, lengths.size()), lengths);
    EXPECT_EQ(link.tx.stats().view_datagrams, lengths.size() - 1);  // all but the bare header
    // 1200 x5 + 20 ends a train; 1200 x2 + 700 is another.
    EXPECT_EQ(link.tx.stats().gso_trains, mode == GsoMode::kOn ? 2u : 0u);
  }
}

TEST(UdpBatch, GsoOffSendsOneByOne) {
  Link link(GsoMode::kOff, false);
  link.exchange(kTrain);
  EXPECT_EQ(link.tx.stats().gso_trains, 0u);
  EXPECT_EQ(link.tx.stats().gso_fallbacks, 0u);
}

}  // namespace
}  // namespace tou::engine
