// The server: one listener; each accepted connection is served by a thread
// of its own, taken from the idle ones when there are (HandlerPool). A control
// connection opens a session; the session's test connections are served by
// workload and their results kept for the client, who asks for them over the
// control connection once its streams have ended.
#include "server.hpp"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/address.hpp"
#include "report.hpp"
#include "workloads.hpp"

namespace tou::perf {

namespace {

constexpr uint64_t kMaxDurationMs = 86'400'000;

struct Session {
  Header header;
  std::mutex mu;
  std::condition_variable changed;
  uint32_t active = 0;    // test connections being served
  uint32_t finished = 0;  // test connections served to their end
  std::vector<StreamResult> results;
  // What each bulk stream has received so far, and since when: on a slow link
  // the sender's queue may still be draining when the client asks for the
  // results, and then (as iperf3 does) the receiver reports what it has.
  std::vector<std::unique_ptr<StreamProgress>> received;
  std::vector<Clock::time_point> started;
  std::vector<bool> ended;

  // The results as of now: finished streams' own, and the running ones' counts.
  std::vector<StreamResult> results_now() const {
    std::vector<StreamResult> now = results;
    for (size_t i = 0; i < now.size() && i < ended.size(); ++i) {
      if (ended[i] || started[i] == Clock::time_point{}) continue;
      now[i].bytes = received[i]->bytes.load();
      now[i].duration_us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started[i]).count());
    }
    return now;
  }
};

// Threads that serve accepted connections. A connection goes to an idle
// thread when there is one, else to a new thread, which waits for more once
// it is done (and ends after kIdleExit without any). A stream of short
// connections (--connect-rate, --crr) then costs no thread creation each:
// with one per connection, the kernel's TCP connected faster than the loop
// could start threads, its accept queue overflowed and every dropped SYN cost
// the client a 1 s retransmission. Long connections still have a thread each.
class HandlerPool {
 public:
  using Serve = std::function<void(int, Address)>;
  explicit HandlerPool(Serve serve) : state_(std::make_shared<State>()) {
    state_->serve = std::move(serve);
  }

  void submit(int fd, const Address& peer) {
    std::lock_guard lock(state_->mu);
    state_->queue.emplace_back(fd, peer);
    if (state_->queue.size() > state_->idle) {
      std::thread([s = state_] { work(*s); }).detach();
    } else {
      state_->ready.notify_one();
    }
  }

 private:
  static constexpr std::chrono::seconds kIdleExit{10};
  // Shared with the threads, which may outlive the server at exit.
  struct State {
    Serve serve;
    std::mutex mu;
    std::condition_variable ready;
    std::deque<std::pair<int, Address>> queue;
    size_t idle = 0;  // threads waiting for a connection
  };

  static void work(State& s) {
    std::unique_lock lock(s.mu);
    for (;;) {
      ++s.idle;
      const bool got = s.ready.wait_for(lock, kIdleExit, [&] { return !s.queue.empty(); });
      --s.idle;
      if (!got) return;
      auto [fd, peer] = s.queue.front();
      s.queue.pop_front();
      lock.unlock();
      s.serve(fd, peer);
      lock.lock();
    }
  }

  std::shared_ptr<State> state_;
};

class Server {
 public:
  explicit Server(const Options& o) : options_(o), ops_(o.ops()) {}

  int run();

