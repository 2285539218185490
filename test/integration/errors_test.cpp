// Errors as a BSD socket reports them, and the calls around a connection's
// life: shutdown, getsockname/getpeername, options.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

using Clock = std::chrono::steady_clock;

// No wall-clock bound (a loaded machine may stretch any): with one SYN retry,
// a connect that missed the refusal would end in ETIMEDOUT instead.
TEST(Errors, ConnectToClosedPortIsRefused) {
  for (int family : {AF_INET, AF_INET6}) {
    uint16_t port = closed_udp_port(family);
    Fd s(tou_socket(family, SOCK_STREAM, 0));
    ASSERT_TRUE(s);
    int retries = 1;
    ASSERT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_SYNCNT, &retries, sizeof retries), 0);
    Addr a = loopback(family, port);
    EXPECT_EQ(tou_connect(s.get(), a.get(), a.len), -1);
    EXPECT_EQ(errno, ECONNREFUSED);
  }
}

TEST(Errors, ConnectToBoundButNotListeningIsRefusedByReset) {
  Fd bound(tou_socket(AF_INET, SOCK_STREAM, 0));
  Addr a = loopback(AF_INET, 0);
  ASSERT_EQ(tou_bind(bound.get(), a.get(), a.len), 0);
  Addr b;
  b.len = sizeof b.storage;
  ASSERT_EQ(tou_getsockname(bound.get(), reinterpret_cast<sockaddr*>(&b.storage), &b.len), 0);
  Fd s(tou_socket(AF_INET, SOCK_STREAM, 0));
  int retries = 1;  // as above: a missed reset would end in ETIMEDOUT
  ASSERT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_SYNCNT, &retries, sizeof retries), 0);
  EXPECT_EQ(tou_connect(s.get(), b.get(), b.len), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST(Errors, ConnectToSilentPortTimesOutAfterSynRetries) {
  // A UDP socket that never answers: the SYN and its retries go unanswered.
  Fd silent(::socket(AF_INET, SOCK_DGRAM, 0));
  Addr a = loopback(AF_INET, 0);
  ASSERT_EQ(::bind(silent.get(), a.get(), a.len), 0);
  Addr b;
  b.len = sizeof b.storage;
  ::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&b.storage), &b.len);

  Fd s(tou_socket(AF_INET, SOCK_STREAM, 0));
  int retries = 1;  // SYN at 0 s, retry at 1 s, give up at 3 s (RTO 1 s, doubled)
  ASSERT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_SYNCNT, &retries, sizeof retries), 0);
  auto start = Clock::now();
  EXPECT_EQ(tou_connect(s.get(), b.get(), b.len), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  auto took = Clock::now() - start;
  // Load only makes it later. The upper bound tells TCP_SYNCNT 1 (3 s) from
  // the default 6 retries (127 s), with room for any stall.
  EXPECT_GT(took, std::chrono::milliseconds(2500));
  EXPECT_LT(took, std::chrono::seconds(60));

  // SO_SNDTIMEO bounds a blocking connect.
  Fd t(tou_socket(AF_INET, SOCK_STREAM, 0));
  timeval tv{0, 300'000};
  ASSERT_EQ(tou_setsockopt(t.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
  start = Clock::now();
  EXPECT_EQ(tou_connect(t.get(), b.get(), b.len), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  took = Clock::now() - start;
  EXPECT_GT(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(60));  // not the 127 s of the SYN retries
}

TEST(Errors, SecondBindIsAddressInUse) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  Fd s(tou_socket(AF_INET, SOCK_STREAM, 0));
  Addr a = loopback(AF_INET, port);
  EXPECT_EQ(tou_bind(s.get(), a.get(), a.len), -1);
  EXPECT_EQ(errno, EADDRINUSE);
  // A plain UDP socket on the port counts too.
  Fd u(::socket(AF_INET, SOCK_DGRAM, 0));
  Addr free_port = loopback(AF_INET, 0);
  ASSERT_EQ(::bind(u.get(), free_port.get(), free_port.len), 0);
  Addr ub;
  ub.len = sizeof ub.storage;
  ::getsockname(u.get(), reinterpret_cast<sockaddr*>(&ub.storage), &ub.len);
  Fd s2(tou_socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_EQ(tou_bind(s2.get(), ub.get(), ub.len), -1);
  EXPECT_EQ(errno, EADDRINUSE);
}

TEST(Errors, BadDescriptors) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  Fd r(pipefd[0]), w(pipefd[1]);
  Fd udp(::socket(AF_INET, SOCK_DGRAM, 0));  // a socket, but not a tou one
  // A tou socket's descriptor, closed. Not the lowest free number: the
  // engine's threads make descriptors too (briefly low, then moved above
  // high_fd_base(), 512 or more), and one of them took it (ENOTSOCK, once).
  int made = tou_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(made, 0);
  const int closed = ::fcntl(made, F_DUPFD_CLOEXEC, 300);
  ASSERT_GE(closed, 300);
  ASSERT_LT(closed, 512);
  ASSERT_EQ(::close(made), 0);
  ASSERT_EQ(::close(closed), 0);
  Addr a = loopback(AF_INET, 9);
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int v = 1;
  for (auto [fd, err] :
       {std::pair{closed, EBADF}, std::pair{r.get(), ENOTSOCK}, std::pair{udp.get(), ENOTSOCK}}) {
    SCOPED_TRACE(fd);
    errno = 0;
    EXPECT_EQ(tou_bind(fd, a.get(), a.len), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_listen(fd, 1), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_connect(fd, a.get(), a.len), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_accept(fd, nullptr, nullptr), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_shutdown(fd, SHUT_WR), -1);
    EXPECT_EQ(errno, err);
    len = sizeof ss;
    EXPECT_EQ(tou_getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len), -1);
    EXPECT_EQ(errno, err);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v), -1);
    EXPECT_EQ(errno, err);
    len = sizeof v;
    EXPECT_EQ(tou_getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), -1);
    EXPECT_EQ(errno, err);
  }
  EXPECT_EQ(tou_close(closed), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(tou_send(closed, "x", 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(Errors, BadArguments) {
  EXPECT_EQ(tou_socket(AF_UNIX, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  EXPECT_EQ(tou_socket(AF_INET, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, EPROTONOSUPPORT);
  EXPECT_EQ(tou_socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), -1);
  EXPECT_EQ(errno, EPROTONOSUPPORT);

  Fd s(tou_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(s);
  EXPECT_EQ(::fcntl(s.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(tou_bind(s.get(), nullptr, 16), -1);
  EXPECT_EQ(errno, EFAULT);
  Addr a = loopback(AF_INET, 0);
  EXPECT_EQ(tou_bind(s.get(), a.get(), 3), -1);
  EXPECT_EQ(errno, EINVAL);
  Addr a6 = loopback(AF_INET6, 0);
  EXPECT_EQ(tou_bind(s.get(), a6.get(), a6.len), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  ASSERT_EQ(tou_bind(s.get(), a.get(), a.len), 0);
  EXPECT_EQ(tou_bind(s.get(), a.get(), a.len), -1);  // bound already
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(tou_accept(s.get(), nullptr, nullptr), -1);  // not listening
  EXPECT_EQ(errno, EINVAL);
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  EXPECT_EQ(tou_getpeername(s.get(), reinterpret_cast<sockaddr*>(&ss), &len), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(tou_shutdown(s.get(), SHUT_WR), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(tou_shutdown(s.get(), 42), -1);
  EXPECT_EQ(errno, EINVAL);
  int v = 1;
  EXPECT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, 9999, &v, sizeof v), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  EXPECT_EQ(tou_setsockopt(s.get(), 12345, 1, &v, sizeof v), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  EXPECT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, nullptr, sizeof v), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &v, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(tou_setsockopt(s.get(), IPPROTO_TCP, TCP_CONGESTION, "bogus", 5), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(tou_getsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &v, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST(Errors, ConnectTwiceAndOnListener) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  Addr a = loopback(AF_INET, port);
  EXPECT_EQ(tou_connect(ls.get(), a.get(), a.len), -1);
  EXPECT_EQ(errno, EISCONN);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  EXPECT_EQ(tou_connect(c.get(), a.get(), a.len), -1);
  EXPECT_EQ(errno, EISCONN);
  Fd accepted(tou_accept(ls.get(), nullptr, nullptr));
  EXPECT_TRUE(accepted);

  // A second non-blocking connect while the first is under way: EALREADY.
  Fd silent(::socket(AF_INET, SOCK_DGRAM, 0));
  Addr any = loopback(AF_INET, 0);
  ::bind(silent.get(), any.get(), any.len);
  Addr sb;
  sb.len = sizeof sb.storage;
  ::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&sb.storage), &sb.len);
  Fd nb(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  EXPECT_EQ(tou_connect(nb.get(), sb.get(), sb.len), -1);
  EXPECT_EQ(errno, EINPROGRESS);
  EXPECT_EQ(tou_connect(nb.get(), sb.get(), sb.len), -1);
  EXPECT_EQ(errno, EALREADY);
}

TEST(Errors, PeerAbortIsConnectionReset) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  Fd server(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(server);
  linger abort_now{1, 0};
  ASSERT_EQ(tou_setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now), 0);
  server.reset();  // RST
  char buf[16];
  EXPECT_EQ(tou_recv(c.get(), buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  // A write after the reset fails with EPIPE (or ECONNRESET), and MSG_NOSIGNAL
  // keeps SIGPIPE away (it would end this process).
  ssize_t n = tou_send(c.get(), "x", 1, MSG_NOSIGNAL);
  int err = errno;
  EXPECT_EQ(n, -1);
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << strerror(err);
}

TEST(Errors, UnreadDataOnCloseResetsThePeer) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  Fd server(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("unread"), 6));
  // Let the bytes reach the server's descriptor, then close without reading.
  pollfd p{server.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  server.reset();
  char buf[16];
  EXPECT_EQ(tou_recv(c.get(), buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST(Lifecycle, HalfCloseThenReply) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  ASSERT_TRUE(ls);
  std::thread server([&] {
    Fd s(tou_accept(ls.get(), nullptr, nullptr));
    std::vector<uint8_t> request;
    EXPECT_TRUE(read_to_eof(s.get(), request));  // the client's FIN
    EXPECT_EQ(std::string(request.begin(), request.end()), "question");
    EXPECT_TRUE(write_all(s.get(), reinterpret_cast<const uint8_t*>("answer"), 6));
  });
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(write_all(c.get(), reinterpret_cast<const uint8_t*>("question"), 8));
  ASSERT_EQ(tou_shutdown(c.get(), SHUT_WR), 0);
  // Writing after SHUT_WR fails; reading still works.
  EXPECT_EQ(tou_send(c.get(), "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
  std::vector<uint8_t> reply;
  EXPECT_TRUE(read_to_eof(c.get(), reply));
  EXPECT_EQ(std::string(reply.begin(), reply.end()), "answer");
  server.join();
}

TEST(Lifecycle, SocketAndPeerNames) {
  for (int family : {AF_INET, AF_INET6}) {
    SCOPED_TRACE(family);
    uint16_t port = 0;
    Fd ls = listen_on(family, 4, &port);
    ASSERT_TRUE(ls);
    Fd c = connect_to(family, port);
    ASSERT_TRUE(c);
    Addr peer;
    peer.len = sizeof peer.storage;
    Fd s(tou_accept(ls.get(), reinterpret_cast<sockaddr*>(&peer.storage), &peer.len));
    ASSERT_TRUE(s);
    Addr c_local, c_peer, s_local, s_peer;
    for (Addr* x : {&c_local, &c_peer, &s_local, &s_peer}) x->len = sizeof x->storage;
    ASSERT_EQ(tou_getsockname(c.get(), reinterpret_cast<sockaddr*>(&c_local.storage), &c_local.len),
              0);
    ASSERT_EQ(tou_getpeername(c.get(), reinterpret_cast<sockaddr*>(&c_peer.storage), &c_peer.len),
              0);
    ASSERT_EQ(tou_getsockname(s.get(), reinterpret_cast<sockaddr*>(&s_local.storage), &s_local.len),
              0);
    ASSERT_EQ(tou_getpeername(s.get(), reinterpret_cast<sockaddr*>(&s_peer.storage), &s_peer.len),
              0);
    EXPECT_EQ(c_peer.port(), port);
    EXPECT_EQ(s_local.port(), port);
    EXPECT_EQ(s_peer.port(), c_local.port());
    EXPECT_EQ(peer.port(), c_local.port());
    EXPECT_NE(c_local.port(), 0);
    EXPECT_EQ(c_local.storage.ss_family, family);
    EXPECT_EQ(0, std::memcmp(&s_peer.storage, &c_local.storage, c_local.len));
    EXPECT_EQ(0, std::memcmp(&c_peer.storage, &s_local.storage, s_local.len));
    // Truncation as BSD: the full length is reported.
    sockaddr small;
    socklen_t small_len = 2;
    ASSERT_EQ(tou_getsockname(c.get(), &small, &small_len), 0);
    EXPECT_EQ(small_len, c_local.len);
  }
}

TEST(Lifecycle, Options) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port, [](int fd) {
    int buf = 256 * 1024;
    tou_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  });
  ASSERT_TRUE(ls);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(tou_getsockopt(ls.get(), SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
  EXPECT_EQ(v, 1);
  Fd c = connect_to(AF_INET, port, [](int fd) {
    int one = 1;
    EXPECT_EQ(tou_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), 0);
    int idle = 30, intvl = 5, cnt = 3, ut = 10000, mss = 1200;
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle), 0);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl), 0);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt), 0);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut), 0);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss), 0);
    EXPECT_EQ(tou_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "newreno", 7), 0);
    int buf = 512 * 1024;
    EXPECT_EQ(tou_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf), 0);
  });
  ASSERT_TRUE(c);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  auto get_int = [](int fd, int level, int name) {
    int value = -1;
    socklen_t l = sizeof value;
    EXPECT_EQ(tou_getsockopt(fd, level, name, &value, &l), 0);
    EXPECT_EQ(l, sizeof value);
    return value;
  };
  EXPECT_EQ(get_int(c.get(), SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_KEEPINTVL), 5);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_USER_TIMEOUT), 10000);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_MAXSEG), 1200);  // the MSS in use
  EXPECT_EQ(get_int(c.get(), SOL_SOCKET, SO_SNDBUF), 512 * 1024);
  EXPECT_EQ(get_int(s.get(), SOL_SOCKET, SO_RCVBUF), 256 * 1024);  // inherited
  EXPECT_EQ(get_int(c.get(), SOL_SOCKET, SO_ERROR), 0);
  EXPECT_EQ(get_int(c.get(), SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(get_int(c.get(), SOL_SOCKET, SO_ACCEPTCONN), 0);
  char cc[16] = {};
  len = sizeof cc;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_CONGESTION, cc, &len), 0);
  EXPECT_STREQ(cc, "newreno");
  int one = 1;
  EXPECT_EQ(tou_setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
  EXPECT_EQ(get_int(c.get(), IPPROTO_TCP, TCP_NODELAY), 1);
  timeval tv{1, 500'000};
  ASSERT_EQ(tou_setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  timeval back{};
  len = sizeof back;
  ASSERT_EQ(tou_getsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &back, &len), 0);
  EXPECT_EQ(back.tv_sec, 1);
  // Its effect: a recv with nothing to read gives up after 1.5 s with EAGAIN
  // (a lower bound only: a loaded machine can make it later, never sooner).
  {
    char byte = 0;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(tou_recv(c.get(), &byte, 1, 0), -1);
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400));
  }
  linger lg{1, 7};
  ASSERT_EQ(tou_setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  linger lg_back{};
  len = sizeof lg_back;
  ASSERT_EQ(tou_getsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg_back, &len), 0);
  EXPECT_EQ(lg_back.l_onoff, 1);
  EXPECT_EQ(lg_back.l_linger, 7);

  // Some traffic, then the statistics.
  std::vector<uint8_t> data = random_bytes(100000, 3);
  ASSERT_TRUE(write_all(c.get(), data.data(), data.size()));
  std::vector<uint8_t> got(data.size());
  ASSERT_TRUE(read_exact(s.get(), got.data(), got.size()));
  EXPECT_TRUE(got == data);
  tou_info info{};
  len = sizeof info;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(len, sizeof info);
  EXPECT_EQ(info.state, TOU_STATE_ESTABLISHED);
  EXPECT_EQ(info.snd_mss, 1200u);
  EXPECT_GE(info.bytes_sent, data.size());
  EXPECT_GT(info.rto_us, 0u);
  EXPECT_GT(info.cwnd, 0u);
  EXPECT_EQ(info.options, TOU_OPT_SACK | TOU_OPT_TIMESTAMPS);
  tou_info sinfo{};
  len = sizeof sinfo;
  ASSERT_EQ(tou_getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &sinfo, &len), 0);
  EXPECT_EQ(sinfo.bytes_received, data.size());
  // The options' effects seen from the other end: the client's TCP_MAXSEG,
  // set before connect, is the MSS its SYN announced, so the server sends
  // 1200-byte segments (its own loopback MSS is over 60000); the listener's
  // SO_RCVBUF, inherited, bounds the window the server offers and the client uses.
  EXPECT_EQ(sinfo.snd_mss, 1200u);
  EXPECT_LE(sinfo.rcv_wnd, 256u * 1024);
  EXPECT_LE(info.snd_wnd, 256u * 1024);
  EXPECT_GT(info.snd_wnd, 0u);
  // (Keep-alive, the user timeout, TCP_CONGESTION, TCP_MAXSEG and the buffers
  // set on a connected socket: their effects are checked in live_options_test.)
  lg = {0, 0};
  tou_setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

