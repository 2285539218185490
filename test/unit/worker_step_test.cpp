// An engine worker driven without its thread: two stepped workers on
// loopback, one listening and one connecting, carry bytes both ways, and the
// process has no more threads than before; and a stepped listener fed
// hand-made segments, so that several land in one receive batch; and
// connections from one UDP port kept apart by their TCP ports.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.hpp"
#include "engine/event_loop.hpp"
#include "engine/interface.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou::engine {
namespace {

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(d);
  }
  return n;
}

ino_t inode_of(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// The connection's TCP_INFO from its worker; nullopt when get_option fails.
std::optional<tou_info> tcp_info(Engine& e, int fd, ino_t ino) {
  tou_info info{};
  socklen_t len = sizeof info;
  if (e.get_option(fd, ino, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return info;
}

// Steps both workers (1 ms waits) until `done` or 2000 turns.
template <typename Done>
bool step_until(Engine& a, Engine& b, Done done) {
  for (int i = 0; i < 2000; ++i) {
    if (done()) return true;
    Instant soon = EventLoop::now() + std::chrono::milliseconds(1);
    a.step(soon);
    b.step(soon);
  }
  return done();
}

// A listening socket of `engine` on a loopback port of its own choice.
void listen_on_loopback(Engine& engine, int& lfd, SockAddr& local) {
  ASSERT_EQ(engine.open_socket(AF_INET, true, true, lfd), 0);
  const ino_t lino = inode_of(lfd);
  ASSERT_EQ(engine.bind(lino, SockAddr::loopback(AF_INET, 0)), 0);
  ASSERT_EQ(engine.listen(lfd, lino, 4), 0);
  ASSERT_EQ(engine.local_address(lino, local), 0);
  ASSERT_NE(local.port(), 0);
}

// A stepped worker (keys from `key`), kept reachable for the rest of the
// process, as the workers are (nothing deletes one), so that LeakSanitizer
// does not call it a leak.
Engine* stepped_worker(uint8_t key) {
  EngineKeys keys;
  keys.isn.fill(key);
  keys.cookie.fill(static_cast<uint8_t>(key + 2));
  int err = 0;
  Engine* e = Engine::create_stepped(keys, err);
  EXPECT_NE(e, nullptr) << std::strerror(err);
  // Never destroyed (a static vector's destructor would free the only
  // pointers to them before LeakSanitizer looks at exit).
  static auto* kept = new std::vector<Engine*>;
  if (e != nullptr) kept->push_back(e);
  return e;
}

// A connection from `client` to a listener of `server` (non-blocking connect,
// then accepted): the listening, connecting and accepted descriptors, the
// last two non-blocking.
void connect_stepped(Engine& server, Engine& client, int& lfd, int& cfd, int& sfd) {
  SockAddr local;
  ASSERT_NO_FATAL_FAILURE(listen_on_loopback(server, lfd, local));
  ASSERT_EQ(client.open_socket(AF_INET, true, true, cfd), 0);
  const ino_t cino = inode_of(cfd);
  ASSERT_EQ(client.connect(cfd, cino, SockAddr::loopback(AF_INET, local.port()), true),
            EINPROGRESS);
  SockAddr l2, peer;
  ASSERT_TRUE(
      step_until(server, client, [&] { return recv_accept(lfd, true, sfd, l2, peer) == 0; }));
  ::fcntl(sfd, F_SETFL, ::fcntl(sfd, F_GETFL) | O_NONBLOCK);
}

TEST(WorkerStep, TwoSteppedWorkersConnectAndCarryBytesWithoutThreads) {
  const int threads_before = thread_count();
  Engine* server = stepped_worker(7);
  ASSERT_NE(server, nullptr);
  Engine* client = stepped_worker(7);
  ASSERT_NE(client, nullptr);

  int lfd = -1, cfd = -1, sfd = -1;
  ASSERT_NO_FATAL_FAILURE(connect_stepped(*server, *client, lfd, cfd, sfd));

  // Both ways, byte for byte.
  const std::string hello = "hello from the client", back = "and back from the server";
  ssize_t wrote = -1;
  ASSERT_TRUE(step_until(*server, *client, [&] {
    wrote = ::write(cfd, hello.data(), hello.size());  // writable once established
    return wrote > 0;
  }));
  ASSERT_EQ(wrote, static_cast<ssize_t>(hello.size()));
  // Reads `want` bytes from `fd`, stepping the workers while none are there.
  auto receive = [&](int fd, size_t want) {
    std::string got;
    step_until(*server, *client, [&] {
      char buf[64];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      return got.size() >= want;
    });
    return got;
  };
  EXPECT_EQ(receive(sfd, hello.size()), hello);
  ASSERT_EQ(::write(sfd, back.data(), back.size()), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(receive(cfd, back.size()), back);
  EXPECT_EQ(thread_count(), threads_before) << "the workers started no thread";
  ::close(cfd);
  ::close(sfd);
  ::close(lfd);
}

// A plain UDP socket on loopback that sends hand-made segments to a port.
class RawUdp {
 public:
  explicit RawUdp(uint16_t to_port) : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) {
    to_.sin_family = AF_INET;
    to_.sin_port = htons(to_port);
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sockaddr_in me{};
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&me), sizeof me);
    socklen_t len = sizeof me;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&me), &len);
    port_ = ntohs(me.sin_port);
  }
  ~RawUdp() { ::close(fd_); }
  RawUdp(const RawUdp&) = delete;
  RawUdp& operator=(const RawUdp&) = delete;

  // A segment with TCP source port `tcp_port` (0: the UDP port).
  void send(uint8_t flags, uint32_t seq, uint32_t ack = 0, uint16_t tcp_port = 0,
            std::span<const uint8_t> payload = {}) {
    SegmentHeader h;
    h.src_port = tcp_port != 0 ? tcp_port : port_;
    h.dst_port = ntohs(to_.sin_port);
    h.seq = SeqNum(seq);
    h.ack = SeqNum(ack);
    h.flags = flags;
    h.window = 65535;
    if (flags & flags::kSyn) h.options.mss = 1400;
    uint8_t buf[256];
    size_t n = emit_segment(h, payload, buf);
    ::sendto(fd_, buf, n, 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_);
  }
  // The next segment already queued (the stepped worker has sent it).
  std::optional<SegmentHeader> receive() {
    uint8_t buf[2048];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    ParseResult r = parse_segment(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    if (!r.ok()) return std::nullopt;
    return r.segment.header;
  }

 private:
  int fd_;
  sockaddr_in to_{};
  uint16_t port_ = 0;
};

