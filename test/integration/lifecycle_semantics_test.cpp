// A socket's life around its data, one behaviour per test, each run against
// the kernel's TCP and against tou (stacks.hpp): SO_RCVBUF bounding what is
// acknowledged unread, SO_LINGER with a timeout, fork with both processes
// doing I/O, many listeners, rebinding a port (after close, in TIME-WAIT),
// IPV6_V6ONLY, a non-blocking connect that times out.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "integration/stacks.hpp"

namespace tou_test {
namespace {

class Lifecycle : public StackTest {
 protected:
  // Binds fd to [::]:0, listens, and gives the port chosen (the V6ONLY tests' preamble).
  void listen_on_v6_wildcard(int fd, uint16_t* port) {
    sockaddr_in6 any{};
    any.sin6_family = AF_INET6;
    any.sin6_addr = in6addr_any;
    ASSERT_EQ(api().bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    ASSERT_EQ(api().listen(fd, 4), 0);
    socklen_t len = sizeof any;
    ASSERT_EQ(api().getsockname(fd, reinterpret_cast<sockaddr*>(&any), &len), 0);
    *port = ntohs(any.sin6_port);
  }
};

const uint8_t* u8(const char* s) {
  return reinterpret_cast<const uint8_t*>(s);
}

// A receiver that never reads: what its stack takes in (acknowledges) is what
// SO_RCVBUF allows. Linux doubles the value for its bookkeeping and may hold
// up to that; tou holds SO_RCVBUF in the core and about half again in the pair.
constexpr int kRcvbuf = 64 * 1024;

// Floods `receiver` from `sender` until what it took in stops growing (at
// most ~4 s); returns that count.
uint64_t flood_until_stalled(const Stack& api, int sender, int receiver) {
  std::vector<uint8_t> chunk(64 * 1024, 'r');
  uint64_t last = 0;
  int stable = 0;
  for (int i = 0; i < 400 && stable < 20; ++i) {
    while (api.send(sender, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    uint64_t now = api.bytes_received(receiver);
    stable = now == last ? stable + 1 : 0;
    last = now;
  }
  std::printf("[ %s ] SO_RCVBUF %d: %llu bytes acknowledged unread\n", api.name, kRcvbuf,
              static_cast<unsigned long long>(last));
  return last;
}

void expect_within_rcvbuf(uint64_t taken) {
  EXPECT_GE(taken, static_cast<uint64_t>(kRcvbuf) / 2) << "the window was used";
  EXPECT_LE(taken, 2u * kRcvbuf + 16 * 1024)
      << "acknowledged but unread: within what the kernel's doubled SO_RCVBUF allows";
}

TEST_P(Lifecycle, RcvbufBoundsWhatIsAcknowledgedUnread) {
  Conn c = pair(AF_INET, [&](int fd) { set_int(fd, SOL_SOCKET, SO_RCVBUF, kRcvbuf); });
  ASSERT_TRUE(c.server);
  expect_within_rcvbuf(flood_until_stalled(api(), c.server.get(), c.client.get()));
}

TEST_P(Lifecycle, RcvbufOfTheListenerBoundsAcceptedSockets) {
  Conn c = pair(AF_INET, {}, [&](int fd) { set_int(fd, SOL_SOCKET, SO_RCVBUF, kRcvbuf); });
  ASSERT_TRUE(c.server);
  expect_within_rcvbuf(flood_until_stalled(api(), c.client.get(), c.server.get()));
}

TEST_P(Lifecycle, RcvbufSetOnAnOpenConnection) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  ASSERT_EQ(set_int(c.client.get(), SOL_SOCKET, SO_RCVBUF, kRcvbuf), 0);
  // A window once offered is not taken back (RFC 9293 3.8.6.2.2): this bounds the
  // flood only because the window offered before it was small (autotuning).
  expect_within_rcvbuf(flood_until_stalled(api(), c.server.get(), c.client.get()));
}

// close() with SO_LINGER {1, 0} resets at once and discards what was written
// but not sent, even while the peer's window is closed and the sender's
// buffers are full (tou: the last writes still in the pair): the peer reads
// what it took in, then ECONNRESET, and nothing of the discarded bytes.
TEST_P(Lifecycle, LingerZeroWithUnsentBytesResetsAtOnce) {
  Conn c = pair(AF_INET, [&](int fd) { set_int(fd, SOL_SOCKET, SO_RCVBUF, kRcvbuf); });
  ASSERT_TRUE(c.server);
  const uint64_t taken = flood_until_stalled(api(), c.server.get(), c.client.get());
  ASSERT_GT(taken, 0u);
  linger now{1, 0};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now), 0);
  c.server.reset();  // the stack's close()
  std::vector<uint8_t> got(taken);
  ASSERT_TRUE(read_exact(c.client.get(), got.data(), got.size()));
  pollfd p{c.client.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  char extra = 0;
  EXPECT_EQ(::read(c.client.get(), &extra, 1), -1) << "no byte after the reset";
  EXPECT_EQ(errno, ECONNRESET) << strerror(errno);
}

// shutdown(SHUT_RDWR) is no close: with SO_LINGER {1, 0} set, what was written
// still goes, then FIN; the peer reads it all and end-of-file, no reset.
TEST_P(Lifecycle, LingerZeroThenShutdownBothWaysStillEndsWithFin) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  std::vector<uint8_t> data = random_bytes(256 * 1024, 9);
  linger now{1, 0};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now), 0);
  ASSERT_TRUE(write_all(c.server.get(), data.data(), data.size()));
  ASSERT_EQ(api().shutdown(c.server.get(), SHUT_RDWR), 0);
  std::vector<uint8_t> got;
  EXPECT_TRUE(read_to_eof(c.client.get(), got, data.size()));
  EXPECT_TRUE(got == data);
}

