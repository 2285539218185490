// An engine worker (workers.hpp starts N of them, one thread each). Its I/O
// thread runs the event loop over the worker's UDP sockets and socket-pair
// ends, the demultiplexer, the timers and the protocol cores of the
// connections it owns; the socket API and the shim reach it through
// interface.hpp only.
//
// Locking: all of a worker's state is guarded by its one mutex. Its I/O thread
// holds it while it handles a batch of events (never while it waits), and a
// program's thread holds it for the length of one control call (bind,
// connect, options). Data never crosses that lock: the program's bytes travel
// through the kernel socket pair (bridge.hpp), so no lock is taken per byte
// or per segment by two threads. No worker takes another's lock while it
// holds its own (the calls that span workers, listen.cpp, take one at a time).
//
// Sockets are found by the inode of their program-side descriptor (fstat's
// st_ino), which every dup(), fork() and SCM_RIGHTS copy shares; the registry
// (workers.hpp) says which worker serves which.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/time.hpp"
#include "core/connection.hpp"
#include "core/isn.hpp"
#include "core/syn_cookie.hpp"
#include "engine/address.hpp"
#include "engine/event_loop.hpp"
#include "engine/interface.hpp"
#include "engine/receive_coalescing.hpp"
#include "engine/udp_socket.hpp"

struct tou_info;
struct tou_listener_info;

