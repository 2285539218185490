// A listening descriptor polls as a kernel listening socket: readable when a
// connection is ready to accept, never writable. The accept queue is counted
// without any message from accept() back to the engine.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"

namespace tou_test {
namespace {

using std::chrono::milliseconds;

uint32_t accept_queue(int ls) {
  tou_listener_info info{};
  socklen_t len = sizeof info;
  EXPECT_EQ(tou_getsockopt(ls, SOL_TOU, TOU_LISTENER_INFO, &info, &len), 0);
  return info.accept_queue;
}

TEST(ListenerPoll, NeverWritableReadableWhenReady) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(ls);
  pollfd p{ls.get(), POLLIN | POLLOUT, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "revents " << p.revents;
  Fd c = connect_to(AF_INET, port);
  ASSERT_TRUE(c);
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(p.revents, POLLIN) << "readable, not writable";
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "revents " << p.revents;
}

TEST(ListenerPoll, AcceptQueueCountsWhatAcceptHasNotTaken) {
  uint16_t port = 0;
  Fd ls = listen_on(AF_INET, 8, &port);
  ASSERT_TRUE(ls);
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_to(AF_INET, port));
    ASSERT_TRUE(clients.back());
  }
  ASSERT_TRUE(wait_until([&] { return accept_queue(ls.get()) == 3; }, milliseconds(30000)))
      << accept_queue(ls.get());
  Fd s(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  EXPECT_EQ(accept_queue(ls.get()), 2u);
  Fd s2(tou_accept(ls.get(), nullptr, nullptr));
  Fd s3(tou_accept(ls.get(), nullptr, nullptr));
  ASSERT_TRUE(s2 && s3);
  EXPECT_EQ(accept_queue(ls.get()), 0u);
}

}  // namespace
}  // namespace tou_test