// close() with SO_LINGER {1, N} returns once what was written is
// acknowledged: by then the peer has read all but what its buffers hold.
TEST_P(Lifecycle, LingerWithTimeoutWaitsForTheAcknowledgment) {
  Conn c = pair(AF_INET, [&](int fd) { set_int(fd, SOL_SOCKET, SO_RCVBUF, kRcvbuf); });
  ASSERT_TRUE(c.server);
  const size_t total = 2 << 20;
  std::vector<uint8_t> data = random_bytes(total, 5);
  std::atomic<size_t> read_by_peer{0};
  std::vector<uint8_t> got;
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writer gets ahead
    uint8_t buf[16384];
    for (;;) {
      ssize_t n = ::read(c.client.get(), buf, sizeof buf);
      if (n <= 0) break;
      got.insert(got.end(), buf, buf + n);
      read_by_peer += static_cast<size_t>(n);
    }
  });
  ASSERT_TRUE(write_all(c.server.get(), data.data(), data.size()));
  linger lg{1, 20};
  ASSERT_EQ(api().setsockopt(c.server.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  c.server.reset();  // the stack's close()
  size_t at_close = read_by_peer.load();
  reader.join();
  EXPECT_GE(at_close + 4 * kRcvbuf + 64 * 1024, total)
      << "close() returned before the data was acknowledged";
  EXPECT_EQ(got, data) << "all delivered, then end-of-file (not a reset)";
}

// The same after one small write the peer has read and answered nothing:
// close() returns once it is acknowledged, not at the linger timeout (tou
// keeps a small write in the pair until a response frees it, which must not
// count as unsent).
TEST_P(Lifecycle, LingerAfterASmallWriteReturnsOnceItIsAcknowledged) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  const uint8_t request[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(write_all(c.client.get(), request, sizeof request));
  uint8_t got[sizeof request];
  ASSERT_TRUE(read_exact(c.server.get(), got, sizeof got));
  linger lg{1, 60};
  ASSERT_EQ(api().setsockopt(c.client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  auto start = std::chrono::steady_clock::now();
  c.client.reset();  // the stack's close()
  // Not a speed: the acknowledgment comes within the delayed-ACK time; the
  // linger timeout is 60 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "close() waited for the linger timeout";
  uint8_t buf[16];
  EXPECT_EQ(::read(c.server.get(), buf, sizeof buf), 0) << "end-of-file, not a reset";
}

// After fork() the parent and the child both write and read the one
// connection, taking turns.
TEST_P(Lifecycle, ParentAndChildBothDoIoAfterFork) {
  Conn c = pair();
  ASSERT_TRUE(c.server);
  int turn[2];
  ASSERT_EQ(::pipe(turn), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char go;
    bool ok = ::read(turn[0], &go, 1) == 1;            // wait for the parent's turn
    ok = ok && write_all(c.server.get(), u8("C"), 1);  // then write
    uint8_t in = 0;
    ok = ok && read_exact(c.server.get(), &in, 1) && in == 'y';
    ::_exit(ok ? 0 : 1);
  }
  ::close(turn[0]);
  ASSERT_TRUE(write_all(c.server.get(), u8("P"), 1));
  uint8_t b[2] = {};
  ASSERT_TRUE(read_exact(c.client.get(), b, 1));
  EXPECT_EQ(b[0], 'P');
  ASSERT_TRUE(write_all(c.client.get(), u8("x"), 1));
  uint8_t x = 0;
  ASSERT_TRUE(read_exact(c.server.get(), &x, 1));
  EXPECT_EQ(x, 'x') << "the parent reads";
  ASSERT_EQ(::write(turn[1], "g", 1), 1);
  ASSERT_TRUE(read_exact(c.client.get(), b + 1, 1));
  EXPECT_EQ(b[1], 'C') << "the child's write";
  ASSERT_TRUE(write_all(c.client.get(), u8("y"), 1));
  ::close(turn[1]);
  int status = -1;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child read 'y'";
}

TEST_P(Lifecycle, ManyListenersAtOnce) {
  constexpr int kListeners = 64;
  std::vector<SFd> listeners;
  std::vector<uint16_t> ports;
  for (int i = 0; i < kListeners; ++i) {
    uint16_t port = 0;
    listeners.push_back(listener(AF_INET, &port));
    ASSERT_TRUE(listeners.back()) << i << ": " << std::strerror(errno);
    ports.push_back(port);
  }
  for (int i = kListeners - 1; i >= 0; --i) {
    SFd cl = connect(AF_INET, ports[static_cast<size_t>(i)]);
    ASSERT_TRUE(cl) << i;
    SFd sv = accept(listeners[static_cast<size_t>(i)].get());
    ASSERT_TRUE(sv) << i;
    uint8_t v = static_cast<uint8_t>(i), got = 0;
    ASSERT_TRUE(write_all(cl.get(), &v, 1));
    ASSERT_TRUE(read_exact(sv.get(), &got, 1));
    EXPECT_EQ(got, v);
  }
}

TEST_P(Lifecycle, RebindAPortAfterItsListenerClosed) {
  uint16_t port = 0;
  SFd l = listener(AF_INET, &port);
  ASSERT_TRUE(l);
  l.reset();
  SFd again = listener(AF_INET, &port);
  EXPECT_TRUE(again) << "no connection ever used it: free at once, " << std::strerror(errno);
}

// The server closes first, so its side of the connection (on the listener's
// port) sits in TIME-WAIT: binding the port again needs SO_REUSEADDR (on the
// old socket too, as Linux's bind conflict check asks of both).
TEST_P(Lifecycle, RebindDuringTimeWaitNeedsReuseaddr) {
  uint16_t port = 0;
  auto reuseaddr = [&](int fd) { set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1); };
  Conn c;
  c.listener = listener(AF_INET, &port, 16, reuseaddr);
  ASSERT_TRUE(c.listener);
  c.client = connect(AF_INET, port);
  ASSERT_TRUE(c.client);
  c.server = accept(c.listener.get());
  ASSERT_TRUE(c.server);
  c.server.reset();  // FIN first: TIME-WAIT on the server's side
  char buf[4];
  ASSERT_EQ(::read(c.client.get(), buf, sizeof buf), 0);
  c.client.reset();
  c.listener.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last ACK has arrived
  uint16_t same = port;
  SFd plain = listener(AF_INET, &same);
  EXPECT_FALSE(plain) << "TIME-WAIT holds the port";
  EXPECT_EQ(errno, EADDRINUSE);
  plain.reset();
  SFd reuse = listener(AF_INET, &same, 16, reuseaddr);
  EXPECT_TRUE(reuse) << "SO_REUSEADDR binds over TIME-WAIT: " << std::strerror(errno);
}

TEST_P(Lifecycle, V6OnlyListenerRefusesIpv4) {
  uint16_t port = 0;
  SFd l = listener(AF_INET6, &port, 16,
                   [&](int fd) { ASSERT_EQ(set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1), 0); });
  ASSERT_TRUE(l);
  // Listening on ::1 already excludes IPv4; the wildcard shows V6ONLY's effect.
  l.reset();
  SFd w = make(AF_INET6);
  ASSERT_TRUE(w);
  ASSERT_EQ(set_int(w.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1), 0);
  uint16_t wport = 0;
  ASSERT_NO_FATAL_FAILURE(listen_on_v6_wildcard(w.get(), &wport));
  SFd v4 = connect(AF_INET, wport, [&](int fd) { set_int(fd, IPPROTO_TCP, TCP_SYNCNT, 1); });
  EXPECT_FALSE(v4) << "IPv4 to a V6ONLY wildcard listener";
  SFd v6 = connect(AF_INET6, wport);
  EXPECT_TRUE(v6) << "IPv6 still connects: " << std::strerror(errno);
}

TEST_P(Lifecycle, DualStackListenerAcceptsIpv4) {
  SFd w = make(AF_INET6);
  ASSERT_TRUE(w);
  ASSERT_EQ(set_int(w.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0), 0);
  int v = -1;
  socklen_t vlen = sizeof v;
  ASSERT_EQ(api().getsockopt(w.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v, &vlen), 0);
  EXPECT_EQ(v, 0);
  uint16_t wport = 0;
  ASSERT_NO_FATAL_FAILURE(listen_on_v6_wildcard(w.get(), &wport));
  SFd v4 = connect(AF_INET, wport);
  ASSERT_TRUE(v4) << std::strerror(errno);
  SFd s = accept(w.get());
  ASSERT_TRUE(s);
  uint8_t b = 0;
  ASSERT_TRUE(write_all(v4.get(), u8("4"), 1));
  ASSERT_TRUE(read_exact(s.get(), &b, 1));
  EXPECT_EQ(b, '4');
}

// A listener whose accept queue is full drops SYNs (both stacks do), so a
// second connect with one SYN retry times out: non-blocking, the failure
// comes through poll() and SO_ERROR.
TEST_P(Lifecycle, NonBlockingConnectTimesOut) {
  uint16_t port = 0;
  SFd l = listener(AF_INET, &port, 1);
  ASSERT_TRUE(l);
  std::vector<SFd> fill;  // connections nobody accepts, until SYNs are dropped
  for (int i = 0; i < 2; ++i) {
    SFd f = make(AF_INET, SOCK_NONBLOCK);
    Addr a = loopback(AF_INET, port);
    api().connect(f.get(), a.get(), a.len);
    wait_events(f.get(), POLLOUT, 1500);  // established, or its SYN was dropped
    fill.push_back(std::move(f));
  }
  SFd s = make(AF_INET, SOCK_NONBLOCK);
  ASSERT_TRUE(s);
  ASSERT_EQ(set_int(s.get(), IPPROTO_TCP, TCP_SYNCNT, 1), 0);
  Addr a = loopback(AF_INET, port);
  ASSERT_EQ(api().connect(s.get(), a.get(), a.len), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  short ev = wait_events(s.get(), POLLOUT, 20000);
  ASSERT_NE(ev, 0) << "the attempt ends within the SYN retries";
  int err = -1;
  socklen_t len = sizeof err;
  ASSERT_EQ(api().getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, ETIMEDOUT) << std::strerror(err);
}

INSTANTIATE_STACKS(Lifecycle);

}  // namespace
}  // namespace tou_test
