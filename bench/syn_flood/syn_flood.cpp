// tou-synflood: measures a tou listener under a SYN flood on loopback, against
// the targets of issue 12 (RFC 4987):
//   - the SYN rate the flood reaches at the listener (target >= 100,000/s),
//   - legitimate connects that succeed (connect + one echoed byte) within 1 s
//     each during the flood (target >= 90%),
//   - an established bulk transfer's rate during the flood over its rate
//     before (target >= 0.5),
//   - the listener process's RSS growth (target <= 16 MiB),
//   - the time from the flood's end to the next successful connect.
// A forked server process owns the listener (its own engine); this process
// runs the bulk sender, the legitimate clients and the flood: plain UDP
// sockets on 127.0.0.2-127.0.0.<n> sending SYNs with sendmmsg, each SYN with
// a random ISN (and no state anywhere on the flood's side).
//
//   build/bin/tou-synflood [--seconds 5] [--rate 0] [--sources 1024]
//                          [--backlog 128] [--threads 2] [--no-bulk] [--json]
// --rate 0 floods as fast as the threads can; --json prints one JSON object.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tou/tou.h"
#include "wire/segment.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  double seconds = 5;
  double baseline_seconds = 2;
  double rate = 0;  // SYN/s, 0 = as fast as possible
  int sources = 1024;
  int backlog = 128;
  int threads = 2;
  int legit = 20;
  bool bulk = true;  // --no-bulk: the engine's CPU per SYN without the transfer's work
  bool json = false;
};