namespace tou::engine {

constexpr size_t kDefaultBuffer = 1 << 20;
constexpr int kMaxBacklog = 4096;
constexpr size_t kMinBuffer = 4096;
constexpr size_t kMaxBuffer = 64 << 20;
// What the core may use for a buffer the program did not size (SO_SNDBUF / SO_RCVBUF
// unset), as Linux autotunes up to tcp_wmem[2] / tcp_rmem[2] (4 and 6 MiB by default): a
// long fat path's flight and its losses' out-of-order data (50 Mbit/s x 200 ms = 1.25 MB)
// outgrow kDefaultBuffer. 8 MiB: at 100 ms and 5% loss, lost retransmissions hold SND.UNA
// back for rounds, and 4 MiB on both sides bound the flight (tou-sim --autotune, BBR,
// 3 seeds: 59.6 Mbit/s with 4 MiB, 69.0 with 8, 68.2 with 16). The core allocates
// buffers as data needs them and the receive window grows only as the program reads
// (ConnectionConfig::receive_autotune), so an idle or slow connection costs no more.
constexpr size_t kAutotuneBuffer = 8 << 20;
// TIME-WAIT lasts 2 * kMsl. Shorter than RFC 9293's 2 minutes: RFC 6528
// initial sequence numbers and RFC 7323 PAWS keep old duplicates out of a new
// incarnation (as Linux's tcp_tw_reuse relies on), and 2 s still covers
// several retransmissions of a lost final ACK's FIN.
constexpr Duration kMsl = std::chrono::seconds(1);
// How long a stream's bytes that came without PSH may wait in the core for
// more before the program is handed them (Connection::delivery_due): at 100
// Mbit/s, about 9 segments to a wake-up of the reader instead of one.
constexpr Duration kDeliveryCoalesce = std::chrono::milliseconds(1);

// What tou_setsockopt() stores; a connection copies it when it opens, and an
// open connection applies a change at once (Engine::set_option).
struct SocketOptions {
  size_t send_buffer = kDefaultBuffer;
  size_t receive_buffer = kDefaultBuffer;
  // SO_RCVBUF set before connect or listen: the window scale covers that size
  // only (Linux's SOCK_RCVBUF_LOCK), else kMaxBuffer so that it can grow later.
  bool receive_buffer_locked = false;
  bool send_buffer_locked = false;  // SO_SNDBUF set: the core keeps to it
  bool nodelay = false;
  bool keepalive = false;
  int keepidle_s = 7200;
  int keepintvl_s = 75;
  int keepcnt = 9;
  unsigned user_timeout_ms = 0;
  int syn_retries = 6;
  int maxseg = 0;                  // 0: from the path MTU
  std::string congestion = "bbr";  // the README says why (What the figures say)
  bool reuseaddr = false;
  bool linger = false;
  int linger_s = 0;
  int v6only = -1;     // -1: the system default
  int syncookies = 1;  // TOU_SYNCOOKIES: 0 off, 1 when the backlog is full, 2 always
};

// The keys every worker shares (so that a connection's ISN and SYN cookies do
// not depend on which worker serves it).
struct EngineKeys {
  std::array<uint8_t, IsnGenerator::kKeySize> isn{};
  std::array<uint8_t, SynCookies::kKeySize> cookie{};
};

// What a listener's SO_REUSEPORT group needs to add a worker's socket to it
// (listen.cpp).
struct PortGroup;
struct GroupSpec {
  std::shared_ptr<PortGroup> group;
  SockAddr local;
  int domain = AF_INET;
  SocketOptions opts;
};

struct Listener;
// Makes a listener count its half-open connections and accept records with
// the rest of its group (listen.cpp).
void share_group_counts(Listener& l, const std::shared_ptr<PortGroup>& group);

struct Endpoint;
struct Listener;
struct Socket;
struct TimeWaitEntry;

class Engine final : SendBatch::ErrorSink {
 public:
  // A worker with its thread running; nullptr (and err) on failure.
  static Engine* create(const EngineKeys& keys, int index, int& err);
  // A worker without a thread, for tests: step() turns its loop once (waits
  // for events until `deadline`, nullopt for none, a past one polls; then does
  // every due piece of work) and returns how many events arrived. The same
  // turn its thread runs (run()).
  static Engine* create_stepped(const EngineKeys& keys, int& err);
  int step(std::optional<Instant> deadline);
  // Its place among the workers (0 .. workers::count() - 1).
  int index() const { return index_; }
  // Every call below returns 0 or an errno value. `ino` names the socket (the
  // inode of its program-side fd); ENOTSOCK when this engine does not know it.
  int open_socket(int domain, bool nonblock, bool cloexec, int& fd);
  int bind(ino_t ino, const SockAddr& addr);
  int listen(int fd, ino_t ino, int backlog);
  int connect(int fd, ino_t ino, const SockAddr& addr, bool nonblocking);
  int local_address(ino_t ino, SockAddr& out);
  int peer_address(ino_t ino, SockAddr& out);
  int set_option(int fd, ino_t ino, int level, int name, const void* value, socklen_t len);
  int get_option(int fd, ino_t ino, int level, int name, void* value, socklen_t* len);
  // The exact error of a connection that failed (ECONNRESET, ETIMEDOUT, ...),
  // reported once, whichever call reports it first (a plain read() of `fd`
  // too, see Tombstone::error_in_pair); 0 when there is none or the socket is
  // unknown.
  int take_error(int fd, ino_t ino);
  // After the program shut its read side (SHUT_RD) the pair takes no more
  // bytes; what arrives later waits in the core, as Linux's TCP still queues
  // it, and tou_recv reads it from here (MSG_PEEK: without consuming). The
  // bytes copied; 0 when there are none or the read side is not shut.
  size_t read_held(ino_t ino, void* buf, size_t len, bool peek);
  // True when the socket is one of this engine's listeners / connections (or was).
  bool is_listener(ino_t ino);
  bool knows(ino_t ino);
  // True when the socket is connecting or connected (or its connection ended).
  bool has_connection(ino_t ino);
  // SO_LINGER with a timeout: waits until everything written has been
  // acknowledged, or the timeout passes.
  void linger_before_close(ino_t ino);
  void note_read_shutdown(ino_t ino);
  void report_end(Socket& s);
  // A write from the program's thread that skips the pair (inline_send.cpp):
  // the bytes go into the connection's core and onto the wire here, under
  // this worker's lock, when the connection is open, takes them all, and
  // nothing the program wrote before is still in the pair. The bytes taken
  // (`total`), or -1 when the write must go through the pair as before.
  ssize_t send_inline(ino_t ino, const iovec* iov, int count, size_t total);
  // A blocking read's wait in the program's thread (inline_receive.cpp): when
  // the connection is open and its endpoint free, the caller watches the
  // endpoint's UDP socket itself for a short while and serves what arrives.
  // False when it did not wait.
  bool receive_inline(ino_t ino, int app_fd);

