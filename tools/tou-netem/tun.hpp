// Network namespaces and TUN devices, the plumbing of --netns mode.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tou::netem {

// Runs a program (argv[0] looked up in PATH) and waits; returns its exit status
// (-1 when it could not run). Its output goes where ours goes unless `quiet`.
int run_program(const std::vector<std::string>& argv, bool quiet = false);

// A named network namespace (`ip netns add`), deleted again by the destructor
// after every process still inside it has been killed.
class NetworkNamespace {
 public:
  // Throws std::runtime_error when it cannot be created.
  explicit NetworkNamespace(std::string name);
  ~NetworkNamespace();
  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;

  const std::string& name() const { return name_; }

  // Creates TUN device `ifname` inside the namespace (IFF_TUN | IFF_NO_PI, IPv6
  // off so that no autoconfiguration chatter crosses the link) and returns its
  // non-blocking fd; the calling thread returns to its own namespace. Throws.
  int open_tun(const std::string& ifname);

  // Processes whose network namespace this is.
  std::vector<pid_t> pids() const;
  // Sends `sig` to every process inside; returns how many there were.
  size_t signal_all(int sig) const;

 private:
  std::string name_;
  ino_t inode_ = 0;  // of the namespace, to recognise its processes in /proc
};

// True when a TCP socket listens on `port` in the network namespace of `pid`.
bool tcp_listening(pid_t pid, int port);

}  // namespace tou::netem