// A stepped worker listening on loopback, and one turn of it.
struct SteppedListener {
  Engine* server = nullptr;
  int lfd = -1;
  SockAddr local;
  void step() { server->step(EventLoop::now()); }
};
void start_listener(SteppedListener& l, uint8_t key) {
  l.server = stepped_worker(key);
  ASSERT_NE(l.server, nullptr);
  ASSERT_NO_FATAL_FAILURE(listen_on_loopback(*l.server, l.lfd, l.local));
}

// An RST that closes a connection and a new SYN from the same address, read
// in one batch (a client that aborted and reused its port, behind a proxy
// that delayed the RST): the SYN opens a new connection; it used to reach the
// closed one and be refused with an RST (the soak's rare ECONNREFUSED).
TEST(WorkerStep, ResetThenSynInOneBatchOpensTheNewConnection) {
  SteppedListener l;
  ASSERT_NO_FATAL_FAILURE(start_listener(l, 3));
  RawUdp peer(l.local.port());
  peer.send(flags::kSyn, 1000);
  l.step();
  std::optional<SegmentHeader> synack = peer.receive();
  ASSERT_TRUE(synack);
  ASSERT_EQ(synack->flags, flags::kSyn | flags::kAck);
  const uint32_t server_next = synack->seq.raw() + 1;
  peer.send(flags::kAck, 1001, server_next);
  l.step();
  int sfd = -1;
  SockAddr l2, from;
  ASSERT_EQ(recv_accept(l.lfd, true, sfd, l2, from), 0);

  // Both before the worker's next turn: one batch.
  peer.send(flags::kRst, 1001);
  peer.send(flags::kSyn, 90000);
  l.step();
  std::optional<SegmentHeader> reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->flags, flags::kSyn | flags::kAck) << "the new SYN was refused";
  EXPECT_EQ(reply->ack, SeqNum(90001));
  ::close(sfd);
  ::close(l.lfd);
}

