/*
 * tou: TCP over UDP, behind the Berkeley socket API.
 *
 * Every call mirrors its BSD namesake: same arguments, 0 (or a count, or a
 * descriptor) on success, -1 with errno on failure. Every tou socket is a real
 * file descriptor: read(), write(), readv(), writev(), send(), recv(), poll(),
 * select(), epoll, fcntl(O_NONBLOCK), dup() and close() work on it unchanged.
 *
 * A background engine (worker threads, started by the first tou_socket() of a
 * process; see tou_set_workers) runs the protocol over UDP: a listening socket
 * owns one UDP socket per worker bound to its address and port, and every
 * connection it accepts shares that port; a client that called tou_bind()
 * gets its own UDP socket; other clients share ephemeral UDP ports (within a
 * worker), as Linux's TCP shares an ephemeral port: one port serves
 * connections to different peers, and several to one peer, told apart by the
 * TCP ports inside the segments (a connection's TCP port is its UDP port
 * unless another connection with that peer has it; then one of the ephemeral
 * range of its own). A peer's first 4 connections of a worker get UDP ports
 * of their own, so that a server's workers share them out.
 * getsockname/getpeername and accept name the TCP ports: the 4-tuple is the
 * same at both ends.
 * Descriptors in the process: the one the program holds per socket, the
 * engine's end of its socket pair, and the UDP sockets: 2 per connection
 * (accepted or client), 3 per bound client, at most 4 client UDP ports per
 * worker and source address (more only once one peer has used up the
 * ephemeral range of TCP ports on 8 of them), 1 + 2W per listener with W
 * workers (3 with one), plus an epoll and an eventfd per worker (and, once
 * the process has forked, the option relay's AF_UNIX socket), numbered from
 * 1024 up (or half the soft RLIMIT_NOFILE below 2048). The engine lives in
 * the process that created the sockets; a child made by fork() can read,
 * write, close, accept and set options on inherited descriptors (the
 * parent's engine serves them while the parent runs), and gets an engine of
 * its own if it creates tou sockets itself.
 *
 * Example: an echo server and a client (error handling shortened).
 *
 *   // server
 *   int ls = tou_socket(AF_INET, SOCK_STREAM, 0);
 *   struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7000)};
 *   a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
 *   if (tou_bind(ls, (struct sockaddr*)&a, sizeof a) < 0) perror("tou_bind");
 *   tou_listen(ls, 128);
 *   for (;;) {
 *     int c = tou_accept(ls, NULL, NULL);
 *     char buf[4096];
 *     ssize_t n;
 *     while ((n = read(c, buf, sizeof buf)) > 0) write(c, buf, n);
 *     close(c);
 *   }
 *
 *   // client
 *   int s = tou_socket(AF_INET, SOCK_STREAM, 0);
 *   if (tou_connect(s, (struct sockaddr*)&a, sizeof a) < 0) perror("tou_connect");
 *   write(s, "hello", 5);
 *   char buf[5];
 *   read(s, buf, sizeof buf);
 *   close(s);
 *
 * Link with -ltou (pkg-config tou, or find_package(tou) and tou::tou).
 */
#ifndef TOU_TOU_H
#define TOU_TOU_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TOU_API __attribute__((visibility("default")))
#else
#define TOU_API
#endif

/* Option level for tou's own options (tou_getsockopt / tou_setsockopt). */
#define SOL_TOU 0x746f75
/* SOL_TOU, get only, on a listening socket: struct tou_listener_info. */
#define TOU_LISTENER_INFO 1
/* SOL_TOU, int, on a socket before or after listen: SYN cookies (RFC 4987),
 * as Linux's net.ipv4.tcp_syncookies: 0 never, 1 (the default) once the
 * backlog of half-open connections is full, 2 for every SYN. */
#define TOU_SYNCOOKIES 2

/*
 * tou_socket: creates a socket and returns its descriptor.
 *   domain:   AF_INET or AF_INET6.
 *   type:     SOCK_STREAM, optionally | SOCK_NONBLOCK | SOCK_CLOEXEC.
 *   protocol: 0 or IPPROTO_TCP.
 * Errors: EAFNOSUPPORT (domain), EINVAL (unknown type flags),
 *   EPROTONOSUPPORT (type or protocol), EMFILE / ENFILE / ENOMEM.
 * Example: int fd = tou_socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
 */