  // A listener on every worker (listen.cpp). On the socket's worker: makes
  // its endpoint (an ephemeral port if unbound) the first of a SO_REUSEPORT
  // group. On every other worker: joins a socket of its own to the group, then
  // serves the listener through a copy of its descriptor.
  int prepare_group(ino_t ino, GroupSpec& out);
  int join_group(const GroupSpec& spec);
  void leave_group(const GroupSpec& spec);
  int listener_fd(ino_t ino);
  void add_shadow_listener(ino_t ino, int efd, const GroupSpec& spec, int backlog);
  // A listener's options, read on its worker and copied to the others (the
  // connections they accept inherit them).
  bool listener_options(ino_t ino, SocketOptions& out);
  void set_listener_options(ino_t ino, const SocketOptions& opts);
  // Adds what this worker's copy of a listener counted to `info` (the
  // half-open count is shared already).
  void add_listener_stats(ino_t ino, tou_listener_info& info);
  // A listener on `addr` whose program closed it, not yet noticed: closed now
  // (as close() would have in a kernel), and the group's sockets with it.
  void reap_closed_listener(const SockAddr& addr);
  void close_idle_members();
  // True when one of this worker's sockets is bound to `addr` (a socket that
  // binds there with SO_REUSEADDR must move to this worker).
  bool holds_address(const SockAddr& addr);
  // Moves a fresh socket (not bound, connected or listening) between workers.
  struct FreshSocket {
    int efd = -1;
    int domain = AF_INET;
    SocketOptions opts;
    int app_fd_hint = -1;
  };
  bool export_fresh(ino_t ino, FreshSocket& out);
  void import_fresh(ino_t ino, const FreshSocket& in);
  // From any thread: close_idle_members() on the I/O thread soon.
  void post_close_idle() {
    close_idle_ = true;
    loop_.wake();
  }

  // The event handlers (called on the I/O thread with the lock held).
  void on_endpoint_events(Endpoint& ep, uint32_t events);
  void on_socket_events(Socket& s, uint32_t events);
  void on_listener_events(Listener& l, uint32_t events);
  void on_socket_timer(Socket& s, Instant now);
  void on_time_wait_timer(TimeWaitEntry& tw);

 private:
  Engine() = default;
  ~Engine() = default;
  int start(const EngineKeys& keys, bool with_thread);
  void run();
  void iterate();
  // After a turn of run(): sleeps as receive coalescing asks, the lock
  // released meanwhile (receive_coalescing.hpp).
  void hold_for_coalescing(std::unique_lock<std::mutex>& lock);
  // After a program's thread gave this worker work under its lock (a
  // deadline, a connection to serve): wakes the I/O thread only when it
  // sleeps past that work. Each wake-up is a context switch on the path.
  void wake_if_behind();
  // At exit (exit.cpp): stops the I/O thread (every worker's first), then
  // hands closing connections to a lingering process.
  void stop_thread_at_exit();
  void close_at_exit();
  bool closing_work(bool time_wait_too, uint64_t& acked);
  bool hand_over_to_lingerer(std::unique_lock<std::mutex>& lock);
  void run_until_closed(std::unique_lock<std::mutex>& lock, bool time_wait_too, Duration limit,
                        Duration stall);
  std::vector<int> own_fds() const;
  void close_fds_in_child();
  friend void engine_atfork_prepare();
  friend void engine_atfork_parent();
  friend void engine_atfork_child();
  friend void engine_at_exit();

  Instant tick();
  void mark_dirty(Socket& s);
  void service(Socket& s);
  bool apply_app_state(Socket& s);
  void handle_event(Socket& s, ConnectionEvent e);
  void transmit(Socket& s);
  // Sends the batch if it holds views of s's send buffer (Socket::views_batch),
  // before anything may change that buffer.
  void settle_views(Socket& s);
  void finish_if_done(Socket& s);
  void destroy_socket(Socket& s, int error);
  // Takes s out of its endpoint's connections (and its last-connection cache), if it is there.
  void leave_demux(Socket& s);
  void close_bridge(Socket& s, int error);
  void reschedule(Socket& s);
  void flush_sends();
  // Serves every connection marked dirty, then sends what that queued.
  void service_dirty();
  // Takes `ep` from the I/O thread for up to `slice`: waits on its socket (and
  // on `also_fd`, unless negative) in this thread, serves what arrives, gives
  // it back. Called and returns with `lock` (on mu_) held; true when it served
  // datagrams.
  bool borrow_endpoint(std::unique_lock<std::mutex>& lock, Endpoint& ep, int also_fd,
                       const timespec& slice);
  void on_send_error(int fd, int err) override;
  void refuse_handshakes(Endpoint& ep);
  void reap_locked(const SockAddr& addr);
  // An endpoint of a group with no references left: true when the whole
  // group is idle (the caller closes it), else it waits, idle (listen.cpp).
  bool idle_in_group(Endpoint& ep);
  void close_idle_locked();