 private:
  void handle(int fd, Address peer);
  void serve_control(int fd, const Header& h, const Address& peer);
  void serve_test(int fd, const Header& h);
  std::shared_ptr<Session> find(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  const Options& options_;
  const tools::SocketOps& ops_;
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  std::atomic<bool> stop_{false};
  std::mutex print_mu_;
  IdleHolder idle_{ops_};
  HandlerPool handlers_{[this](int fd, Address peer) { handle(fd, peer); }};
};

int Server::run() {
  const Address local =
      Address::any(options_.family == AF_INET6 ? AF_INET6 : AF_INET, options_.port);
  const int ls = ops_.socket(local.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) {
    fmt::print(stderr, "tou-perf: socket: {}\n", std::strerror(errno));
    return 1;
  }
  tools::set_int_option(ops_, ls, SOL_SOCKET, SO_REUSEADDR, 1);
  if (!options_.cc.empty()) tools::set_congestion_control(ops_, ls, options_.cc);
  if (ops_.bind(ls, local.data(), local.size()) != 0 || ops_.listen(ls, 1024) != 0) {
    fmt::print(stderr, "tou-perf: bind {}: {}\n", tools::describe(local), std::strerror(errno));
    ops_.close(ls);
    return 1;
  }
  fmt::print("Server listening on {} port {} ({})\n", tools::host_of(local), local.port(),
             ops_.name);
  std::fflush(stdout);
  while (!stop_.load()) {
    // Poll so that -1 can end the loop between accepts.
    pollfd p{.fd = ls, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    Address peer = Address::any(local.family());
    socklen_t len = sizeof(sockaddr_in6);
    const int fd = ops_.accept4(ls, peer.data(), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    peer = Address(peer.data(), len);
    handlers_.submit(fd, peer);
  }
  ops_.close(ls);
  return 0;
}

void Server::handle(int fd, Address peer) {
  tools::set_io_timeout(ops_, fd, kIoTimeoutSeconds);
  std::array<uint8_t, kHeaderSize> bytes;
  std::optional<Header> h;
  const int err = read_all(fd, bytes.data(), bytes.size());
  if (err == 0) h = decode_header(bytes);
  if (err == -1) {
    // Closed before a header: a --connect-rate connection (or a port probe).
  } else if (!h) {
    std::lock_guard lock(print_mu_);
    fmt::print(stderr, "tou-perf: {}: not a tou-perf client, closing\n", tools::describe(peer));
  } else {
    h->duration_ms = std::min(h->duration_ms, kMaxDurationMs);
    if (h->kind == Kind::kControl) {
      serve_control(fd, *h, peer);
    } else if (h->mode == Mode::kIdle) {
      idle_.hold(fd);
      return;
    } else {
      serve_test(fd, *h);
    }
  }
  ops_.close(fd);
}

void Server::serve_control(int fd, const Header& h, const Address& peer) {
  auto session = std::make_shared<Session>();
  session->header = h;
  const size_t streams = per_connection_mode(h.mode) ? 0 : h.streams;
  session->results.resize(streams);
  session->started.resize(streams);
  session->ended.resize(streams);
  for (size_t i = 0; i < streams; ++i) {
    session->received.push_back(std::make_unique<StreamProgress>());
  }
  {
    std::lock_guard lock(mu_);
    sessions_[h.session] = session;
  }
  {
    std::lock_guard lock(print_mu_);
    fmt::print("Accepted connection from {}, port {}: {}, {} stream(s){}\n", tools::host_of(peer),
               peer.port(), mode_name(h.mode), h.streams, h.reverse() ? ", reverse" : "");
    std::fflush(stdout);
  }
  const uint8_t ok = 0;
  uint8_t done = 0;
  // The control connection idles while the streams run: wait as long as they may.
  tools::set_io_timeout(ops_, fd, static_cast<double>(h.duration_ms) / 1000 + 300);
  if (write_all(fd, &ok, 1) == 0 && read_all(fd, &done, 1) == 0) {
    std::vector<StreamResult> results;
    {
      std::unique_lock lock(session->mu);
      session->changed.wait_for(lock, std::chrono::seconds(5), [&] {
        return session->active == 0 &&
               (per_connection_mode(h.mode) || session->finished >= session->results.size());
      });
      results = session->results_now();
    }
    const std::vector<uint8_t> reply = encode(results);
    write_all(fd, reply.data(), reply.size());
    print_server_summary(h, results, print_mu_);
    uint8_t sink[64];
    tools::set_io_timeout(ops_, fd, kIoTimeoutSeconds);
    while (::read(fd, sink, sizeof sink) > 0) {
    }
  }
  {
    std::lock_guard lock(mu_);
    sessions_.erase(h.session);
  }
  if (options_.one_off) stop_.store(true);
}

void Server::serve_test(int fd, const Header& h) {
  std::shared_ptr<Session> session = find(h.session);
  if (!session) return;  // a run we do not know (or one already over)
  StreamProgress unused;
  StreamProgress* progress = &unused;
  {
    std::lock_guard lock(session->mu);
    ++session->active;
    if (h.stream < session->results.size()) {
      session->started[h.stream] = Clock::now();
      progress = session->received[h.stream].get();
    }
  }
  const StreamResult r =
      h.mode == Mode::kBulk ? serve_bulk(ops_, fd, h, *progress) : serve_rr(ops_, fd, h);
  std::lock_guard lock(session->mu);
  if (h.stream < session->results.size()) {
    session->results[h.stream] = r;
    session->ended[h.stream] = true;
  }
  ++session->finished;
  --session->active;
  session->changed.notify_all();
}

}  // namespace

int run_server(const Options& options) {
  Server server(options);
  return server.run();
}

}  // namespace tou::perf
