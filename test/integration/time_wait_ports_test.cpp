// TIME-WAIT on a shared client port (engine/client_ports.cpp): a connection
// in TIME-WAIT keeps its (UDP port, TCP port) pair with its peer, and a new
// connection to that peer never takes it: it gets the UDP port of one of the
// worker's ports with a TCP port of its own. The peer is a plain UDP socket
// that speaks hand-made segments, so that it sees both ports of every SYN.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "integration/util.hpp"
#include "tou/tou.h"
#include "wire/segment.hpp"

namespace tou_test {
namespace {

constexpr uint32_t kIss = 1000;  // the raw server's ISN

// A UDP socket on 127.0.0.1 that answers tou clients by hand.
class RawServer {
 public:
  RawServer() : sock_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    Addr me = loopback(AF_INET, 0);
    EXPECT_EQ(::bind(sock_.get(), me.get(), me.len), 0);
    me.len = sizeof me.storage;
    ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&me.storage), &me.len);
    port_ = me.port();
  }
  uint16_t port() const { return port_; }

  struct In {
    tou::SegmentHeader h;
    Addr from;
    std::pair<uint16_t, uint16_t> ports() const { return {from.port(), h.src_port}; }  // UDP, TCP
  };
  std::optional<In> receive(int ms) {
    pollfd p{sock_.get(), POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    std::array<uint8_t, 70000> buf;
    In in;
    in.from.len = sizeof in.from.storage;
    ssize_t n = ::recvfrom(sock_.get(), buf.data(), buf.size(), 0,
                           reinterpret_cast<sockaddr*>(&in.from.storage), &in.from.len);
    if (n <= 0) return std::nullopt;
    tou::ParseResult r = tou::parse_segment({buf.data(), static_cast<size_t>(n)});
    if (!r.ok()) return std::nullopt;
    in.h = r.segment.header;
    return in;
  }
  // A segment to the client connection `to` (its UDP address, its TCP port).
  void send(const Addr& to, uint16_t to_port, uint16_t from_port, uint8_t flags, uint32_t seq,
            uint32_t ack) {
    tou::SegmentHeader h;
    h.src_port = from_port;
    h.dst_port = to_port;
    h.seq = tou::SeqNum(seq);
    h.ack = tou::SeqNum(ack);
    h.flags = flags;
    h.window = 65535;
    if (flags & tou::flags::kSyn) h.options.mss = 1400;
    std::array<uint8_t, 128> buf;
    size_t n = tou::emit_segment(h, {}, buf);
    ::sendto(sock_.get(), buf.data(), n, 0, to.get(), to.len);
  }
  void reply(const In& in, uint8_t flags, uint32_t seq, uint32_t ack) {
    send(in.from, in.h.src_port, in.h.dst_port, flags, seq, ack);
  }

 private:
  Fd sock_;
  uint16_t port_ = 0;
};

// The next segment that `pick` accepts, within `ms` (at most 256 looked at).
template <typename Pick>
std::optional<RawServer::In> next_segment(RawServer& srv, int ms, Pick pick) {
  for (int i = 0; i < 256; ++i) {
    std::optional<RawServer::In> in = srv.receive(ms);
    if (!in || pick(*in)) return in;
  }
  return std::nullopt;
}

bool is_syn(const RawServer::In& in) {
  return in.h.has(tou::flags::kSyn) && !in.h.has(tou::flags::kAck);
}

// A non-blocking connect to the raw server; its SYN, as the server saw it.
std::optional<RawServer::In> start_connect(RawServer& srv, Fd& out) {
  out = Fd(tou_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  Addr to = loopback(AF_INET, srv.port());
  if (!out || tou_connect(out.get(), to.get(), to.len) != -1 || errno != EINPROGRESS) {
    return std::nullopt;
  }
  return next_segment(srv, 5000, is_syn);
}

TEST(TimeWaitPorts, ANewConnectionNeverTakesThePortsOfATimeWaitWithItsPeer) {
  if (tou_set_workers(1) != 0 && tou_workers() != 1) GTEST_SKIP() << "more than one worker";
  constexpr int kConnections = 6;  // more than the worker's 4 spread ports
  RawServer srv;
  std::set<std::pair<uint16_t, uint16_t>> first;  // (UDP port, TCP port) of each
  std::vector<Fd> clients;
  for (int i = 0; i < kConnections; ++i) {
    Fd c;
    std::optional<RawServer::In> syn = start_connect(srv, c);
    ASSERT_TRUE(syn) << i << ": " << strerror(errno);
    EXPECT_TRUE(first.insert(syn->ports()).second) << i;
    srv.reply(*syn, tou::flags::kSyn | tou::flags::kAck, kIss, syn->h.seq.raw() + 1);
    pollfd p{c.get(), POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << i;
    EXPECT_EQ(info_of(c.get()).state, TOU_STATE_ESTABLISHED) << i;
    clients.push_back(std::move(c));
  }
  // The clients close first: each FIN is answered with FIN+ACK, and the
  // client's last ACK leaves it in TIME-WAIT (2 s).
  clients.clear();
  std::set<std::pair<uint16_t, uint16_t>> closed;
  while (closed.size() < first.size()) {
    std::optional<RawServer::In> fin =
        next_segment(srv, 5000, [](const RawServer::In& in) { return in.h.has(tou::flags::kFin); });
    ASSERT_TRUE(fin) << closed.size() << " FINs of " << first.size();
    if (!closed.insert(fin->ports()).second) continue;  // a retransmission
    srv.reply(*fin, tou::flags::kFin | tou::flags::kAck, kIss + 1, fin->h.seq.raw() + 1);
  }
  // New connections to the same peer, while those pairs are in TIME-WAIT.
  std::vector<std::pair<uint16_t, uint16_t>> second;
  std::vector<Fd> more;
  for (int i = 0; i < kConnections; ++i) {
    Fd c;
    std::optional<RawServer::In> syn = start_connect(srv, c);
    ASSERT_TRUE(syn) << i;
    second.push_back(syn->ports());
    more.push_back(std::move(c));
  }
  // Which pairs were still in TIME-WAIT after that: a retransmitted FIN is
  // acknowledged again at once (RFC 9293 3.10.7.4).
  for (const auto& [udp, tcp] : first) {
    srv.send(loopback(AF_INET, udp), tcp, srv.port(), tou::flags::kFin | tou::flags::kAck, kIss + 1,
             0);
  }
  std::set<std::pair<uint16_t, uint16_t>> in_time_wait;
  for (size_t k = 0; k < 4 * first.size(); ++k) {
    std::optional<RawServer::In> ack = next_segment(srv, 500, [&](const RawServer::In& in) {
      return !in.h.has(tou::flags::kSyn) && first.contains(in.ports());
    });
    if (!ack) break;
    in_time_wait.insert(ack->ports());
  }
  if (in_time_wait.empty()) GTEST_SKIP() << "every TIME-WAIT ended before the check (loaded)";
  std::set<uint16_t> first_udp;
  for (const auto& p : first) first_udp.insert(p.first);
  for (size_t i = 0; i < second.size(); ++i) {
    EXPECT_FALSE(in_time_wait.contains(second[i]))
        << i << ": UDP " << second[i].first << " TCP " << second[i].second;
    // The TIME-WAITs hold the worker's ports open: the new connections share them.
    if (in_time_wait.size() == first.size()) {
      EXPECT_TRUE(first_udp.contains(second[i].first)) << i;
    }
    for (size_t j = 0; j < i; ++j) EXPECT_NE(second[i], second[j]) << i << " " << j;
  }
}

}  // namespace
}  // namespace tou_test
