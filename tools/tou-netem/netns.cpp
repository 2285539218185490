#include "netns.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "event_loop.hpp"
#include "pipe.hpp"
#include "tun.hpp"

namespace tou::netem {
namespace {

constexpr Duration kPoll = std::chrono::milliseconds(10);
constexpr Duration kStopGrace = std::chrono::seconds(2);  // SIGTERM, then SIGKILL
constexpr Duration kWaitTcpLimit = std::chrono::seconds(10);
constexpr size_t kMaxPacket = 65536;

int exit_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// Starts `sh -c command` inside namespace `ns`. A background command gets its
// own process group and /dev/null as stdin; the foreground one keeps ours.
pid_t spawn_in(const std::string& ns, const std::string& command, bool background) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (background) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, SIG_DFL);
  execlp("ip", "ip", "netns", "exec", ns.c_str(), "sh", "-c", command.c_str(),
         static_cast<char*>(nullptr));
  _exit(127);
}

// Moves packets between the two TUN devices through the pipes, on its own thread.
class TunLink {
 public:
  TunLink(const Options& options, int tun_a, int tun_b)
      : up_(options.up, options.seed, 0),  // a TUN packet is the whole IP packet
        down_(options.down, sim::splitmix64(options.seed), 0),
        tun_a_(tun_a),
        tun_b_(tun_b),
        buf_(kMaxPacket) {
    loop_.watch(tun_b_, [this] { read_packets(tun_b_, up_); });
    loop_.watch(tun_a_, [this] { read_packets(tun_a_, down_); });
    thread_ = std::thread([this] { run(); });
  }
  ~TunLink() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    loop_.stop();
    thread_.join();
  }
  const DirectionStats& up() const { return up_.stats(); }
  const DirectionStats& down() const { return down_.stats(); }
  const std::string& error() const { return error_; }

 private:
  void run() {
    try {
      loop_.run([this](Instant now) {
        write_due(now, up_, tun_a_);
        write_due(now, down_, tun_b_);
        const std::optional<Instant> a = up_.next_deadline(), b = down_.next_deadline();
        if (a && b) return std::optional(std::min(*a, *b));
        return a ? a : b;
      });
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }

  void read_packets(int fd, Pipe& pipe) {
    for (int i = 0; i < 256; ++i) {
      const ssize_t n = read(fd, buf_.data(), buf_.size());
      if (n <= 0) return;
      pipe.offer(monotonic_now(), Packet{std::vector<uint8_t>(buf_.begin(), buf_.begin() + n), 0});
    }
  }

  void write_due(Instant now, Pipe& pipe, int fd) {
    out_.clear();
    pipe.release(now, out_);
    for (const Packet& p : out_) {
      if (write(fd, p.bytes.data(), p.bytes.size()) < 0) ++pipe.stats().send_errors;
    }
  }

  Pipe up_;    // B -> A
  Pipe down_;  // A -> B
  int tun_a_;
  int tun_b_;
  EventLoop loop_;
  std::vector<uint8_t> buf_;
  std::vector<Packet> out_;
  std::string error_;
  std::thread thread_;  // last: starts once everything above exists
};

struct ChildA {
  pid_t pid = -1;
  bool reaped = false;
  void reap_if_done() {
    int status = 0;
    if (pid > 0 && !reaped && waitpid(pid, &status, WNOHANG) == pid) reaped = true;
  }
  // SIGTERM to its process group and everything left in its namespace, then
  // SIGKILL after a grace period.
  void stop(const NetworkNamespace& ns) {
    if (pid <= 0) return;
    kill(-pid, SIGTERM);
    ns.signal_all(SIGTERM);
    const Instant give_up = monotonic_now() + kStopGrace;
    while (!reaped && monotonic_now() < give_up) {
      reap_if_done();
      if (!reaped) usleep(static_cast<useconds_t>(to_us(kPoll)));
    }
    if (!reaped) {
      kill(-pid, SIGKILL);
      ns.signal_all(SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
      reaped = true;
    }
  }
};

struct ChildB {
  pid_t pid = -1;
  std::optional<int> status;  // wait status once it ended
  void kill_and_reap(const NetworkNamespace& ns) {
    kill(pid, SIGTERM);
    ns.signal_all(SIGTERM);
    const Instant give_up = monotonic_now() + kStopGrace;
    int s = 0;
    while (monotonic_now() < give_up) {
      if (waitpid(pid, &s, WNOHANG) == pid) {
        status = s;
        return;
      }
      usleep(static_cast<useconds_t>(to_us(kPoll)));
    }
    kill(pid, SIGKILL);
    ns.signal_all(SIGKILL);
    waitpid(pid, &s, 0);
    status = s;
  }
};

void configure(const NetworkNamespace& ns, const char* address, int mtu) {
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "-n", ns.name(), "link", "set", "dev", "lo", "up"},
      {"ip", "-n", ns.name(), "link", "set", "dev", kTunName, "mtu", std::to_string(mtu), "up"},
      {"ip", "-n", ns.name(), "addr", "add", fmt::format("{}/{}", address, kPrefixLength), "dev",
       kTunName},
  };
  for (const auto& step : steps) {
    if (run_program(step) != 0) {
      throw std::runtime_error(fmt::format("'{}' failed", fmt::join(step, " ")));
    }
  }
}

}  // namespace

