// An engine worker driven without its thread: two stepped workers on
// loopback, one listening and one connecting, carry bytes both ways, and the
// process has no more threads than before; and a stepped listener fed
// hand-made segments, so that several land in one receive batch.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "engine/engine.hpp"
#include "engine/event_loop.hpp"
#include "engine/interface.hpp"
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

TEST(WorkerStep, TwoSteppedWorkersConnectAndCarryBytesWithoutThreads) {
  const int threads_before = thread_count();
  EngineKeys keys;
  keys.isn.fill(7);
  keys.cookie.fill(9);
  int err = 0;
  Engine* server = Engine::create_stepped(keys, err);
  ASSERT_NE(server, nullptr) << std::strerror(err);
  Engine* client = Engine::create_stepped(keys, err);
  ASSERT_NE(client, nullptr) << std::strerror(err);
  // Engines live as long as the process, as the workers do (nothing deletes
  // one): keep these two reachable, so LeakSanitizer does not call them leaks.
  static Engine* const kept[] = {server, client};
  (void)kept;

  int lfd = -1;
  SockAddr local;
  ASSERT_NO_FATAL_FAILURE(listen_on_loopback(*server, lfd, local));

  int cfd = -1;
  ASSERT_EQ(client->open_socket(AF_INET, true, true, cfd), 0);
  const ino_t cino = inode_of(cfd);
  ASSERT_EQ(client->connect(cfd, cino, SockAddr::loopback(AF_INET, local.port()), true),
            EINPROGRESS);

  int sfd = -1;
  SockAddr l2, peer;
  ASSERT_TRUE(
      step_until(*server, *client, [&] { return recv_accept(lfd, true, sfd, l2, peer) == 0; }));
  ::fcntl(sfd, F_SETFL, ::fcntl(sfd, F_GETFL) | O_NONBLOCK);

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

  void send(uint8_t flags, uint32_t seq, uint32_t ack = 0) {
    SegmentHeader h;
    h.src_port = port_;
    h.dst_port = ntohs(to_.sin_port);
    h.seq = SeqNum(seq);
    h.ack = SeqNum(ack);
    h.flags = flags;
    h.window = 65535;
    if (flags & flags::kSyn) h.options.mss = 1400;
    uint8_t buf[128];
    size_t n = emit_segment(h, {}, buf);
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

// An RST that closes a connection and a new SYN from the same address, read
// in one batch (a client that aborted and reused its port, behind a proxy
// that delayed the RST): the SYN opens a new connection; it used to reach the
// closed one and be refused with an RST (the soak's rare ECONNREFUSED).
TEST(WorkerStep, ResetThenSynInOneBatchOpensTheNewConnection) {
  EngineKeys keys;
  keys.isn.fill(3);
  keys.cookie.fill(5);
  int err = 0;
  Engine* server = Engine::create_stepped(keys, err);
  ASSERT_NE(server, nullptr) << std::strerror(err);
  static Engine* const kept = server;  // as above: engines live as long as the process
  (void)kept;
  int lfd = -1;
  SockAddr local;
  ASSERT_NO_FATAL_FAILURE(listen_on_loopback(*server, lfd, local));
  auto step = [&] { server->step(EventLoop::now()); };

  RawUdp peer(local.port());
  peer.send(flags::kSyn, 1000);
  step();
  std::optional<SegmentHeader> synack = peer.receive();
  ASSERT_TRUE(synack);
  ASSERT_EQ(synack->flags, flags::kSyn | flags::kAck);
  const uint32_t server_next = synack->seq.raw() + 1;
  peer.send(flags::kAck, 1001, server_next);
  step();
  int sfd = -1;
  SockAddr l2, from;
  ASSERT_EQ(recv_accept(lfd, true, sfd, l2, from), 0);

  // Both before the worker's next turn: one batch.
  peer.send(flags::kRst, 1001);
  peer.send(flags::kSyn, 90000);
  step();
  std::optional<SegmentHeader> reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->flags, flags::kSyn | flags::kAck) << "the new SYN was refused";
  EXPECT_EQ(reply->ack, SeqNum(90001));
  ::close(sfd);
  ::close(lfd);
}

}  // namespace
}  // namespace tou::engine
