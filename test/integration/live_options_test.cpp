// Options set on a connected socket act at once, as on Linux: keep-alive
// detects a peer that went silent, TCP_USER_TIMEOUT aborts a stalled send,
// TCP_CONGESTION swaps the controller, SO_RCVBUF grows the advertised window,
// TCP_MAXSEG applies, SO_SNDBUF bounds what a sender holds. The silent peer is a Relay that was
// cut.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "integration/relay.hpp"
#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int get_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(tou_getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

void set_int(int fd, int level, int name, int v) {
  ASSERT_EQ(tou_setsockopt(fd, level, name, &v, sizeof v), 0) << strerror(errno);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One byte each way: the path works.
void ping(int a, int b) {
  uint8_t x = 'p';
  ASSERT_TRUE(write_all(a, &x, 1));
  ASSERT_TRUE(read_exact(b, &x, 1));
  ASSERT_TRUE(write_all(b, &x, 1));
  ASSERT_TRUE(read_exact(a, &x, 1));
}

// The server side's connection is dropped without a word (its RST is lost in
// the cut relay), so that nothing lingers after the test.
void abort_quietly(Fd& fd) {
  linger now{1, 0};
  tou_setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
  fd.reset();
}

// A client connected through a relay to an accepted server socket.
struct RelayedPair {
  Fd listener;
  std::unique_ptr<Relay> relay;
  Fd client;
  Fd server;
};

RelayedPair relayed_pair() {
  RelayedPair p;
  uint16_t port = 0;
  p.listener = listen_on(AF_INET, 4, &port);
  EXPECT_TRUE(p.listener);
  p.relay = std::make_unique<Relay>(port);
  p.client = connect_to(AF_INET, p.relay->port());
  EXPECT_TRUE(p.client) << strerror(errno);
  if (p.client) p.server = Fd(tou_accept(p.listener.get(), nullptr, nullptr));
  EXPECT_TRUE(p.server);
  return p;
}

TEST(LiveOptions, KeepaliveSetAfterConnectDetectsSilentPeer) {
  RelayedPair p = relayed_pair();
  ASSERT_TRUE(p.server);
  ping(p.client.get(), p.server.get());
  const int c = p.client.get();
  set_int(c, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int(c, IPPROTO_TCP, TCP_KEEPIDLE, 1);
  set_int(c, IPPROTO_TCP, TCP_KEEPINTVL, 1);
  set_int(c, IPPROTO_TCP, TCP_KEEPCNT, 2);
  // While the peer answers, the probes keep the connection up.
  uint64_t before = p.relay->relayed();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_GE(p.relay->relayed() - before, 4u) << "two probes and their answers";
  pollfd pf{c, POLLIN, 0};
  ASSERT_EQ(::poll(&pf, 1, 0), 0) << "still open, nothing to read";
  p.relay->cut();
  Clock::time_point t0 = Clock::now();
  char buf[8];
  EXPECT_EQ(tou_recv(c, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  // KEEPIDLE + KEEPINTVL * KEEPCNT = 3 s after the last answer (< 1 s before the cut).
  double waited = seconds_since(t0);
  EXPECT_GE(waited, 1.5);
  EXPECT_LE(waited, 5.0);
  abort_quietly(p.server);
}

// A forking server's child sets keep-alive on the connection it was handed,
// as sshd does: the parent's engine, which serves the socket, applies it
// (through its option relay, src/api/option_relay.hpp).
TEST(LiveOptions, KeepaliveSetInAForkChildDetectsSilentPeer) {
  RelayedPair p = relayed_pair();
  ASSERT_TRUE(p.server);
  ping(p.client.get(), p.server.get());
  const int s = p.server.get();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No allocation and no gtest here: a child of a multi-threaded process.
    int bad = 0;
    const int one = 1, idle = 1, intvl = 1, cnt = 2;
    bad |= tou_setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ? 1 : 0;
    bad |= tou_setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ? 2 : 0;
    bad |= tou_setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) != 0 ? 4 : 0;
    bad |= tou_setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) != 0 ? 8 : 0;
    int v = 0;
    socklen_t len = sizeof v;
    bad |= tou_getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &len) != 0 || v != 1 ? 16 : 0;
    // An option the engine does not know gets the engine's errno.
    bad |= tou_setsockopt(s, IPPROTO_TCP, 9999, &one, sizeof one) == 0 || errno != ENOPROTOOPT ? 32
                                                                                               : 0;
    ::_exit(bad);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bit mask of the child's calls that failed";
  EXPECT_EQ(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPCNT), 2);
  // The probes go out while the peer answers...
  uint64_t before = p.relay->relayed();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_GE(p.relay->relayed() - before, 4u) << "two probes and their answers";
  // ... and find it dead once it is silent (a bounded wait, should they not).
  timeval limit{30, 0};
  ASSERT_EQ(tou_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
  p.relay->cut();
  char buf[8];
  EXPECT_EQ(tou_recv(s, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  abort_quietly(p.client);
}

TEST(LiveOptions, UserTimeoutSetAfterConnectAbortsStalledSend) {
  RelayedPair p = relayed_pair();
  ASSERT_TRUE(p.server);
  ping(p.client.get(), p.server.get());
  const int c = p.client.get();
  p.relay->cut();
  Clock::time_point sent = Clock::now();
  ASSERT_TRUE(write_all(c, reinterpret_cast<const uint8_t*>("stalled"), 7));
  std::this_thread::sleep_for(milliseconds(400));
  // Counted from when the data stalled, not from this call.
  set_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT, 1000);
  EXPECT_EQ(get_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 1000);
  char buf[8];
  EXPECT_EQ(tou_recv(c, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  double waited = seconds_since(sent);
  EXPECT_GE(waited, 0.9);
  EXPECT_LE(waited, 2.5) << "without the option, 15 retransmissions take minutes";
  abort_quietly(p.server);
}

TEST(LiveOptions, CongestionControlSwitchedAfterConnect) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  char name[16] = {};
  socklen_t len = sizeof name;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
  EXPECT_STREQ(name, "bbr");  // the socket API's default
  tou_info before = info_of(c.get());
  ASSERT_EQ(tou_setsockopt(c.get(), IPPROTO_TCP, TCP_CONGESTION, "newreno", 7), 0);
  EXPECT_EQ(tou_setsockopt(c.get(), IPPROTO_TCP, TCP_CONGESTION, "vegas", 5), -1);
  EXPECT_EQ(errno, ENOENT);
  len = sizeof name;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
  EXPECT_STREQ(name, "newreno");
  tou_info after = info_of(c.get());
  EXPECT_EQ(after.cwnd, before.cwnd) << "the new controller takes the window over";
  EXPECT_EQ(after.ssthresh, before.ssthresh);
  // Traffic flows under the new controller.
  std::vector<uint8_t> data = random_bytes(scaled(1 << 20, 65536), 11);
  std::thread writer([&] { EXPECT_TRUE(write_all(c.get(), data.data(), data.size())); });
  std::vector<uint8_t> got(data.size());
  EXPECT_TRUE(read_exact(s.get(), got.data(), got.size()));
  writer.join();
  EXPECT_TRUE(got == data);
  EXPECT_GT(info_of(c.get()).bytes_acked, 0u);
}

TEST(LiveOptions, ReceiveBufferRaisedAfterConnectGrowsWindow) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  ping(c.get(), s.get());  // the server has advertised a scaled window since
  uint32_t before = info_of(s.get()).rcv_wnd;
  EXPECT_LE(before, 4u << 20);  // an unset SO_RCVBUF: autotuned (small until data is read)
  set_int(s.get(), SOL_SOCKET, SO_RCVBUF, 8 << 20);
  EXPECT_EQ(get_int(s.get(), SOL_SOCKET, SO_RCVBUF), 8 << 20);
  // A window update announces it; TCP_INFO shows it once it has gone out.
  EXPECT_TRUE(
      wait_until([&] { return info_of(s.get()).rcv_wnd > (4u << 20); }, milliseconds(30000)))
      << "rcv_wnd " << info_of(s.get()).rcv_wnd;
  EXPECT_LE(info_of(s.get()).rcv_wnd, 8u << 20);
  // The update is on its way to the peer when TCP_INFO shows it here.
  EXPECT_TRUE(
      wait_until([&] { return info_of(c.get()).snd_wnd > (4u << 20); }, milliseconds(30000)))
      << "and the peer uses it: snd_wnd " << info_of(c.get()).snd_wnd;
}

// Without SO_RCVBUF the window starts small (64 KiB) and grows past the 1 MiB
// SO_RCVBUF reports as the program reads, as Linux autotunes up to tcp_rmem[2]:
// a 50 Mbit/s, 200 ms path needs 1.25 MB in flight.
TEST(LiveOptions, UnsetReceiveBufferGrowsPastTheDefaultAsTheProgramReads) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  ping(p.client.get(), p.server.get());
  EXPECT_EQ(get_int(p.server.get(), SOL_SOCKET, SO_RCVBUF), 1 << 20);
  EXPECT_LE(info_of(p.server.get()).rcv_wnd, 64u << 10) << "the initial window";
  std::vector<uint8_t> data = random_bytes(scaled(64 << 20, 8 << 20), 13);
  std::thread writer([&] { EXPECT_TRUE(write_all(p.client.get(), data.data(), data.size())); });
  std::vector<uint8_t> got(data.size());
  EXPECT_TRUE(read_exact(p.server.get(), got.data(), got.size()));
  writer.join();
  EXPECT_TRUE(got == data);
  EXPECT_TRUE(
      wait_until([&] { return info_of(p.client.get()).snd_wnd > (2u << 20); }, milliseconds(30000)))
      << "snd_wnd " << info_of(p.client.get()).snd_wnd;
  EXPECT_LE(info_of(p.server.get()).rcv_wnd, 8u << 20) << "the autotuning limit";
}

TEST(LiveOptions, MaxSegSetAfterConnect) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  Fd& s = p.server;
  ASSERT_GT(info_of(c.get()).snd_mss, 1000u);
  set_int(c.get(), IPPROTO_TCP, TCP_MAXSEG, 1000);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_MAXSEG), 1000) << "the MSS in use";
  EXPECT_EQ(info_of(c.get()).snd_mss, 1000u);
  std::vector<uint8_t> data = random_bytes(scaled(2 << 20, 65536), 12);
  std::thread writer([&] { EXPECT_TRUE(write_all(c.get(), data.data(), data.size())); });
  std::vector<uint8_t> got(data.size());
  EXPECT_TRUE(read_exact(s.get(), got.data(), got.size()));
  writer.join();
  EXPECT_TRUE(got == data);
  tou_info info = info_of(c.get());
  EXPECT_GE(info.segments_sent, data.size() / 1000) << "segments of at most 1000 bytes";
}

