// udt-perf: the peer benchmark over UDT (Debian's libudt), default settings.
#include <udt/udt.h>

#include "peer_address.hpp"
#include "peer_perf.hpp"

namespace tou_bench {
namespace {

class UdtTransport : public PeerTransport {
 public:
  UdtTransport() { UDT::startup(); }
  ~UdtTransport() override { UDT::cleanup(); }

  std::string name() const override { return "udt"; }

  PeerHandle listen(uint16_t port) override {
    UDTSOCKET s = UDT::socket(AF_INET, SOCK_STREAM, 0);
    PeerAddress a = any_address(port);
    if (UDT::bind(s, a.get(), static_cast<int>(a.len)) == UDT::ERROR ||
        UDT::listen(s, 1) == UDT::ERROR) {
      return -1;
    }
    return s;
  }

  PeerHandle accept(PeerHandle listener) override {
    UDTSOCKET s = UDT::accept(static_cast<UDTSOCKET>(listener), nullptr, nullptr);
    return s == UDT::INVALID_SOCK ? -1 : s;
  }

  PeerHandle connect(const std::string& host, uint16_t port) override {
    auto a = numeric_address(host, port);
    if (!a) return -1;
    UDTSOCKET s = UDT::socket(a->storage.ss_family, SOCK_STREAM, 0);
    if (UDT::connect(s, a->get(), static_cast<int>(a->len)) == UDT::ERROR) return -1;
    return s;
  }

  long send(PeerHandle h, const char* data, size_t n) override {
    return UDT::send(static_cast<UDTSOCKET>(h), data, static_cast<int>(n), 0);
  }
  long recv(PeerHandle h, char* data, size_t n) override {
    return UDT::recv(static_cast<UDTSOCKET>(h), data, static_cast<int>(n), 0);
  }
  void close(PeerHandle h) override { UDT::close(static_cast<UDTSOCKET>(h)); }
  std::string error() const override { return UDT::getlasterror_desc(); }
};

}  // namespace
}  // namespace tou_bench

int main(int argc, char** argv) {
  tou_bench::UdtTransport udt;
  return tou_bench::run_peer_perf(udt, argc, argv);
}