  void receive(Endpoint& ep);
  // The socket's error queue: ICMP "too big" to the connection it names
  // (path_mtu.cpp).
  void drain_errors(Endpoint& ep);
  // A local "too big": every connection to the address (and port, if named).
  int local_mtu_by_address(Endpoint& ep, const ErrorReport& r);
  // Serves one datagram; returns its connection's Connection::coalesce_window()
  // (zero for anything that is not an open connection's).
  Duration on_datagram(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                       std::span<const uint8_t> bytes);
  void open_passive(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                    const ConnectionKey& key, const Segment& syn);
  void reply_reset(Endpoint& ep, const SockAddr& from, const SockAddr* to, const Segment& seg);
  void reply_time_wait(Endpoint& ep, TimeWaitEntry& tw);
  void end_time_wait(TimeWaitEntry& tw);
  // The SYN path (syn_flood.cpp): cookies, and the pruning of half-open connections.
  Socket& add_passive_socket(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                             const ConnectionKey& key);
  void send_cookie(Endpoint& ep, const SockAddr& from, const SockAddr* to, const ConnectionKey& key,
                   const Segment& syn);
  bool accept_cookie(Endpoint& ep, const SockAddr& from, const SockAddr* to,
                     const ConnectionKey& key, const Segment& ack);
  bool prune_half_open(Socket& s);
  // The accept queue plus the connections waiting to enter it, as the SYN
  // path sees it: read once per turn, not once per SYN.
  int accept_backlog(Listener& l);
  // The MTU a cookie's SYN-ACK takes its MSS from, without a route lookup
  // per (spoofed) source.
  int cookie_mtu(const SockAddr& local, const SockAddr& remote);
  // A connection's identity for its ISN, timestamp offset and SYN cookie
  // (RFC 6528): both UDP addresses and both TCP ports.
  using Tuple = std::array<uint8_t, 44>;
  Tuple tuple_of(const SockAddr& local, const SockAddr& remote, const ConnectionKey& key) const;
  SockAddr local_of(const Endpoint& ep, const SockAddr* to) const;
  void hand_over(Socket& s);
  void flush_handoffs(Listener& l);
  void close_listener(Listener& l);
  // Connections handed over and not yet taken by an accept().
  int accept_queue(const Listener& l) const;

  int open_endpoint(int domain, const SocketOptions& opts, const SockAddr* bind_to, Endpoint*& out,
                    bool reuseport = false);
  // A client port for a connection to `remote` (client_ports.cpp): an endpoint
  // shared with other connections, or a new one, and the connection's TCP
  // port on it (the UDP port when that is free for the peer).
  int shared_endpoint(const Socket& s, const SockAddr& remote, Endpoint*& out,
                      uint16_t& local_port);
  // A TCP port of the ephemeral range that no connection (or TIME-WAIT) on
  // the pool's ports uses with `remote`; 0 when there is none.
  uint16_t free_tcp_port(const std::list<Endpoint*>& pool, const SockAddr& remote);
  int route_source(const Socket& s, const SockAddr& remote, SockAddr& source);
  void leave_pool(Endpoint& ep);
  // The refusal (ICMP port unreachable) of the handshakes with `peer` (its
  // UDP address and port) only.
  void refuse_handshake(Endpoint& ep, const SockAddr& peer);
  void release_endpoint(Endpoint& ep);
  void close_endpoint(Endpoint& ep);
  // Takes a reference on an endpoint that may be an idle group member.
  void hold_endpoint(Endpoint& ep);
  int listen_endpoint(Socket& s);
  ConnectionConfig core_config(const SocketOptions& opts, const SockAddr& remote, int mtu);
  std::unique_ptr<Connection> make_core(const SocketOptions& opts, const SockAddr& remote, int mtu);
  OpenParams open_params(const SockAddr& local, const SockAddr& remote, const ConnectionKey& key);
  uint32_t ts_offset_of(const Tuple& tuple) const;
  int path_mtu(const SockAddr& remote);
  static AddrKey mtu_key(const SockAddr& a);  // path_mtu's cache key: the address, no port