TOU_API int tou_socket(int domain, int type, int protocol);

/*
 * tou_bind: binds the socket's UDP port (a real UDP bind: the port is taken
 * at once). Port 0 picks an ephemeral port; read it back with tou_getsockname.
 * Errors: EBADF, ENOTSOCK, EFAULT (addr NULL), EINVAL (short addrlen, or
 *   already bound, listening or connected), EAFNOSUPPORT (family differs from
 *   the socket's), EADDRINUSE (another socket, tou or UDP, holds the port),
 *   EADDRNOTAVAIL, EACCES.
 * Example: tou_bind(fd, (struct sockaddr*)&a, sizeof a);
 */
TOU_API int tou_bind(int fd, const struct sockaddr* addr, socklen_t addrlen);

/*
 * tou_listen: makes the socket a listener (binding an ephemeral port first if
 * it is not bound). Every datagram reaching the port goes to the connection of
 * its source address and TCP ports; a SYN with new ones opens a half-open
 * connection.
 * At most `backlog` connections may be half-open and at most `backlog` ready
 * but not yet accepted (1 <= backlog <= 4096 after clamping). SYNs beyond the
 * half-open bound are answered with SYN cookies (TOU_SYNCOOKIES; dropped when
 * they are off), SYNs beyond the ready bound are dropped; all are counted
 * (TOU_LISTENER_INFO). Calling it again changes the backlog.
 * The descriptor becomes readable when a connection is ready to accept, and
 * never writable (as a kernel listening socket).
 * Errors: EBADF, ENOTSOCK, EINVAL (connected or connecting), EADDRINUSE.
 */
TOU_API int tou_listen(int fd, int backlog);

/*
 * tou_accept, tou_accept4: takes one ready connection and returns its new
 * descriptor; blocks unless the listening descriptor is non-blocking (then
 * EAGAIN), and honours SO_RCVTIMEO (then EAGAIN). Works in any process that
 * holds the listening descriptor (fork, SCM_RIGHTS): several processes may
 * accept on one listener. addr/addrlen receive the peer's address (either may
 * be NULL; BSD truncation rules). flags: SOCK_NONBLOCK, SOCK_CLOEXEC.
 * Errors: EBADF, ENOTSOCK, EINVAL (not listening, or bad flags), EAGAIN,
 *   EINTR, EMFILE, ENFILE.
 * Example: int c = tou_accept4(ls, NULL, NULL, SOCK_CLOEXEC);
 */
TOU_API int tou_accept(int fd, struct sockaddr* addr, socklen_t* addrlen);
TOU_API int tou_accept4(int fd, struct sockaddr* addr, socklen_t* addrlen, int flags);

/*
 * tou_connect: opens a connection. A blocking socket waits until it is
 * established or fails; SO_SNDTIMEO bounds the wait (then ETIMEDOUT, and the
 * attempt is abandoned). A non-blocking socket returns EINPROGRESS at once; the
 * descriptor becomes writable when the attempt ends, and SO_ERROR tells how.
 * Without tou_bind the socket gets an ephemeral UDP port shared with other
 * connections (see the top of this file), and a TCP port: the UDP port, or
 * one of the ephemeral range no other connection (or TIME-WAIT) with this
 * peer on that UDP port uses.
 * Errors: EBADF, ENOTSOCK, EFAULT, EINVAL, EAFNOSUPPORT, EISCONN (connected
 *   or listening), EALREADY (a non-blocking attempt is under way),
 *   EINPROGRESS, ECONNREFUSED (the peer answered with RST, or its UDP port is
 *   closed), ETIMEDOUT (no answer after the SYN retries: TCP_SYNCNT, default
 *   6, about 127 s; or SO_SNDTIMEO passed), EADDRINUSE, EADDRNOTAVAIL (no
 *   descriptor left for a new UDP port), ENETUNREACH (no route).
 * After a failed connect the descriptor must be closed (POSIX leaves its state
 * unspecified).
 */
TOU_API int tou_connect(int fd, const struct sockaddr* addr, socklen_t addrlen);

