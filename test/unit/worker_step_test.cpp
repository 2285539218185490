// An engine worker driven without its thread: two stepped workers on
// loopback, one listening and one connecting, carry bytes both ways, and the
// process has no more threads than before.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "engine/engine.hpp"
#include "engine/event_loop.hpp"
#include "engine/interface.hpp"

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
  ASSERT_EQ(server->open_socket(AF_INET, true, true, lfd), 0);
  const ino_t lino = inode_of(lfd);
  ASSERT_EQ(server->bind(lino, SockAddr::loopback(AF_INET, 0)), 0);
  ASSERT_EQ(server->listen(lfd, lino, 4), 0);
  SockAddr local;
  ASSERT_EQ(server->local_address(lino, local), 0);
  ASSERT_NE(local.port(), 0);

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

}  // namespace
}  // namespace tou::engine