  // What is left of a socket whose engine side is gone while the program may
  // still hold its descriptor: the error to report, the names, and the last
  // TCP_INFO.
  struct Tombstone {
    int error = 0;
    SockAddr local;
    bool listener = false;
    std::shared_ptr<tou_info> info;
    // The reset is also pending on the program's end of the pair (its next
    // read() fails with ECONNRESET, mark_reset_for_app): that end's
    // SO_ERROR, which such a read clears, tells whether it is still unreported.
    bool error_in_pair = false;
  };
  void add_tombstone(ino_t ino, int error, const SockAddr& local, bool listener,
                     std::shared_ptr<tou_info> info = nullptr, bool error_in_pair = false);
  // Takes a tombstone's error once (see Tombstone::error_in_pair).
  static int take_tombstone_error(Tombstone& t, int fd);
  Socket* find_socket(ino_t ino);
  Listener* find_listener(ino_t ino);
  void bury(Socket& s);

  int get_connection_info(Socket* s, tou_info& out);
  // Applies a changed option to the socket's open connection, if it has one.
  void apply_live(Socket* s, int level, int name);
  int get_listener_info(Listener* l, tou_listener_info& out);

  std::mutex mu_;
  int index_ = 0;
  std::atomic<bool> close_idle_{false};  // a group went idle: close_idle_members()
  std::condition_variable cv_;           // connection state changes (blocking connect, linger)
  std::thread thread_;
  // The I/O thread is in (or on its way to) its wait, until this deadline
  // (nullopt: none); set and read under mu_ (wake_if_behind).
  bool io_waiting_ = false;
  std::optional<Instant> io_wait_until_;
  bool stopping_ = false;
  bool exiting_ = false;        // the process is exiting: close every connection
  bool ends_reported_ = false;  // at exit: report_end done for every connection
  EventLoop loop_;
  Instant now_{};
  ReceiveCoalescing coalesce_;  // the I/O thread's interrupt moderation (run())
  Instant last_tick_{};
  std::optional<IsnGenerator> isn_;
  std::optional<SynCookies> cookies_;
  RecvBatch recv_;
  SendBatch send_;
  std::vector<uint8_t> scratch_;

  std::unordered_map<ino_t, Socket*> sockets_;      // by program-side inode
  std::unordered_map<ino_t, Listener*> listeners_;  // by program-side inode
  std::unordered_set<Socket*> all_sockets_;         // every live socket, half-open ones too
  std::unordered_set<Endpoint*> endpoints_;
  std::unordered_map<AddrKey, Endpoint*, AddrKeyHash> bound_;  // explicitly bound, by local address
  std::unordered_map<ino_t, Tombstone> tombstones_;
  std::deque<ino_t> tombstone_order_;
  std::unordered_map<AddrKey, int, AddrKeyHash> mtu_cache_;
  std::unordered_map<AddrKey, int, AddrKeyHash> device_mtu_;  // by local address (cookie_mtu)
  // Client ports shared by connections, by source address and IPV6_V6ONLY
  // (client_ports.cpp), and the source address of the route to each peer.
  std::unordered_map<AddrKey, std::list<Endpoint*>, AddrKeyHash> shared_;  // newest last
  std::unordered_map<AddrKey, SockAddr, AddrKeyHash> route_cache_;

  std::vector<Socket*> dirty_;
  std::vector<Endpoint*> pending_read_;
  // Freed between iterations, so that no handler runs on a freed object.
  std::vector<std::unique_ptr<Socket>> dead_sockets_;
  std::vector<std::unique_ptr<Listener>> dead_listeners_;
  std::vector<std::unique_ptr<Endpoint>> dead_endpoints_;
  std::vector<std::unique_ptr<TimeWaitEntry>> dead_time_waits_;
  Engine* abandoned_next_ = nullptr;  // engines left behind by fork()
};

}  // namespace tou::engine