int run_netns(const Options& options, const volatile std::sig_atomic_t& stop_signal,
              RunSummary& summary) {
  summary.mode = "netns";
  summary.seed = options.seed;
  // TOU_NETEM_NETNS_PREFIX names the namespaces (default "tou-netem-"), so that
  // several people on one machine can tell theirs apart.
  const char* prefix = std::getenv("TOU_NETEM_NETNS_PREFIX");
  const std::string base = fmt::format("{}{}", prefix != nullptr ? prefix : "tou-netem-", getpid());
  // Declared first, destroyed last: the namespaces outlive every fd and child.
  std::unique_ptr<NetworkNamespace> ns_a, ns_b;
  int tun_a = -1, tun_b = -1;
  std::unique_ptr<TunLink> link;
  int result = 1;
  try {
    ns_a = std::make_unique<NetworkNamespace>(base + "-a");
    ns_b = std::make_unique<NetworkNamespace>(base + "-b");
    tun_a = ns_a->open_tun(kTunName);
    tun_b = ns_b->open_tun(kTunName);
    configure(*ns_a, kAddressA, options.mtu);
    configure(*ns_b, kAddressB, options.mtu);
    setenv("TOU_NETEM_A", kAddressA, 1);
    setenv("TOU_NETEM_B", kAddressB, 1);
    setenv("TOU_NETEM_NS_A", ns_a->name().c_str(), 1);
    setenv("TOU_NETEM_NS_B", ns_b->name().c_str(), 1);
    if (!options.quiet) {
      fmt::print(stderr, "tou-netem: A = {} {}/{} on {}, B = {} {}/{} on {}, mtu {} (seed {})\n",
                 ns_a->name(), kAddressA, kPrefixLength, kTunName, ns_b->name(), kAddressB,
                 kPrefixLength, kTunName, options.mtu, options.seed);
    }
    const Instant start = monotonic_now();
    link = std::make_unique<TunLink>(options, tun_a, tun_b);

    if (stop_signal != 0) throw std::runtime_error("stopped by a signal during setup");
    ChildA a;
    if (!options.command_a.empty()) a.pid = spawn_in(ns_a->name(), options.command_a, true);
    if (options.wait_tcp_port > 0 && a.pid > 0) {
      const Instant give_up = monotonic_now() + kWaitTcpLimit;
      while (!tcp_listening(a.pid, options.wait_tcp_port) && monotonic_now() < give_up &&
             stop_signal == 0) {
        usleep(static_cast<useconds_t>(to_us(kPoll)));
      }
      if (!tcp_listening(a.pid, options.wait_tcp_port)) {
        fmt::print(stderr, "tou-netem: nothing listens on TCP port {} in A\n",
                   options.wait_tcp_port);
      }
    }

    ChildB b;
    b.pid = spawn_in(ns_b->name(), options.command_b, false);
    const std::optional<Instant> end =
        options.duration_s > 0
            ? std::optional(start + Duration{static_cast<int64_t>(options.duration_s * 1e6)})
            : std::nullopt;
    for (;;) {
      int s = 0;
      if (waitpid(b.pid, &s, WNOHANG) == b.pid) {
        b.status = s;
        result = exit_status(s);
        break;
      }
      if (stop_signal != 0) {
        b.kill_and_reap(*ns_b);
        result = 128 + stop_signal;
        break;
      }
      if (end && monotonic_now() >= *end) {
        fmt::print(stderr, "tou-netem: --duration {} s ran out; stopping B\n", options.duration_s);
        b.kill_and_reap(*ns_b);
        result = 124;
        break;
      }
      a.reap_if_done();
      usleep(static_cast<useconds_t>(to_us(kPoll)));
    }
    a.stop(*ns_a);
    ns_b->signal_all(SIGKILL);  // anything B left behind
    link->stop();
    if (!link->error().empty()) fmt::print(stderr, "tou-netem: link: {}\n", link->error());
    summary.elapsed_s = static_cast<double>(to_us(monotonic_now() - start)) / 1e6;
    summary.up = link->up();
    summary.down = link->down();
  } catch (const std::exception& e) {
    fmt::print(stderr, "tou-netem: {}\n", e.what());
    result = stop_signal != 0 ? 128 + stop_signal : 1;
  }
  link.reset();
  for (int fd : {tun_a, tun_b}) {
    if (fd >= 0) close(fd);
  }
  ns_b.reset();
  ns_a.reset();
  return result;
}

}  // namespace tou::netem
