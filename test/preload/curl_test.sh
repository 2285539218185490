#!/usr/bin/env bash
# curl fetches a 5 MB file from `python3 -m http.server`, both under tou-run:
# the copy must be byte-exact and the HTTP connection must have been tou's.
source "$(dirname "$0")/../tools/lib.sh"
need_preload
need_programs curl python3 ss sha256sum
# curl (Debian 12's) hangs at start-up when GCC 12's ASan runtime is preloaded
# into it, shim or not (LD_PRELOAD=libasan.so curl --version never returns):
# gdb shows its second setlocale() (LC_CTYPE, "C", after LC_ALL, "" went
# through ASan's setlocale interceptor) waiting forever on glibc's
# __libc_setlocale_lock, in a single-threaded process. No ASAN_OPTIONS we
# tried (string, intrinsic and printf interceptors off) avoids it.
[[ ${TOU_SANITIZE:-} != address ]] || skip "curl hangs with the ASan runtime preloaded, even without the shim"
# The system's python (a pyenv shim would only add an exec chain).
python=$(command -v /usr/bin/python3 || command -v python3)

bytes=$(($(scaled 5) * 1000 * 1000))
mkdir "$WORK/www"
random_file "$WORK/www/file.bin" "$bytes"
port=$(free_udp_port)
spawn timeout 120 "$TOU_RUN" -s "$WORK/server" "$python" -m http.server --bind 127.0.0.1 \
  --directory "$WORK/www" "$port" >"$WORK/server.log" 2>&1
wait_for 20 udp_port_bound "$port" || fail "http.server did not bind UDP port $port"
! tcp_port_listening "$port" || fail "a kernel TCP listener on port $port"

timeout 60 "$TOU_RUN" -s "$WORK/client" curl -sS --fail --max-time 50 -o "$WORK/got.bin" \
  "http://127.0.0.1:$port/file.bin" || fail "curl failed"
[[ $(sha256 "$WORK/got.bin") == $(sha256 "$WORK/www/file.bin") ]] || fail "the copy differs"
grep -q '"GET /file.bin HTTP/1.1" 200' "$WORK/server.log" || fail "http.server logged no GET"
(($(stat_sum "$WORK/client" tou_connects) == 1)) || fail "curl made no tou connection"
(($(stat_sum "$WORK/client" bytes_received) >= bytes)) || fail "curl did not receive over tou"
(($(stat_sum "$WORK/client" kernel_sockets) == 0)) || fail "curl used kernel TCP"
note "curl over tou: $bytes bytes byte-exact"