// Shared with the server process (MAP_SHARED).
struct Shared {
  std::atomic<uint16_t> port{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bulk_bytes{0};
  std::atomic<uint64_t> info_version{0};
  tou_listener_info info{};
};

double now_s() {
  return Seconds(Clock::now().time_since_epoch()).count();
}

long rss_kib(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

// Datagrams the kernel dropped at the listener's UDP socket (its receive queue
// full): the "drops" column of /proc/net/udp for local port `port`, summed
// over the sockets bound to it (one per worker in a SO_REUSEPORT group).
uint64_t udp_drops(uint16_t port) {
  FILE* f = std::fopen("/proc/net/udp", "r");
  if (f == nullptr) return 0;
  char line[512];
  uint64_t drops = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned local_port = 0;
    unsigned long long d = 0;
    // sl local_address:port rem_address:port st tx:rx tr:when retrnsmt uid timeout inode ref
    // pointer drops
    if (std::sscanf(line, " %*d: %*x:%x %*x:%*x %*x %*x:%*x %*x:%*x %*x %*u %*u %*u %*u %*x %llu",
                    &local_port, &d) == 2 &&
        local_port == port) {
      drops += d;
    }
  }
  std::fclose(f);
  return drops;
}

// CPU seconds (user + system) of the server's engine threads ("tou-engine",
// one a worker), summed.
double engine_cpu_s(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task/";
  double total = -1;
  for (int tid = pid; tid < pid + 64; ++tid) {
    FILE* f = std::fopen((dir + std::to_string(tid) + "/stat").c_str(), "r");
    if (f == nullptr) continue;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* close = std::strrchr(buf, ')');
    if (std::strstr(buf, "(tou-engine)") == nullptr || close == nullptr) continue;
    unsigned long utime = 0, stime = 0;
    // After ") ": state, then fields 4..13, then utime (14) and stime (15).
    if (std::sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                    &stime) == 2) {
      total = std::max(total, 0.0) +
              static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return total;
}

sockaddr_in addr4(uint32_t host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(host);
  a.sin_port = htons(port);
  return a;
}

void set_timeout(int fd, double s) {
  timeval tv{static_cast<time_t>(s), static_cast<suseconds_t>((s - static_cast<int>(s)) * 1e6)};
  tou_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  tou_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// --- The server process ---

void serve_connection(int fd, Shared* sh) {
  set_timeout(fd, 30);
  char kind = 0;
  if (::read(fd, &kind, 1) != 1) {
    ::close(fd);
    return;
  }
  if (kind == 'E') {
    char b = 'e';
    (void)!::write(fd, &b, 1);
  }
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    if (kind == 'B') sh->bulk_bytes += static_cast<uint64_t>(n);
  }
  ::close(fd);
}

[[noreturn]] void run_server(Shared* sh, int backlog) {
  int ls = tou_socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = addr4(INADDR_LOOPBACK, 0);
  if (ls < 0 || tou_bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      tou_listen(ls, backlog) != 0) {
    std::perror("tou-synflood server");
    std::_Exit(1);
  }
  socklen_t len = sizeof a;
  tou_getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread([sh, ls] {
    while (!sh->stop) {
      tou_listener_info i{};
      socklen_t n = sizeof i;
      tou_getsockopt(ls, SOL_TOU, TOU_LISTENER_INFO, &i, &n);
      sh->info = i;
      ++sh->info_version;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }).detach();
  sh->port = ntohs(a.sin_port);
  while (!sh->stop) {
    int c = tou_accept(ls, nullptr, nullptr);
    if (c < 0) continue;
    std::thread(serve_connection, c, sh).detach();
  }
  std::_Exit(0);
}

// --- The driver ---

int connect_to(uint16_t port, double timeout_s) {
  int fd = tou_socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  set_timeout(fd, timeout_s);
  sockaddr_in a = addr4(INADDR_LOOPBACK, port);
  if (tou_connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Connect, send 'E', read the echo: the seconds it took, or -1.
double legit_connect(uint16_t port, double timeout_s) {
  double t0 = now_s();
  int fd = connect_to(port, timeout_s);
  if (fd < 0) return -1;
  char b = 'E';
  bool ok = ::write(fd, &b, 1) == 1 && ::read(fd, &b, 1) == 1;
  double t = now_s() - t0;
  ::close(fd);
  return ok ? t : -1;
}

// One flood thread: its share of the sources, SYNs in sendmmsg batches.
uint64_t flood(const Options& o, uint16_t port, int index, const std::atomic<bool>& stop) {
  constexpr int kBatch = 32;
  std::vector<int> socks;
  for (int i = index; i < o.sources; i += o.threads) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in me = addr4(0x7f000002u + static_cast<uint32_t>(i / 256), 0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
      if (fd >= 0) ::close(fd);
      continue;
    }
    int small = 4096;  // the SYN-ACKs that come back are not read
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    socks.push_back(fd);
  }
  sockaddr_in to = addr4(INADDR_LOOPBACK, port);
  std::mt19937 rng(static_cast<uint32_t>(index) * 7919u + 1);
  std::array<std::array<uint8_t, 64>, kBatch> bufs;
  std::array<iovec, kBatch> iov;
  std::array<mmsghdr, kBatch> msgs{};
  uint64_t sent = 0;
  double per_thread_rate = o.rate / o.threads;
  double start = now_s();
  for (size_t s = 0; !stop && !socks.empty(); s = (s + 1) % socks.size()) {
    if (per_thread_rate > 0) {
      double due = start + static_cast<double>(sent) / per_thread_rate;
      double wait = due - now_s();
      if (wait > 0) std::this_thread::sleep_for(Seconds(wait));
    }
    for (int i = 0; i < kBatch; ++i) {
      tou::SegmentHeader h;
      h.src_port = static_cast<uint16_t>(rng());
      h.dst_port = port;
      h.seq = tou::SeqNum(static_cast<uint32_t>(rng()));
      h.flags = tou::flags::kSyn;
      h.window = 65535;
      h.options.mss = 1460;
      size_t n = tou::emit_segment(h, {}, bufs[static_cast<size_t>(i)]);
      iov[static_cast<size_t>(i)] = {bufs[static_cast<size_t>(i)].data(), n};
      msghdr& m = msgs[static_cast<size_t>(i)].msg_hdr;
      m.msg_name = &to;
      m.msg_namelen = sizeof to;
      m.msg_iov = &iov[static_cast<size_t>(i)];
      m.msg_iovlen = 1;
    }
    int n = ::sendmmsg(socks[s], msgs.data(), kBatch, 0);
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  for (int fd : socks) ::close(fd);
  return sent;
}

tou_listener_info listener_info(Shared* sh) {
  uint64_t v = sh->info_version;
  while (sh->info_version == v) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return sh->info;
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](double& v) {
      if (i + 1 >= argc) return false;
      v = std::atof(argv[++i]);
      return true;
    };
    double v = 0;
    if (a == "--json") {
      o.json = true;
    } else if (a == "--no-bulk") {
      o.bulk = false;
    } else if (a == "--seconds" && next(v) && v > 0) {
      o.seconds = v;
    } else if (a == "--rate" && next(v) && v >= 0) {
      o.rate = v;
    } else if (a == "--sources" && next(v) && v >= 1 && v <= 60000) {
      o.sources = static_cast<int>(v);
    } else if (a == "--backlog" && next(v) && v >= 1) {
      o.backlog = static_cast<int>(v);
    } else if (a == "--threads" && next(v) && v >= 1 && v <= 16) {
      o.threads = static_cast<int>(v);
    } else if (a == "--legit" && next(v) && v >= 1) {
      o.legit = static_cast<int>(v);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: tou-synflood [--seconds S] [--rate SYN/s] [--sources N] [--backlog N]"
                 " [--threads N] [--legit N] [--no-bulk] [--json]\n");
    return 2;
  }
  auto* sh = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (sh) Shared();
  pid_t server = fork();
  if (server == 0) run_server(sh, o.backlog);
  for (int i = 0; i < 500 && sh->port == 0; ++i) usleep(10000);
  uint16_t port = sh->port;
  if (port == 0) {
    std::fprintf(stderr, "tou-synflood: the server did not start\n");
    kill(server, SIGKILL);
    return 1;
  }

  // An established bulk transfer, measured before and during the flood.
  std::atomic<bool> stop_bulk{false};
  int bulk = connect_to(port, 30);
  std::thread bulk_writer([&] {
    if (!o.bulk) return;
    std::vector<char> chunk(1 << 16, 'b');
    chunk[0] = 'B';
    while (!stop_bulk && ::write(bulk, chunk.data(), chunk.size()) > 0) chunk[0] = 'b';
  });
  std::this_thread::sleep_for(Seconds(0.5));
  long rss_before = rss_kib(server);
  uint64_t b0 = sh->bulk_bytes;
  double t0 = now_s();
  std::this_thread::sleep_for(Seconds(o.baseline_seconds));
  double baseline_rate = static_cast<double>(sh->bulk_bytes - b0) / (now_s() - t0);
  tou_listener_info before = listener_info(sh);

  // The flood, with legitimate connects and RSS samples alongside.
  std::atomic<bool> stop_flood{false};
  std::vector<uint64_t> sent(static_cast<size_t>(o.threads), 0);
  std::vector<std::thread> flooders;
  uint64_t b1 = sh->bulk_bytes;
  double flood_start = now_s();
  double cpu0 = engine_cpu_s(server);
  uint64_t drops0 = udp_drops(port);
  for (int i = 0; i < o.threads; ++i) {
    flooders.emplace_back([&, i] { sent[static_cast<size_t>(i)] = flood(o, port, i, stop_flood); });
  }
  std::vector<double> connects;
  long rss_max = rss_before;
  uint32_t half_open_max = 0;
  std::thread sampler([&] {
    while (!stop_flood) {
      rss_max = std::max(rss_max, rss_kib(server));
      half_open_max = std::max(half_open_max, sh->info.half_open);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(Seconds(0.2));  // the flood is on
  double gap = (o.seconds - 0.4) / o.legit;
  for (int i = 0; i < o.legit && now_s() < flood_start + o.seconds; ++i) {
    double t = now_s();
    connects.push_back(legit_connect(port, 1.0));
    double rest = gap - (now_s() - t);
    if (rest > 0) std::this_thread::sleep_for(Seconds(rest));
  }
  double left = flood_start + o.seconds - now_s();
  if (left > 0) std::this_thread::sleep_for(Seconds(left));
  tou_listener_info during = listener_info(sh);
  double cpu1 = engine_cpu_s(server);
  uint64_t drops1 = udp_drops(port);
  uint64_t b2 = sh->bulk_bytes;
  stop_flood = true;
  double flood_end = now_s();
  for (auto& t : flooders) t.join();
  sampler.join();
  double flood_secs = flood_end - flood_start;
  double flood_rate = static_cast<double>(b2 - b1) / flood_secs;

  // After: how soon does the next connect succeed?
  double first_after = -1;
  for (int i = 0; i < 60 && first_after < 0; ++i) {
    if (legit_connect(port, 1.0) >= 0) first_after = now_s() - flood_end;
  }
  tou_listener_info after = listener_info(sh);
  long rss_after = rss_kib(server);

  stop_bulk = true;
  ::shutdown(bulk, SHUT_RDWR);
  bulk_writer.join();
  ::close(bulk);
  sh->stop = true;
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);

  uint64_t total_sent = 0;
  for (uint64_t s : sent) total_sent += s;
  int within_1s = 0, succeeded = 0;
  for (double c : connects) {
    if (c >= 0) ++succeeded;
    if (c >= 0 && c <= 1.0) ++within_1s;
  }
  double syn_rate_sent = static_cast<double>(total_sent) / flood_secs;
  double syn_rate_listener = static_cast<double>(during.syn_received - before.syn_received) /
                             (flood_secs > 0 ? flood_secs : 1);
  double datagram_rate =
      static_cast<double>(during.datagrams_received - before.datagrams_received) /
      (flood_secs > 0 ? flood_secs : 1);
  double syns = static_cast<double>(during.syn_received - before.syn_received);
  double drop_rate = static_cast<double>(drops1 - drops0) / (flood_secs > 0 ? flood_secs : 1);
  double cpu_us_per_syn = syns > 0 ? (cpu1 - cpu0) * 1e6 / syns : 0;
  double pct = connects.empty() ? 0 : 100.0 * within_1s / static_cast<double>(connects.size());
  double ratio = baseline_rate > 0 ? flood_rate / baseline_rate : 0;
  double rss_growth_mib = static_cast<double>(rss_max - rss_before) / 1024.0;
  if (o.json) {
    std::printf(
        "{\"seconds\": %.2f, \"syn_sent_per_s\": %.0f, \"syn_at_listener_per_s\": %.0f, "
        "\"datagrams_at_listener_per_s\": %.0f, \"socket_drops_per_s\": %.0f, \"legit_connects\": "
        "%zu, \"legit_ok\": %d, "
        "\"legit_within_1s_pct\": %.1f, \"bulk_before_mbit\": %.1f, \"bulk_during_mbit\": %.1f, "
        "\"bulk_ratio\": %.3f, \"rss_before_kib\": %ld, \"rss_max_kib\": %ld, \"rss_after_kib\": "
        "%ld, \"rss_growth_mib\": %.2f, \"first_connect_after_s\": %.3f, \"half_open_max\": %u, "
        "\"backlog\": %d, \"syn_cookies_sent\": %llu, \"syn_cookies_validated\": %llu, "
        "\"syn_cookies_rejected\": %llu, \"half_open_evicted\": %llu, \"syn_dropped\": %llu, "
        "\"engine_cpu_s\": %.2f, \"engine_cpu_us_per_syn\": %.2f}\n",
        flood_secs, syn_rate_sent, syn_rate_listener, datagram_rate, drop_rate, connects.size(),
        succeeded, pct, baseline_rate * 8 / 1e6, flood_rate * 8 / 1e6, ratio, rss_before, rss_max,
        rss_after, rss_growth_mib, first_after, half_open_max, o.backlog,
        static_cast<unsigned long long>(after.syn_cookies_sent),
        static_cast<unsigned long long>(after.syn_cookies_validated),
        static_cast<unsigned long long>(after.syn_cookies_rejected),
        static_cast<unsigned long long>(after.half_open_evicted),
        static_cast<unsigned long long>(after.syn_dropped), cpu1 - cpu0, cpu_us_per_syn);
  } else {
    std::printf(
        "flood: %.2f s, %.0f SYN/s sent, %.0f SYN/s reached the listener (%.0f datagrams/s), "
        "%.0f datagrams/s dropped by the listener's full UDP socket\n",
        flood_secs, syn_rate_sent, syn_rate_listener, datagram_rate, drop_rate);
    std::printf("legitimate connects: %d/%zu succeeded, %.1f%% within 1 s (target >= 90%%)\n",
                succeeded, connects.size(), pct);
    std::printf("bulk transfer: %.1f Mbit/s before, %.1f during: ratio %.3f (target >= 0.5)\n",
                baseline_rate * 8 / 1e6, flood_rate * 8 / 1e6, ratio);
    std::printf("listener RSS: %ld KiB before, %ld max, %ld after: +%.2f MiB (target <= 16)\n",
                rss_before, rss_max, rss_after, rss_growth_mib);
    std::printf("first connect after the flood: %.3f s\n", first_after);
    std::printf(
        "listener's engine thread: %.2f CPU s during the flood, %.2f us per SYN "
        "(the bulk transfer's work included)\n",
        cpu1 - cpu0, cpu_us_per_syn);
    std::printf(
        "listener: half-open max %u (backlog %d), cookies sent %llu validated %llu "
        "rejected %llu, evicted %llu, SYNs dropped %llu\n",
        half_open_max, o.backlog, static_cast<unsigned long long>(after.syn_cookies_sent),
        static_cast<unsigned long long>(after.syn_cookies_validated),
        static_cast<unsigned long long>(after.syn_cookies_rejected),
        static_cast<unsigned long long>(after.half_open_evicted),
        static_cast<unsigned long long>(after.syn_dropped));
  }
  return 0;
}