TEST(Lifecycle, MssFollowsLoopbackMtu) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  int mss = 0;
  socklen_t len = sizeof mss;
  ASSERT_EQ(tou_getsockopt(c.get(), IPPROTO_TCP, TCP_MAXSEG, &mss, &len), 0);
  // Loopback's 64 KiB MTU, minus IPv4, UDP and TCP headers.
  EXPECT_GT(mss, 60000);
  EXPECT_LE(mss, 65535 - 20 - 8 - 20);
}

TEST(Lifecycle, NonBlockingConnect) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 4, &port);
  Fd c(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  Addr a = loopback(AF_INET, port);
  ASSERT_EQ(tou_connect(c.get(), a.get(), a.len), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  pollfd p{c.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_TRUE(p.revents & POLLOUT);
  int err = -1;
  socklen_t len = sizeof err;
  ASSERT_EQ(tou_getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);
  sockaddr_storage ss;
  len = sizeof ss;
  EXPECT_EQ(tou_getpeername(c.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  ASSERT_EQ(tou_send(c.get(), "ping", 4, 0), 4);
  char buf[4];
  ASSERT_TRUE(read_exact(s.get(), reinterpret_cast<uint8_t*>(buf), 4));
  EXPECT_EQ(std::memcmp(buf, "ping", 4), 0);

  // Refused: writable (with an error), SO_ERROR tells which.
  uint16_t closed = closed_udp_port(AF_INET);
  Fd r(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  Addr ca = loopback(AF_INET, closed);
  ASSERT_EQ(tou_connect(r.get(), ca.get(), ca.len), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  p = {r.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  err = 0;
  len = sizeof err;
  ASSERT_EQ(tou_getsockopt(r.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, ECONNREFUSED);
}

}  // namespace
}  // namespace tou_test
