// tou-cat: netcat for tou.
//
//   tou-cat [-4|-6] [-v] [-w secs] host port      connect; stdin -> peer -> stdout
//   tou-cat -l [-k] [-v] [host] port               listen (one connection; -k: keep accepting)
//
// End of stdin sends FIN (a half-close); tou-cat exits once the peer has
// closed too. Exit status: 0 on success, 1 when the connection failed (refused,
// timed out, reset), 2 for a bad command line.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/address.hpp"
#include "common/cli.hpp"
#include "common/connect.hpp"
#include "common/socket_ops.hpp"
#include "relay.hpp"

namespace {

using tou::Address;
using tou::tools::SocketOps;

struct Options {
  bool listen = false;
  bool keep_listening = false;
  bool verbose = false;
  bool ipv4 = false;
  bool ipv6 = false;
  bool kernel_tcp = false;
  double wait_s = 0;
  std::vector<std::string> args;  // [host] port
  std::string host;
  uint16_t port = 0;
  int family() const { return ipv6 ? AF_INET6 : ipv4 ? AF_INET : AF_UNSPEC; }
};

void warn(const std::string& message) {
  fmt::print(stderr, "tou-cat: {}\n", message);
}

// Relays one connection and reports how it ended; the exit status.
int serve_connection(const SocketOps& ops, int fd, const Address& peer, const Options& o,
                     bool& stdin_done) {
  const tou::tools::RelayResult r = tou::tools::relay(ops, fd, o.wait_s, stdin_done);
  if (o.verbose) {
    tou::tools::ConnectionStats stats;
    // What we wrote may still be on its way: wait (briefly) for our FIN's
    // acknowledgement so that the counters are final.
    for (int i = 0; i < 400 && r.error == 0 && !r.idle_timeout; ++i) {
      if (ops.stats(fd, stats) != 0 || stats.fin_acked) break;
      ::usleep(5000);
    }
    if (ops.stats(fd, stats) == 0) {
      warn(fmt::format("{}: {}", tou::tools::describe(peer), tou::tools::format_stats(stats)));
    }
    warn(fmt::format("{}: {} bytes from stdin, {} bytes to stdout{}", tou::tools::describe(peer),
                     r.bytes_sent, r.bytes_received, r.idle_timeout ? " (idle timeout)" : ""));
  }
  ops.close(fd);
  if (r.error == 0) return 0;
  if (r.stdout_failed) {
    warn(fmt::format("stdout: {}", std::strerror(r.error)));
  } else {
    const int err = r.error == EPIPE ? ECONNRESET : r.error;  // the peer is gone either way
    warn(fmt::format("{}: {}", tou::tools::describe(peer), std::strerror(err)));
  }
  return 1;
}

int run_client(const SocketOps& ops, const Options& o) {
  std::vector<Address> addresses = tou::tools::resolve(o.host, o.port, o.family(), false);
  for (size_t i = 0; i < addresses.size(); ++i) {
    const Address& a = addresses[i];
    int error = 0;
    const int fd = tou::tools::open_connection(ops, a, o.wait_s, nullptr, error);
    if (fd < 0) {
      warn(fmt::format("connect to {}: {}", tou::tools::describe(a), std::strerror(error)));
      if (i + 1 < addresses.size()) continue;
      return 1;
    }
    if (o.verbose) warn(fmt::format("connected to {} ({})", tou::tools::describe(a), ops.name));
    bool stdin_done = false;
    return serve_connection(ops, fd, a, o, stdin_done);
  }
  return 1;
}

int run_server(const SocketOps& ops, const Options& o) {
  const Address local = tou::tools::resolve(o.host, o.port, o.family(), true).front();
  const int ls = ops.socket(local.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) {
    warn(fmt::format("socket: {}", std::strerror(errno)));
    return 1;
  }
  tou::tools::set_int_option(ops, ls, SOL_SOCKET, SO_REUSEADDR, 1);
  if (ops.bind(ls, local.data(), local.size()) != 0 || ops.listen(ls, 16) != 0) {
    warn(fmt::format("bind {}: {}", tou::tools::describe(local), std::strerror(errno)));
    ops.close(ls);
    return 1;
  }
  if (o.verbose) warn(fmt::format("listening on {} ({})", tou::tools::describe(local), ops.name));
  bool stdin_done = false;
  int status = 0;
  do {
    Address peer = Address::any(local.family());
    socklen_t len = sizeof(sockaddr_in6);
    const int fd = ops.accept4(ls, peer.data(), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      warn(fmt::format("accept: {}", std::strerror(errno)));
      status = 1;
      break;
    }
    peer = Address(peer.data(), len);
    if (o.verbose) warn(fmt::format("connection from {}", tou::tools::describe(peer)));
    status = serve_connection(ops, fd, peer, o, stdin_done);
  } while (o.keep_listening);
  ops.close(ls);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tou-cat: netcat over tou (TCP over UDP)\n"
      "  tou-cat [-4|-6] [-v] [-w secs] host port\n"
      "  tou-cat -l [-k] [-v] [host] port",
      "tou-cat"};
  Options o;
  app.add_flag("-l,--listen", o.listen, "Listen for a connection instead of connecting");
  app.add_flag("-k,--keep-open", o.keep_listening, "With -l: accept connections one after another");
  app.add_flag("-v,--verbose", o.verbose, "Connection lines and statistics on stderr");
  auto* v4 = app.add_flag("-4", o.ipv4, "IPv4 only");
  app.add_flag("-6", o.ipv6, "IPv6 only")->excludes(v4);
  app.add_option("-w,--wait", o.wait_s, "Connect and idle timeout (seconds)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--tcp", o.kernel_tcp, "Use the kernel's TCP instead of tou (for comparison)");
  app.add_option("args", o.args, "host port (connect), or [host] port (listen)")->required();
  if (auto status = tou::tools::parse_command_line(app, argc, argv)) return *status;

  const size_t wanted_max = 2, wanted_min = o.listen ? 1 : 2;
  if (o.args.size() < wanted_min || o.args.size() > wanted_max) {
    return tou::tools::usage_error(app, o.listen ? "expected [host] port" : "expected host port");
  }
  if (o.keep_listening && !o.listen) return tou::tools::usage_error(app, "-k needs -l");
  o.port = tou::tools::parse_port(o.args.back());
  if (o.port == 0) return tou::tools::usage_error(app, "bad port '" + o.args.back() + "'");
  if (o.args.size() == 2) o.host = o.args.front();

  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout or peer is an error return, not a signal
  const SocketOps& ops = o.kernel_tcp ? tou::tools::kernel_tcp_ops() : tou::tools::tou_ops();
  try {
    return o.listen ? run_server(ops, o) : run_client(ops, o);
  } catch (const std::exception& e) {
    warn(e.what());
    return 1;
  }
}