/*
 * tou_shutdown: SHUT_WR sends FIN after the queued data and keeps reading;
 * SHUT_RD makes reads return 0 at once when nothing is queued, and sends
 * nothing: as on Linux, bytes that arrive later are still queued and
 * tou_recv returns them (a plain read() gives end-of-file); SHUT_RDWR both.
 * Errors: EBADF, ENOTSOCK, EINVAL (how), ENOTCONN.
 */
TOU_API int tou_shutdown(int fd, int how);

/*
 * tou_close: closes the descriptor (as close(2)). When every holder has
 * closed it, the connection closes gracefully: queued data is delivered, then
 * FIN. Unread received data, or SO_LINGER with a zero timeout, aborts it with
 * RST instead. SO_LINGER with a positive timeout makes tou_close wait (up to
 * that time) until the data is acknowledged.
 * When the process exits (exit() or return from main), the connections live
 * in it, so exit waits for them as a kernel would deliver in the background:
 * every connection is closed as by tou_close, and exit returns once every
 * FIN is acknowledged, giving up after 5 s without progress (60 s in all).
 * Errors: EBADF, ENOTSOCK.
 */
TOU_API int tou_close(int fd);

/*
 * tou_getsockname, tou_getpeername: the local / peer address (BSD truncation
 * rules: at most *addrlen bytes written, *addrlen set to the full size). An
 * unbound socket's local address is the wildcard with port 0.
 * Errors: EBADF, ENOTSOCK, EFAULT, ENOTCONN (getpeername without a connection).
 */
TOU_API int tou_getsockname(int fd, struct sockaddr* addr, socklen_t* addrlen);
TOU_API int tou_getpeername(int fd, struct sockaddr* addr, socklen_t* addrlen);

/*
 * tou_setsockopt, tou_getsockopt: socket options, with BSD's levels, names
 * and value types (int unless said otherwise):
 *   SOL_SOCKET:  SO_RCVBUF, SO_SNDBUF (bytes of the protocol's receive / send
 *                buffer, 4 KiB .. 64 MiB, default 1 MiB; accepted connections
 *                inherit the listener's; the value set is the value read back,
 *                not doubled. On a connected socket a larger buffer applies at
 *                once and a smaller one takes back no window already offered.
 *                SO_RCVBUF set before connect or listen also fixes the window
 *                scale, so the window can later grow only to about that size,
 *                as on Linux; otherwise it can grow to 64 MiB),
 *                SO_RCVTIMEO, SO_SNDTIMEO (struct timeval; SO_SNDTIMEO also
 *                bounds a blocking connect), SO_KEEPALIVE,
 *                SO_LINGER (struct linger), SO_REUSEADDR (bind may take over a
 *                port whose listener has closed while its connections live on),
 *                SO_ERROR (get only: the pending error, then 0), SO_TYPE,
 *                SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN (get only).
 *   IPPROTO_TCP: TCP_NODELAY, TCP_MAXSEG (an upper bound on the MSS, which is
 *                otherwise the path MTU minus the IP, UDP and TCP headers),
 *                TCP_USER_TIMEOUT (unsigned ms), TCP_KEEPIDLE, TCP_KEEPINTVL
 *                (seconds), TCP_KEEPCNT, TCP_SYNCNT (SYN retransmissions before
 *                ETIMEDOUT), TCP_CONGESTION (char[], "newreno", "cubic" or
 *                "bbr", the default; ENOENT otherwise), TCP_INFO (get only:
 *                struct tou_info).
 *   IPPROTO_IPV6: IPV6_V6ONLY (AF_INET6 sockets, before bind).
 *   SOL_TOU:     TOU_LISTENER_INFO (get only: struct tou_listener_info),
 *                TOU_SYNCOOKIES (int 0, 1 or 2; EINVAL otherwise).
 * Options set on a listening socket apply to the connections it accepts
 * later. On a connected socket every option takes effect at once, as on
 * Linux: keep-alive starts (first probe TCP_KEEPIDLE from now) or stops,
 * TCP_USER_TIMEOUT counts from when the unacknowledged data stopped making
 * progress (so it may abort at once), TCP_CONGESTION switches the controller
 * keeping cwnd and ssthresh, TCP_MAXSEG bounds the MSS in use. TCP_SYNCNT
 * only matters before connect.
 * In a process that only inherited the descriptor (a forking server's child,
 * SCM_RIGHTS), the call goes to the engine of the process that serves the
 * socket (which must still run, in the same network namespace) and acts as
 * there: a child's SO_KEEPALIVE starts the probes of the parent's engine.
 * Errors: EBADF, ENOTSOCK, ENOPROTOOPT (unknown level or name), EFAULT (NULL
 *   value or length), EINVAL (short length or bad value), ENOENT (unknown
 *   congestion control); from another process also EOPNOTSUPP (no engine
 *   serves the socket any more) and ETIMEDOUT (its engine did not answer
 *   within 2 s).
 * Example: int one = 1; tou_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
 */
