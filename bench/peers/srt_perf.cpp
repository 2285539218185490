// srt-perf: the peer benchmark over SRT in file mode (SRTT_FILE: reliable
// stream, file congestion control), otherwise default settings.
#include <srt/srt.h>

#include "peer_address.hpp"
#include "peer_perf.hpp"

namespace tou_bench {
namespace {

class SrtTransport : public PeerTransport {
 public:
  SrtTransport() { srt_startup(); }
  ~SrtTransport() override { srt_cleanup(); }

  std::string name() const override { return "srt"; }

  PeerHandle listen(uint16_t port) override {
    SRTSOCKET s = file_mode_socket();
    PeerAddress a = any_address(port);
    if (srt_bind(s, a.get(), static_cast<int>(a.len)) == SRT_ERROR ||
        srt_listen(s, 1) == SRT_ERROR) {
      return -1;
    }
    return s;
  }

  PeerHandle accept(PeerHandle listener) override {
    SRTSOCKET s = srt_accept(static_cast<SRTSOCKET>(listener), nullptr, nullptr);
    return s == SRT_INVALID_SOCK ? -1 : s;
  }

  PeerHandle connect(const std::string& host, uint16_t port) override {
    auto a = numeric_address(host, port);
    if (!a) return -1;
    SRTSOCKET s = file_mode_socket();
    if (srt_connect(s, a->get(), static_cast<int>(a->len)) == SRT_ERROR) return -1;
    return s;
  }

  long send(PeerHandle h, const char* data, size_t n) override {
    return srt_send(static_cast<SRTSOCKET>(h), data, static_cast<int>(n));
  }
  long recv(PeerHandle h, char* data, size_t n) override {
    return srt_recv(static_cast<SRTSOCKET>(h), data, static_cast<int>(n));
  }
  void close(PeerHandle h) override { srt_close(static_cast<SRTSOCKET>(h)); }
  std::string error() const override { return srt_getlasterror_str(); }

 private:
  static SRTSOCKET file_mode_socket() {
    SRTSOCKET s = srt_create_socket();
    SRT_TRANSTYPE file = SRTT_FILE;
    srt_setsockflag(s, SRTO_TRANSTYPE, &file, sizeof file);
    return s;
  }
};

}  // namespace
}  // namespace tou_bench

int main(int argc, char** argv) {
  tou_bench::SrtTransport srt;
  return tou_bench::run_peer_perf(srt, argc, argv);
}
