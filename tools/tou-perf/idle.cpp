// Idle connections (--idle N): the client opens N connections that send their
// header and then nothing, holds them for the time budget and reports what
// they cost its own process (descriptors, resident memory); the server holds
// its side of each until the client closes it.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "common/connect.hpp"
#include "workloads.hpp"

namespace tou::perf {

namespace {

constexpr auto kHoldPoll = std::chrono::milliseconds(50);
constexpr int kWatchPollMs = 200;  // the server's watcher picks up new connections this often

// Open descriptors of this process (entries of /proc/self/fd, less the one
// that reads the directory); -1 when /proc is not there.
int64_t count_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;
}

// This process's resident set (VmRSS) in KiB; -1 when /proc is not there.
int64_t rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

}  // namespace

void run_idle_client(const StreamContext& ctx, StreamProgress& progress, StreamOutcome& outcome) {
  const Options& o = ctx.options;
  const tools::SocketOps& ops = o.ops();
  IdleSummary s;
  s.wanted = o.idle;
  // One descriptor set aside, so that /proc can still be read once the
  // connections have taken all the others (EMFILE).
  const int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  s.fds_before = count_fds();
  s.rss_kib_before = rss_kib();
  std::vector<int> fds;
  fds.reserve(o.idle);
  const auto header = encode(ctx.header);
  const auto start = Clock::now();
  for (uint32_t i = 0; i < o.idle; ++i) {
    int err = 0;
    const int fd = tools::open_connection(ops, ctx.address, kIoTimeoutSeconds, nullptr, err);
    if (fd >= 0) {
      tools::set_io_timeout(ops, fd, kIoTimeoutSeconds);
      err = write_all(fd, header.data(), header.size());
      if (err != 0) ops.close(fd);
    }
    if (fd < 0 || err != 0) {
      // Running out (EMFILE, ENFILE, ...) is the measurement, not an error of the run.
      s.stopped_by = fmt::format("connection {}: {}", i + 1,
                                 err == -1 ? "closed by the server" : std::strerror(err));
      break;
    }
    fds.push_back(fd);
    progress.transactions.fetch_add(1, std::memory_order_relaxed);
  }
  s.open_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.held = fds.size();
  if (reserve >= 0) ::close(reserve);
  s.fds_after = count_fds() + (reserve >= 0 ? 1 : 0);
  s.rss_kib_after = rss_kib();
  const auto deadline = Clock::now() + std::chrono::milliseconds(ctx.header.duration_ms);
  while (Clock::now() < deadline) std::this_thread::sleep_for(kHoldPoll);
  for (int fd : fds) ops.close(fd);
  outcome.transactions = s.held;
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  outcome.idle = s;
}

IdleHolder::~IdleHolder() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void IdleHolder::hold(int fd) {
  std::lock_guard lock(mu_);
  incoming_.push_back(fd);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void IdleHolder::run() {
  std::vector<pollfd> held;
  while (!stop_.load()) {
    {
      std::lock_guard lock(mu_);
      for (int fd : incoming_) held.push_back({.fd = fd, .events = POLLIN, .revents = 0});
      incoming_.clear();
    }
    if (::poll(held.data(), held.size(), kWatchPollMs) <= 0) continue;
    // A readable idle connection is one its client closed (or reset): close ours.
    std::erase_if(held, [this](const pollfd& p) {
      if (p.revents == 0) return false;
      uint8_t sink[256];
      if ((p.revents & POLLIN) != 0 && ::read(p.fd, sink, sizeof sink) > 0) return false;
      ops_.close(p.fd);
      return true;
    });
  }
  for (const pollfd& p : held) ops_.close(p.fd);
  std::lock_guard lock(mu_);
  for (int fd : incoming_) ops_.close(fd);
  incoming_.clear();
}

}  // namespace tou::perf