// A write from the caller's thread (Engine::send_inline) never passes what
// the program wrote through the pair before and the worker has not taken yet
// (a stepped worker takes nothing between two steps), nor an end-of-file
// waiting there; and it goes only onto an idle connection.
TEST(WorkerStep, AWriteFromTheCallersThreadWaitsBehindThePair) {
  Engine* server = stepped_worker(4);
  ASSERT_NE(server, nullptr);
  Engine* client = stepped_worker(4);
  ASSERT_NE(client, nullptr);
  int lfd = -1, cfd = -1, sfd = -1;
  ASSERT_NO_FATAL_FAILURE(connect_stepped(*server, *client, lfd, cfd, sfd));
  ASSERT_TRUE(step_until(*server, *client, [&] { return ::write(cfd, "A", 1) == 1; }));
  const ino_t cino = inode_of(cfd);
  auto send_inline = [&](const char* text) {
    iovec iov{const_cast<char*>(text), std::strlen(text)};
    return client->send_inline(cino, &iov, 1, iov.iov_len);
  };
  EXPECT_EQ(send_inline("B"), -1) << "'A' is still in the pair";
  std::string got;
  auto read_server = [&] {
    char buf[64];
    for (ssize_t n; (n = ::read(sfd, buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<size_t>(n));
  };
  auto idle = [&] {
    std::optional<tou_info> info = tcp_info(*client, cfd, cino);
    return info && info->flight_size == 0;
  };
  // 'A' taken and acknowledged: the connection is idle, the pair empty.
  ASSERT_TRUE(step_until(*server, *client, [&] {
    read_server();
    return got == "A" && idle();
  }));
  EXPECT_EQ(send_inline("C"), 1) << "idle, nothing in the pair";
  EXPECT_EQ(send_inline("D"), -1) << "'C' is not acknowledged yet";
  ASSERT_TRUE(step_until(*server, *client, [&] {
    read_server();
    return got == "AC" && idle();
  }));
  ASSERT_EQ(::shutdown(cfd, SHUT_WR), 0);
  EXPECT_EQ(send_inline("E"), -1) << "end-of-file waits in the pair";
  bool eof = false;
  ASSERT_TRUE(step_until(*server, *client, [&] {
    char c;
    eof = ::read(sfd, &c, 1) == 0;
    return eof;
  }));
  EXPECT_EQ(got, "AC");
  ::close(cfd);
  ::close(sfd);
  ::close(lfd);
}

// A blocking read from the program's thread (Engine::receive_inline), after
// a write that left from that thread: it watches the endpoint's UDP socket
// itself, serves the datagram that came, so the bytes are in its pair when it
// returns, with no turn of the worker; then the worker watches the socket
// again. With nothing coming it returns after its short wait, having served
// nothing; with no write before it, it does not wait.
TEST(WorkerStep, AReadFromTheCallersThreadServesTheDatagramItWaitedFor) {
  Engine* server = stepped_worker(5);
  ASSERT_NE(server, nullptr);
  Engine* client = stepped_worker(5);
  ASSERT_NE(client, nullptr);
  int lfd = -1, cfd = -1, sfd = -1;
  ASSERT_NO_FATAL_FAILURE(connect_stepped(*server, *client, lfd, cfd, sfd));
  const ino_t cino = inode_of(cfd), sino = inode_of(sfd);
  auto info_of = [](Engine& e, int fd, ino_t ino) {
    std::optional<tou_info> info = tcp_info(e, fd, ino);
    EXPECT_TRUE(info.has_value());
    return info.value_or(tou_info{});
  };
  std::string at_server, at_client;
  auto read_into = [](int fd, std::string& got) {
    char buf[64];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  };
  auto send_inline = [](Engine& e, ino_t ino, const char* text) {
    iovec iov{const_cast<char*>(text), std::strlen(text)};
    return e.send_inline(ino, &iov, 1, iov.iov_len);
  };
  // A write from the server's thread, taken by the client and acknowledged.
  auto server_writes = [&](const char* text, const std::string& client_has) {
    ASSERT_EQ(send_inline(*server, sino, text), 1);
    ASSERT_TRUE(step_until(*server, *client, [&] {
      read_into(cfd, at_client);
      return at_client == client_has && info_of(*server, sfd, sino).flight_size == 0;
    }));
  };
  // Open and idle both ways.
  ASSERT_TRUE(step_until(*server, *client, [&] { return ::write(cfd, "A", 1) == 1; }));
  ASSERT_TRUE(step_until(*server, *client, [&] {
    read_into(sfd, at_server);
    return at_server == "A" && info_of(*client, cfd, cino).flight_size == 0;
  }));
  EXPECT_FALSE(server->receive_inline(sino, sfd)) << "no write from this thread before";

  // Nothing on its way: a short wait, nothing served.
  ASSERT_NO_FATAL_FAILURE(server_writes("P", "P"));
  EXPECT_TRUE(server->receive_inline(sino, sfd));
  read_into(sfd, at_server);
  EXPECT_EQ(at_server, "A");
  EXPECT_EQ(info_of(*server, sfd, sino).inline_reads, 0u);

  // 'Q' leaves the client from this thread and waits in the server's socket.
  ASSERT_NO_FATAL_FAILURE(server_writes("S", "PS"));
  ASSERT_EQ(send_inline(*client, cino, "Q"), 1);
  EXPECT_TRUE(server->receive_inline(sino, sfd));
  read_into(sfd, at_server);  // no step of the server in between
  EXPECT_EQ(at_server, "AQ");
  EXPECT_EQ(info_of(*server, sfd, sino).inline_reads, 1u);

  // The worker watches the socket again: 'R' arrives through its turns.
  ASSERT_TRUE(step_until(*server, *client, [&] { return ::write(cfd, "R", 1) == 1; }));
  ASSERT_TRUE(step_until(*server, *client, [&] {
    read_into(sfd, at_server);
    return at_server == "AQR";
  }));
  EXPECT_EQ(info_of(*server, sfd, sino).inline_reads, 1u);
  ::close(cfd);
  ::close(sfd);
  ::close(lfd);
}

// One peer's UDP port carries two connections, apart by the TCP ports in
// their segments (ConnectionKey): the listener answers each SYN with its own ports,
// names each accepted connection by its TCP port, answers a segment with
// ports of no connection with RST, and a reset of one leaves the other.
TEST(WorkerStep, OneUdpPortCarriesTwoConnectionsApartByTcpPorts) {
  SteppedListener l;
  ASSERT_NO_FATAL_FAILURE(start_listener(l, 5));
  RawUdp peer(l.local.port());
  constexpr uint16_t kPortA = 40001, kPortB = 40002, kPortNone = 40003;
  peer.send(flags::kSyn, 1000, 0, kPortA);
  peer.send(flags::kSyn, 5000, 0, kPortB);
  l.step();
  std::optional<SegmentHeader> first = peer.receive(), second = peer.receive();
  ASSERT_TRUE(first && second);
  if (first->dst_port != kPortA) std::swap(first, second);
  EXPECT_EQ(first->dst_port, kPortA);
  EXPECT_EQ(second->dst_port, kPortB);
  EXPECT_EQ(first->ack, SeqNum(1001));
  EXPECT_EQ(second->ack, SeqNum(5001));
  EXPECT_NE(first->seq, second->seq) << "the ISN hashes the TCP ports too";
  peer.send(flags::kAck, 1001, first->seq.raw() + 1, kPortA);
  peer.send(flags::kAck, 5001, second->seq.raw() + 1, kPortB);
  l.step();
  int fd[2] = {-1, -1};
  uint16_t peer_port[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    SockAddr l2, from;
    ASSERT_EQ(recv_accept(l.lfd, true, fd[i], l2, from), 0) << i;
    EXPECT_EQ(l2.port(), l.local.port());
    peer_port[i] = from.port();  // the peer's TCP port, not its UDP port
    ::fcntl(fd[i], F_SETFL, ::fcntl(fd[i], F_GETFL) | O_NONBLOCK);
  }
  if (peer_port[0] != kPortA) {
    std::swap(fd[0], fd[1]);
    std::swap(peer_port[0], peer_port[1]);
  }
  EXPECT_EQ(peer_port[0], kPortA);
  EXPECT_EQ(peer_port[1], kPortB);

  // No connection has these ports: RST, to them (RFC 9293 3.10.7.1).
  peer.send(flags::kAck, 7000, 1, kPortNone);
  l.step();
  std::optional<SegmentHeader> rst = peer.receive();
  ASSERT_TRUE(rst);
  EXPECT_TRUE(rst->has(flags::kRst));
  EXPECT_EQ(rst->dst_port, kPortNone);

  // A resets; B's bytes still arrive, on B's descriptor only.
  peer.send(flags::kRst, 1001, 0, kPortA);
  const std::string data = "to B only";
  peer.send(flags::kAck | flags::kPsh, 5001, second->seq.raw() + 1, kPortB,
            {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
  std::string got;
  for (int i = 0; i < 200 && got.size() < data.size(); ++i) {
    l.step();
    char buf[64];
    ssize_t n = ::read(fd[1], buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, data);
  char buf[8];
  EXPECT_EQ(::read(fd[0], buf, sizeof buf), -1);
  EXPECT_EQ(errno, ECONNRESET) << std::strerror(errno);
  ::close(fd[0]);
  ::close(fd[1]);
  ::close(l.lfd);
}

}  // namespace
}  // namespace tou::engine
