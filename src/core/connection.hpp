// One TCP connection as a sans-I/O state machine (RFC 9293), in the style of
// smoltcp's socket and quiche's connection: the caller owns time, I/O and
// randomness. Feed it datagrams with on_datagram(), API calls with send(),
// recv(), shutdown(), close(), abort(); pull datagrams out with
// poll_transmit(); call on_timer() when next_deadline() passes; read what
// happened with poll_event(), state() and error().
//
//   tou::Connection c(config);
//   c.connect(now, {.local_port = 5000, .remote_port = 80, .iss = isn});
//   while (size_t n = c.poll_transmit(now, buf)) udp_send(buf, n);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/time.hpp"
#include "cc/congestion_controller.hpp"
#include "core/plpmtud.hpp"
#include "core/receive_autotune.hpp"
#include "core/recovery/loss_recovery.hpp"
#include "core/rtt_estimator.hpp"
#include "core/stats.hpp"
#include "core/syn_cookie.hpp"
#include "core/tcb.hpp"
#include "core/tcp_state.hpp"
#include "wire/segment.hpp"
#include "wire/seq_num.hpp"

namespace tou {

struct ConnectionConfig {
  // Largest segment payload we accept and advertise in the MSS option; the
  // engine derives it from the path MTU (MTU - IP - UDP - 20).
  uint16_t mss = 1460;
  // Limits, not allocations (buffers grow as data needs them): 4 MiB, as Linux autotunes
  // up to tcp_wmem[2], holds a long fat path's flight and its out-of-order data.
  size_t send_buffer = 4 << 20;
  size_t receive_buffer = 4 << 20;
  // The largest receive buffer the window scale must cover (RFC 7323 2.3), so
  // that the buffer can grow after the handshake; 0 = receive_buffer. Linux
  // sizes it from tcp_rmem[2] unless SO_RCVBUF was set before connect.
  size_t window_scale_space = 0;
  // Receive buffer autotuning (core/receive_autotune.hpp; Linux's tcp_moderate_rcvbuf):
  // the buffer, and the window offered, starts at receive_autotune_initial and grows
  // each round trip to about twice what the program consumed in it, up to
  // receive_buffer. Off, the buffer is receive_buffer from the handshake on (what the
  // scripted tests assume). The engine turns it on for sockets whose SO_RCVBUF the
  // program did not set; set_receive_buffer_limit() stops it.
  bool receive_autotune = false;
  // Linux's initial receive window: tcp_rmem[1] = 128 KiB of buffer, of which half is
  // window (tcp_adv_win_scale = 1); at least 64 KiB also lets a 16-bit SYN window
  // (RFC 7323 2.2: never scaled) offer the whole of it.
  size_t receive_autotune_initial = 64 * 1024;
  RttConfig rtt;
  int syn_retries = 6;           // Linux tcp_syn_retries: SYN retransmissions before ETIMEDOUT
  int synack_retries = 5;        // Linux tcp_synack_retries
  int max_retransmissions = 15;  // Linux tcp_retries2: RTO expiries in a row before ETIMEDOUT
  Duration user_timeout{0};      // RFC 9293 3.8.3; 0 = off (max_retransmissions rules)
  Duration msl = std::chrono::seconds(30);               // TIME-WAIT lasts 2 * msl (RFC 9293 3.4.2)
  Duration delayed_ack = std::chrono::milliseconds(40);  // RFC 9293 3.8.6.3: < 0.5 s
  bool nodelay = false;                                  // disable Nagle (RFC 9293 3.7.4)
  bool sack = true;                                      // RFC 2018
  bool timestamps = true;                                // RFC 7323
  bool window_scaling = true;                            // RFC 7323
  bool pacing = true;  // spread each window over an RTT (CongestionController::pacing_rate)
  bool tail_loss_probe = true;  // RFC 8985 7 TLP (with SACK), Linux's tcp_early_retrans
  bool rack = true;             // RFC 8985 6 time-based loss detection (with SACK)
  // RFC 5682 F-RTO after a timeout (with SACK), Linux's tcp_frto (on by default there too).
  bool frto = true;
  std::string congestion_control = "cubic";
  uint32_t initial_window_segments = 10;  // RFC 6928
  bool keepalive = false;                 // RFC 9293 3.8.4 (off by default)
  Duration keepalive_idle = std::chrono::seconds(7200);
  Duration keepalive_interval = std::chrono::seconds(75);
  int keepalive_count = 9;
  int challenge_ack_limit = 10;  // challenge ACKs per second (RFC 5961 7)
  // DPLPMTUD (RFC 8899): off by default; the engine turns it on for real
  // paths. When on, the send MSS follows the probed path MTU, below `mss`.
  PlpmtudConfig plpmtud;
  // At most one ACK per this interval in reply to segments without data that
  // fail the sequence, PAWS or ACK checks (Linux's tcp_invalid_ratelimit): a
  // blind sender cannot make us reflect one ACK per forged segment.
  Duration invalid_ack_interval = std::chrono::milliseconds(500);
  // Delivery coalescing (delivery_due()): in-order bytes that came without PSH
  // may wait this long, or until kDeliveryBatch of them are readable, before
  // the program is handed them; 0 = at once (what the scripted tests assume).
  Duration delivery_coalesce{0};
};

// Our receive window shift for a configuration (RFC 7323 2.3): the smallest
// that lets the window field cover the largest receive buffer.
uint8_t receive_window_shift(const ConnectionConfig& config);
// Our RFC 7323 TS clock: microseconds plus the connection's random offset
// (RFC 7323 5.4), as in every TSval we send.
uint32_t ts_clock(Instant now, uint32_t ts_offset);

// What the caller chooses for a new connection: the ports (equal to the UDP
// ports), the initial send sequence number (see IsnGenerator, RFC 6528) and the
// random offset of our timestamp clock (RFC 7323 5.4).
struct OpenParams {
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  SeqNum iss;
  uint32_t ts_offset = 0;
};

enum class ConnectionEvent : uint8_t {
  kEstablished,  // handshake done (both sides)
  kReadable,     // new bytes or EOF to read
  kWritable,     // send buffer space freed
  kPeerClosed,   // the peer's FIN arrived: recv returns 0 once the bytes before it are read
  kError,        // error() is set: ECONNREFUSED, ECONNRESET, ETIMEDOUT
  kClosed,       // reached CLOSED: the object may be destroyed
};
const char* to_string(ConnectionEvent event);

// One datagram from poll_transmit_views(): header_len bytes at the start of the
// caller's buffer, then the payload where it lies in the send buffer (the second
// piece non-empty only where the ring wraps). The checksum covers all of it.
struct TransmitViews {
  size_t header_len = 0;  // 0: nothing to send now
  std::array<std::span<const uint8_t>, 2> payload{};
  size_t payload_size() const { return payload[0].size() + payload[1].size(); }
  size_t size() const { return header_len + payload_size(); }
};

class Connection {
 public:
  explicit Connection(const ConnectionConfig& config = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Active open: CLOSED -> SYN-SENT, queues a SYN (RFC 9293 3.10.1).
  void connect(Instant now, const OpenParams& params);
  // Passive open: CLOSED -> LISTEN. The demultiplexer gives each new remote a
  // connection in LISTEN and feeds it the SYN (RFC 9293 3.10.7.2).
  void listen(const OpenParams& params);
  // Passive open from a SYN cookie (RFC 4987 3.6, see core/syn_cookie.hpp):
  // the listener sent its SYN-ACK (ISS = params.iss) without keeping state,
  // and `ack` completes the handshake; `syn` is what the cookie remembers of
  // the client's SYN. CLOSED -> ESTABLISHED (the ACK's data and FIN are
  // processed too); returns false, and the connection is CLOSED, when `ack`
  // does not acknowledge params.iss.
  bool accept_cookie(Instant now, const OpenParams& params, const SynCookieOptions& syn,
                     const Segment& ack);

  // One datagram from the peer: parsed, checked and processed. Malformed input
  // is counted in stats() and dropped without any state change.
  void on_datagram(Instant now, std::span<const uint8_t> datagram);
  // An already parsed segment (RFC 9293 3.10.7 SEGMENT ARRIVES).
  void on_segment(Instant now, const Segment& segment);

  // Queues bytes for sending; returns how many fit in the send buffer. Returns 0
  // once the write side is shut or the connection failed.
  size_t send(Instant now, std::span<const uint8_t> data);
  // Copies received bytes out; returns how many (0 when nothing is readable).
  size_t recv(Instant now, std::span<uint8_t> out);
  // Zero-copy send(): free send-buffer space to fill (empty when send() would
  // take nothing), then send_commit() of the bytes written there.
  std::array<std::span<uint8_t>, 2> send_spans(size_t max);
  void send_commit(Instant now, size_t n);
  // Zero-copy recv(): the readable bytes in place, then recv_consume() of those used.
  std::array<std::span<const uint8_t>, 2> recv_spans() const {
    return rcv_.buffer.readable_spans();
  }
  size_t recv_consume(Instant now, size_t n);
  // SHUT_WR: a FIN follows the queued data (RFC 9293 3.10.4).
  void shutdown(Instant now);
  // close(): shutdown() and nothing more will be read; unread or later data
  // makes it an abort, as Linux does (RFC 2525 2.17).
  void close(Instant now);
  // ABORT: RST to the peer, CLOSED at once (RFC 9293 3.10.5).
  void abort(Instant now);

  // Writes the next datagram to send into out (which should hold mss + 60 bytes);
  // returns its size, 0 when there is nothing to send now.
  size_t poll_transmit(Instant now, std::span<uint8_t> out);
  // poll_transmit() without copying the payload: the header goes into out, the
  // payload stays in the send buffer and is handed out as views (out's size still
  // bounds the datagram, as for poll_transmit: a path MTU probe fits it). Byte for byte the
  // datagram poll_transmit() would have written, and the same state change. The views stay valid
  // until the send buffer's storage changes: send(), send_spans(), a new send buffer size
  // (SO_SNDBUF), or the connection's end; processing ACKs moves no byte, but frees room that the
  // next send() may fill. A caller that queues datagrams sends them before any of those. Example:
  //   TransmitViews v = c.poll_transmit_views(now, hdr);
  //   if (v.header_len) writev({hdr, v.header_len}, v.payload[0], v.payload[1]);
  TransmitViews poll_transmit_views(Instant now, std::span<uint8_t> out);
  // Runs the timers that are due.
  void on_timer(Instant now);
  // Earliest time on_timer() or poll_transmit() has work; nullopt when idle.
  std::optional<Instant> next_deadline() const;
  // When TIME-WAIT ends (RFC 9293 3.4.2, 2 MSL), while in it.
  std::optional<Instant> time_wait_ends() const { return timers_.time_wait; }

  std::optional<ConnectionEvent> poll_event();

  TcpState state() const { return state_; }
  int error() const { return error_; }  // 0 or an errno value
  bool is_established() const;
  // Bytes ready for recv().
  size_t readable() const { return rcv_.buffer.readable(); }
  // Whether the readable bytes should be handed to the program now, or may
  // wait for more (ConnectionConfig::delivery_coalesce). RFC 9293 3.9.1.2:
  // a sender sets PSH on the segment that empties its queue (the end of a
  // write, a request, a response), and data up to a PSH goes to the program
  // at once; a stream's segments without PSH are gathered, so that the
  // program wakes, and the bytes cross to it, once per batch rather than per
  // datagram. Due at once too: the peer's FIN, delivery_batch() bytes, or
  // bytes that waited delivery_coalesce (the timer in next_deadline()).
  bool delivery_due() const;
  // How many readable bytes make a batch: a quarter of the receive buffer, at
  // most kDeliveryBatch, so that the window never closes on bytes held back.
  size_t delivery_batch() const;
  static constexpr size_t kDeliveryBatch = 64 * 1024;
  // True once the peer's FIN has been consumed and nothing is left to read.
  bool read_eof() const { return rcv_.fin_received && rcv_.buffer.readable() == 0; }
  size_t send_space() const;
  // Bytes queued and not yet acknowledged.
  size_t send_queued() const { return snd_.buffer.size(); }
  // Bytes queued and not yet sent (RFC 9293 3.3.1: beyond SND.NXT).
  size_t send_unsent() const;
  // Receive coalescing (engine/receive_coalescing.hpp): how long the engine
  // may hold this connection's next datagrams to take them in one wake-up,
  // as a NIC's interrupt moderation holds packets. Nonzero only while a bulk
  // transfer is under way, judged from the datagram just passed to
  // on_datagram(): it carried a full-sized payload (a stream arrives), or it
  // found at least kCoalesceFlightSegments in flight (a stream leaves and
  // these are its ACKs). A request or response of less than a segment never
  // qualifies. Then a sixteenth of the smoothed round trip, at most
  // kMaxCoalesce: what the hold adds to the ACK clock and to RTT samples
  // stays small beside the round trip. Zero below kMinCoalesce, where a
  // sleep costs as much as the wake-ups it saves (loopback, a LAN).
  Duration coalesce_window() const;
  static constexpr uint32_t kCoalesceFlightSegments = 8;
  static constexpr int kCoalesceRttShift = 4;  // srtt / 16
  static constexpr Duration kMaxCoalesce{1000};
  static constexpr Duration kMinCoalesce{100};
  // An ACK is due now (RFC 9293 3.8.6.3: a second full-sized segment, data
  // out of order, ...): the next poll_transmit() sends one.
  bool ack_due() const { return rcv_.ack_now; }
  const ConnectionStats& stats() const { return stats_; }
  ConnectionInfo info() const;  // TCP_INFO-like snapshot
  // The congestion controller in use (tests, introspection).
  const CongestionController& congestion_controller() const { return *rec_.cc; }
  uint16_t local_port() const { return local_port_; }
  uint16_t remote_port() const { return remote_port_; }
  const ConnectionConfig& config() const { return config_; }

  // Options on an open connection, as Linux applies them (connection_options.cpp).
  // TCP_NODELAY can change at any time.
  void set_nodelay(bool on) { config_.nodelay = on; }
  // SO_KEEPALIVE, TCP_KEEPIDLE / KEEPINTVL / KEEPCNT (RFC 9293 3.8.4). Turning
  // keep-alive on arms the timer `idle` from now; a new idle time on a running
  // timer counts from the last segment received (as Linux's TCP_KEEPIDLE);
  // off disarms it. Example: c.set_keepalive(now, true, 60s, 10s, 5);
  void set_keepalive(Instant now, bool on, Duration idle, Duration interval, int count);
  // TCP_USER_TIMEOUT (RFC 9293 3.8.3), 0 = off: how long data may stay
  // unacknowledged, counted from when the outstanding data stopped making
  // progress (not from this call). Re-arms the retransmission timer to match.
  void set_user_timeout(Instant now, Duration timeout);
  // TCP_CONGESTION: swaps the controller by name, the new one taking over
  // cwnd and ssthresh (Linux re-initialises only the algorithm's state).
  // Returns false (nothing changed) for an unknown name.
  bool set_congestion_control(std::string_view name);
  // SO_SNDBUF: the send buffer's limit; never below the bytes it holds.
  void set_send_buffer_limit(size_t bytes);
  // SO_RCVBUF: the receive buffer's limit; stops autotuning. Growing announces the
  // larger window (up to what the window scale agreed in the handshake can express);
  // shrinking never takes back window already advertised (RFC 9293 3.8.6.2.2): the
  // buffer keeps what was promised and comes down to the limit as the program reads.
  // Example: after set_receive_buffer_limit(64 << 10) on a connection that offered 1 MiB,
  // the peer may still fill that 1 MiB, but each read lowers the right edge's reach
  // until the window fits in 64 KiB.
  void set_receive_buffer_limit(size_t bytes);
  // TCP_MAXSEG: an upper bound on the send MSS (0 = none). On an open
  // connection the MSS becomes min(peer's MSS option, ours, limit).
  void set_mss_limit(uint16_t limit);

  // Path MTU (RFC 8899, connection_pmtu.cpp). An ICMP Packet Too Big (or
  // ICMPv6) reporting `mtu`, with the start of the datagram it quotes (our
  // segment, from its TCP header on). Validated (RFC 8899 4.6.1: our ports, a
  // sequence number in flight, a size below what was sent) before it lowers
  // the MSS at once; returns false (counted) when rejected.
  bool on_packet_too_big(Instant now, uint32_t mtu, std::span<const uint8_t> quoted);
  // Our own stack refused a datagram as larger than the interface's `mtu`
  // (EMSGSIZE): the largest size the search may use becomes mtu.
  void on_local_mtu(Instant now, uint32_t mtu);
  const Plpmtud& plpmtud() const { return plpmtud_; }

 private:
  void open(const OpenParams& params, bool passive);

  // Input (connection_input.cpp), by state as in RFC 9293 3.10.7.
  void input_listen(Instant now, const Segment& seg);
  void input_syn_sent(Instant now, const Segment& seg);
  void input_synchronized(Instant now, const Segment& seg);
  bool segment_acceptable(const Segment& seg) const;
  bool process_rst(Instant now, const Segment& seg);
  bool process_ack(Instant now, const Segment& seg);
  void process_text(Instant now, const Segment& seg);
  void process_fin(Instant now, const Segment& seg);
  void update_send_window(const Segment& seg);
  void update_timestamps_on_input(const Segment& seg);
  // The RTT sample this ACK gave, if any (RFC 7323 4.2 or Karn's RFC 6298 3).
  std::optional<Duration> take_rtt_sample(Instant now, const Segment& seg,
                                          const CumulativeAckResult& acked);
  void on_handshake_done(Instant now);
  void apply_peer_syn_options(const SegmentHeader& syn);
  void send_challenge_ack(Instant now);
  void ack_unacceptable(Instant now, const Segment& seg);
  void note_dsack_below_rcv_nxt(const Segment& seg);

  // Output (connection_output.cpp).
  // Each returns the datagram's size; with `views`, a payload is left in the send
  // buffer and *views says where (out then holds only the header).
  size_t transmit(Instant now, std::span<uint8_t> out, TransmitViews* views);
  size_t emit(Instant now, std::span<uint8_t> out, SeqNum seq, uint8_t flags, size_t payload_offset,
              size_t payload_len, bool syn_options, TransmitViews* views = nullptr);
  size_t try_send_data(Instant now, std::span<uint8_t> out, TransmitViews* views);
  size_t send_retransmission(Instant now, std::span<uint8_t> out, TransmitViews* views);
  size_t emit_ack(Instant now, std::span<uint8_t> out);
  bool nagle_allows(size_t len, size_t max_payload) const;
  uint32_t max_payload(bool with_sacks) const;
  uint16_t window_field(bool syn);
  void fill_sack_blocks(TcpOptions& opts, size_t max_blocks);
  bool pacing_allows(Instant now) const;
  void mark_app_limited();
  void on_paced_send(Instant now, size_t bytes);
  static constexpr Duration kMaxPacingWait = std::chrono::seconds(1);  // Linux fq's clamp

  // Timers (connection_timers.cpp).
  void arm_rto(Instant now);
  void on_rto(Instant now);
  void arm_tail_loss_probe(Instant now);
  void on_tail_loss_probe(Instant now);
  void on_persist(Instant now);
  void on_keepalive(Instant now);
  void enter_time_wait(Instant now);
  void fail(int err);
  void become_closed();
  void set_state(TcpState s);
  void push_event(ConnectionEvent e);
  uint32_t ts_now(Instant now) const;
  uint32_t flight_size() const;
  uint32_t bytes_in_pipe() const { return rec_.bytes_in_pipe(); }
  bool in_recovery() const;
  // Unsent data and room for it in the peer's window.
  bool new_data_sendable() const;
  void note_ack_needed(Instant now, bool immediate);
  void maybe_update_window(size_t window_before);
  void note_read();  // after bytes were read: the delivery coalescing state
  // The receive buffer after the program consumed `n` bytes: grown by autotuning, or
  // brought down toward a lowered SO_RCVBUF (connection_receive_space.cpp).
  void resize_receive_buffer(Instant now, size_t n);
  // Bytes held unread plus the window last advertised: what the buffer must keep room
  // for (RFC 9293 3.8.6.2.2); 0 before the handshake.
  size_t promised_receive_space() const;
  void start_receive_autotune(Instant now);
  // Autotuning's view of a data segment taken in (`advanced`: the bytes it made
  // readable): its RTT sample, out-of-order growth.
  void autotune_on_segment(Instant now, const Segment& seg, size_t advanced);
  void grow_receive_space(size_t size);
  uint16_t effective_send_mss() const;
  void refresh_send_mss();
  // DPLPMTUD (connection_pmtu.cpp).
  std::optional<uint32_t> pmtu_probe_len(Instant now, size_t out_size);
  void on_pmtu_probe_sent(Instant now, SeqNum seq, uint32_t len);
  bool check_pmtu_probe(Instant now);
  size_t discount_probe_loss(Instant now, size_t newly_lost);
  bool in_probe_hole() const;
  void check_black_hole(Instant now);
  void after_mtu_drop(uint16_t mss_before);
  uint32_t mss_for_plpmtu(uint32_t mtu) const;

  ConnectionConfig config_;
  TcpState state_ = TcpState::kClosed;
  int error_ = 0;
  uint16_t local_port_ = 0;
  uint16_t remote_port_ = 0;
  uint32_t ts_offset_ = 0;
  RttEstimator rtt_;
  SendSequence snd_;
  ReceiveSequence rcv_;
  ReceiveAutotune autotune_;
  ConnectionTimers timers_;
  ConnectionStats stats_;
  // Options agreed in the handshake.
  bool sack_ok_ = false;
  // What loss recovery asks of the path MTU search (RFC 8899 4.4).
  struct RecoveryHost final : LossRecoveryHost {
    explicit RecoveryHost(Connection& c) : c_(c) {}
    size_t discount_probe_loss(Instant now, size_t newly_lost) override {
      return c_.discount_probe_loss(now, newly_lost);
    }
    bool in_probe_hole() const override { return c_.in_probe_hole(); }
    std::optional<SeqNum> pmtu_probe_seq() const override { return c_.pmtu_probe_seq_; }
    Connection& c_;
  };
  RecoveryHost recovery_host_{*this};
  // Loss recovery and the congestion controller (core/recovery).
  LossRecovery rec_;
  uint8_t pending_events_ = 0;                  // one bit per ConnectionEvent
  std::optional<SegmentHeader> pending_reset_;  // RST to send, even once CLOSED
  bool ts_ok_ = false;
  bool passive_ = false;
  uint16_t mss_limit_ = 0;  // TCP_MAXSEG, 0 = none
  Plpmtud plpmtud_;
  std::optional<SeqNum> pmtu_probe_seq_;  // the path MTU probe in flight
  SeqNum pmtu_probe_end_;
  std::optional<SeqNum> pmtu_hole_end_;  // a lost probe's bytes, not all acknowledged yet
};

// RFC 9293 3.10.7.1: the reset answering a segment for no connection (or for a
// CLOSED one); nullopt when the segment is itself an RST (never answered).
std::optional<SegmentHeader> reset_reply(const Segment& incoming);
// The same, written into out with the ports swapped; returns 0 for no reply.
size_t make_reset_reply(const Segment& incoming, std::span<uint8_t> out);

}  // namespace tou
