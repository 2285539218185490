#!/usr/bin/env bash
# A program linked with libtou itself, run under tou-run: the shim must stay
# out of its way (its tou sockets are libtou's, SO_DOMAIN reads AF_UNIX).
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs cc
libdir=$(cd "$BIN/../src" && pwd)
[[ -f $libdir/libtou.so ]] || skip "libtou.so is not in $libdir"

cat >"$WORK/aware.c" <<'C'
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <tou/tou.h>
#include <unistd.h>

int main(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int ls = tou_socket(AF_INET, SOCK_STREAM, 0);
  if (tou_bind(ls, (struct sockaddr*)&a, sizeof a) != 0 || tou_listen(ls, 8) != 0 ||
      tou_getsockname(ls, (struct sockaddr*)&a, &len) != 0) {
    perror("listen");
    return 1;
  }
  int c = tou_socket(AF_INET, SOCK_STREAM, 0);
  if (tou_connect(c, (struct sockaddr*)&a, sizeof a) != 0) {
    perror("connect");
    return 1;
  }
  int s = tou_accept(ls, NULL, NULL);
  char buf[8] = {0};
  if (write(c, "aware", 5) != 5 || read(s, buf, 5) != 5) return 1;
  int domain = 0;
  len = sizeof domain;
  getsockopt(s, SOL_SOCKET, SO_DOMAIN, &domain, &len); /* the descriptor itself */
  printf("%s %s\n", buf, domain == AF_UNIX ? "AF_UNIX" : "other");
  tou_close(c);
  tou_close(s);
  tou_close(ls);
  return 0;
}
C
cc "$WORK/aware.c" -I"$SRC/include" -L"$libdir" -ltou -Wl,-rpath,"$libdir" -o "$WORK/aware" ||
  fail "could not build the libtou program"
out=$(timeout 30 "$TOU_RUN" -s "$WORK/stats" "$WORK/aware") || fail "the libtou program failed: $out"
[[ $out == "aware AF_UNIX" ]] || fail "the libtou program printed '$out'"
(($(stat_sum "$WORK/stats" tou_sockets) == 0)) || fail "the shim made tou sockets of its own"