TOU_API int tou_setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen);
TOU_API int tou_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen);

/*
 * tou_send, tou_recv: send(2) / recv(2) on the descriptor, with the errors of
 * the connection made exact: after the peer reset the connection tou_recv
 * fails with ECONNRESET and tou_send with ECONNRESET once, then EPIPE; with
 * MSG_NOSIGNAL no SIGPIPE is raised. ETIMEDOUT when the connection timed out.
 * A plain read() also fails with ECONNRESET after a reset (once, then it
 * reads end-of-file) while the process whose engine serves the socket holds a
 * descriptor for it; otherwise, and after a timeout, it reads end-of-file.
 * Flags: MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_WAITALL.
 * Errors: EBADF, ENOTSOCK, EAGAIN, EINTR, EPIPE, ECONNRESET, ETIMEDOUT,
 *   ENOTCONN, EOPNOTSUPP (MSG_OOB).
 */
TOU_API ssize_t tou_send(int fd, const void* buf, size_t len, int flags);
TOU_API ssize_t tou_recv(int fd, void* buf, size_t len, int flags);

/*
 * The engine's workers: threads, each with its own event loop, timers and
 * lock, serving the connections given to it. A client socket goes to one
 * worker (round robin); a listener's peers are spread over all of them by
 * the kernel (a hash of their addresses).
 * tou_set_workers: how many the engine starts, before the process's first
 *   tou_socket() (1 to 64). Without it the environment's TOU_WORKERS decides,
 *   else one a CPU up to 4. Errors: EINVAL, EBUSY (the engine runs already).
 * tou_workers: how many run (0 before the first tou_socket()).
 * tou_worker_of: which worker (0 .. tou_workers() - 1) serves a socket of
 *   this process's engine. Errors: EBADF, ENOTSOCK, ENOENT (a socket that
 *   another process's engine serves: inherited through fork() or SCM_RIGHTS).
 * Example: tou_set_workers(1);  // one thread, as before sharded workers
 */
TOU_API int tou_set_workers(int n);
TOU_API int tou_workers(void);
TOU_API int tou_worker_of(int fd);

/* States in tou_info.state, as Linux's TCP_ESTABLISHED ... numbering. */
enum {
  TOU_STATE_ESTABLISHED = 1,
  TOU_STATE_SYN_SENT = 2,
  TOU_STATE_SYN_RECEIVED = 3,
  TOU_STATE_FIN_WAIT_1 = 4,
  TOU_STATE_FIN_WAIT_2 = 5,
  TOU_STATE_TIME_WAIT = 6,
  TOU_STATE_CLOSED = 7,
  TOU_STATE_CLOSE_WAIT = 8,
  TOU_STATE_LAST_ACK = 9,
  TOU_STATE_LISTEN = 10,
  TOU_STATE_CLOSING = 11,
};

