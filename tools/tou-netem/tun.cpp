#include "tun.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace tou::netem {
namespace {

std::runtime_error errno_error(const std::string& what) {
  return std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

// Closes an fd on every path out of a scope.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

int run_program(const std::vector<std::string>& argv, bool quiet) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (quiet) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

NetworkNamespace::NetworkNamespace(std::string name) : name_(std::move(name)) {
  if (run_program({"ip", "netns", "add", name_}) != 0) {
    throw std::runtime_error(fmt::format("ip netns add {} failed", name_));
  }
  struct stat st {};
  if (stat(("/run/netns/" + name_).c_str(), &st) == 0) inode_ = st.st_ino;
}

NetworkNamespace::~NetworkNamespace() {
  // Bounded: a process that survives SIGKILL for a second is left to the kernel;
  // the namespace then dies with its last process.
  for (int i = 0; i < 100 && signal_all(SIGKILL) > 0; ++i) usleep(10'000);
  run_program({"ip", "netns", "del", name_}, /*quiet=*/true);
}

int NetworkNamespace::open_tun(const std::string& ifname) {
  const int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const FdGuard original_guard{original};
  const int target = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  const FdGuard target_guard{target};
  if (original < 0 || target < 0) throw errno_error("open namespace");
  if (setns(target, CLONE_NEWNET) < 0) throw errno_error("setns " + name_);

  // The device is created in the namespace of the thread that asks for it.
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) error = errno;
    // /proc/sys/net belongs to the namespace of the thread that opens it.
    std::ofstream(fmt::format("/proc/sys/net/ipv6/conf/{}/disable_ipv6", ifname)) << "1\n";
  }
  if (setns(original, CLONE_NEWNET) < 0) {
    // Staying in the wrong namespace would break everything that follows.
    throw errno_error("setns back to the original namespace");
  }
  if (fd < 0 || error != 0) {
    if (fd >= 0) close(fd);
    errno = error;
    throw errno_error("TUN device in " + name_);
  }
  return fd;
}

std::vector<pid_t> NetworkNamespace::pids() const {
  std::vector<pid_t> out;
  if (inode_ == 0) return out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (const dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    struct stat st {};
    if (stat(fmt::format("/proc/{}/ns/net", pid).c_str(), &st) == 0 && st.st_ino == inode_) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return out;
}

size_t NetworkNamespace::signal_all(int sig) const {
  const std::vector<pid_t> inside = pids();
  for (pid_t pid : inside) kill(pid, sig);
  return inside.size();
}

bool tcp_listening(pid_t pid, int port) {
  constexpr const char* kListen = "0A";  // TCP_LISTEN in /proc/net/tcp's "st" column
  const std::string local_port = fmt::format(":{:04X}", port);
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in(fmt::format("/proc/{}/net/{}", pid, table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      char local[64] = {}, remote[64] = {}, state[8] = {};
      if (std::sscanf(line.c_str(), "%*d: %63s %63s %7s", local, remote, state) != 3) continue;
      const std::string l = local;
      if (state == std::string(kListen) && l.size() >= local_port.size() &&
          l.compare(l.size() - local_port.size(), local_port.size(), local_port) == 0) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace tou::netem