// Writes without blocking until the connection has taken nothing for a second
// (the peer does not read); returns the bytes taken (bounded: 64 MiB, 30 s).
size_t fill(int fd) {
  std::vector<uint8_t> chunk(64 * 1024, 0x5a);
  size_t taken = 0;
  auto last_progress = Clock::now();
  const auto start = Clock::now();
  while (Clock::now() - last_progress < milliseconds(1000) && taken < (64u << 20) &&
         Clock::now() - start < std::chrono::seconds(30)) {
    const ssize_t n = tou_send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      taken += static_cast<size_t>(n);
      last_progress = Clock::now();
      continue;
    }
    EXPECT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << std::strerror(errno);
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) break;
    pollfd pfd{fd, POLLOUT, 0};
    ::poll(&pfd, 1, 100);
  }
  return taken;
}

// SO_SNDBUF bounds what the sender holds for a peer that does not read: raised
// after connect from 64 KiB to 4 MiB, the connection takes about 4 MiB more.
TEST(LiveOptions, SendBufferSetAfterConnectBoundsQueuedBytes) {
  ConnectedPair p = connected_pair();
  ASSERT_TRUE(p.client);
  ASSERT_TRUE(p.server);
  Fd& c = p.client;
  set_int(c.get(), SOL_SOCKET, SO_SNDBUF, 64 << 10);
  const size_t small = fill(c.get());
  const uint32_t flight = info_of(c.get()).flight_size;
  set_int(c.get(), SOL_SOCKET, SO_SNDBUF, 4 << 20);
  const size_t more = fill(c.get());
  EXPECT_GT(small, 0u);
  EXPECT_EQ(info_of(c.get()).flight_size, flight) << "the peer's window was already full";
  // The extra room is the buffer's growth (4 MiB - 64 KiB), give or take a
  // chunk and what the pair's kernel buffer holds on top.
  EXPECT_GE(more, (4u << 20) - (64u << 10) - (64u << 10)) << "small " << small;
  EXPECT_LE(more, (4u << 20) + (1u << 20)) << "small " << small;
  // And the bytes still arrive, in order, once the server reads.
  std::vector<uint8_t> got(small + more);
  EXPECT_TRUE(read_exact(p.server.get(), got.data(), got.size()));
  EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0x5a; }));
}

}  // namespace
}  // namespace tou_test