/* TCP_INFO (level IPPROTO_TCP) on a tou socket: a snapshot of one connection. */
struct tou_info {
  uint8_t state;      /* TOU_STATE_* */
  uint8_t snd_wscale; /* window scale shifts (RFC 7323) */
  uint8_t rcv_wscale;
  uint8_t options;    /* TOU_OPT_SACK | TOU_OPT_TIMESTAMPS */
  uint32_t rtt_us;    /* smoothed RTT (RFC 6298 SRTT) */
  uint32_t rttvar_us; /* RTTVAR */
  uint32_t min_rtt_us;
  uint32_t rto_us;      /* current RTO, backoff included */
  uint32_t snd_mss;     /* the MSS we send with */
  uint32_t rcv_mss;     /* the MSS we advertised */
  uint32_t cwnd;        /* congestion window, bytes */
  uint32_t ssthresh;    /* bytes */
  uint32_t flight_size; /* bytes sent and not acknowledged */
  uint32_t snd_wnd;     /* the peer's window, bytes */
  uint32_t rcv_wnd;     /* our advertised window, bytes */
  uint32_t in_recovery; /* 1 during fast recovery */
  uint64_t bytes_sent;  /* payload, first transmissions */
  uint64_t bytes_retransmitted;
  uint64_t bytes_received; /* payload delivered in order */
  uint64_t bytes_acked;
  uint64_t segments_sent;
  uint64_t segments_received;
  uint64_t segments_lost; /* segments retransmitted (RTO, fast retransmit, SACK) */
  uint64_t reordering;    /* out-of-order segments held by the reassembler */
  uint64_t rto_timeouts;
  uint64_t fast_recoveries;
  uint64_t dropped_malformed; /* datagrams from the peer's address that did not parse */
  /* Path MTU discovery (RFC 8899 DPLPMTUD); pmtu is 0 when it is off
   * (loopback peers, or TOU_PMTUD=0 in the environment). */
  uint32_t pmtu;        /* the path MTU sent with: IP bytes per datagram */
  uint32_t pmtud_state; /* TOU_PMTUD_* */
  uint64_t pmtu_probes_sent;
  uint64_t pmtu_probes_acked;
  uint64_t pmtu_probes_lost;
  uint64_t pmtu_ptb_accepted; /* ICMP "too big" reports validated and acted on */
  uint64_t pmtu_ptb_rejected; /* ... that named nothing in flight (or a size not smaller) */
  uint64_t pmtu_black_holes;  /* fall-backs to the base size without any ICMP */
  /* tou_send (and the preload shim's send family) calls whose bytes went
   * into the connection and onto the wire from the calling thread, past
   * the descriptor's socket pair (README, "Writes from the caller's thread"). */
  uint64_t inline_writes;
  /* Blocking tou_recv calls that received and served the connection's
   * datagrams themselves, from the calling thread, while they waited for its
   * bytes (README, "Reads in the caller's thread"). */
  uint64_t inline_reads;
  /* Datagrams of this connection that its worker took in a batch after
   * sleeping for them (README, "Receive coalescing"). */
  uint64_t coalesced_datagrams;
};
/* tou_info.pmtud_state (RFC 8899 5.2). */
enum {
  TOU_PMTUD_DISABLED = 0,
  TOU_PMTUD_BASE = 1,
  TOU_PMTUD_SEARCHING = 2,
  TOU_PMTUD_SEARCH_COMPLETE = 3,
  TOU_PMTUD_ERROR = 4,
};
#define TOU_OPT_SACK 1
#define TOU_OPT_TIMESTAMPS 2

/* TOU_LISTENER_INFO (level SOL_TOU) on a listening socket: its UDP port's counters. */
struct tou_listener_info {
  uint64_t datagrams_received; /* every datagram on the port, connections' included */
  uint64_t malformed;          /* from no connection's address, and not a valid segment */
  uint64_t syn_received;       /* SYNs that could open a connection */
  uint64_t syn_dropped;        /* SYNs dropped: accept queue full (or backlog, cookies off) */
  uint64_t resets_sent;        /* RSTs for segments that belong to no connection */
  uint64_t handed_over;        /* connections made ready for accept */
  uint32_t half_open;          /* now */
  uint32_t accept_queue;       /* now: ready and not yet accepted */
  /* SYN floods (RFC 4987) and rate limits; see README "SYN floods". */
  uint64_t syn_cookies_sent;          /* SYN-ACKs with a cookie (backlog full, or always) */
  uint64_t syn_cookies_validated;     /* connections made from a cookie */
  uint64_t syn_cookies_rejected;      /* ACKs with a forged, expired or foreign cookie */
  uint64_t half_open_evicted;         /* half-open connections dropped under pressure */
  uint64_t accept_overflows;          /* valid cookies dropped: accept queue full */
  uint64_t resets_suppressed;         /* RSTs over the rate limit (1000/s) */
  uint64_t time_wait_acks_suppressed; /* TIME-WAIT ACKs over the limit (2/s each) */
};

#ifdef __cplusplus
}
#endif

#endif /* TOU_TOU_H */
