#!/usr/bin/env bash
# make demo: a real transfer over tou on this machine, through an impaired link.
#   1. tou-perf through tou-netem (20 ms each way, 1% loss each way), live intervals;
#   2. a 50 MB file through the same link with tou-cat, checked by SHA-256.
# Loopback only; every step is bounded in time; everything it starts is stopped.
set -euo pipefail

BIN=${1:?usage: demo.sh BIN_DIR}
SECONDS_TO_RUN=${DEMO_SECONDS:-5}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tou-demo.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
LINK_PORT=$(free_udp_port)
SERVER_PORT=$(free_udp_port)

echo "== tou-netem: UDP link 127.0.0.1:$LINK_PORT -> 127.0.0.1:$SERVER_PORT, 20 ms delay and 1% loss each way"
"$BIN/tou-netem" --listen "127.0.0.1:$LINK_PORT" --forward "127.0.0.1:$SERVER_PORT" \
  --delay 20 --loss 0.01 --seed 1 2>"$WORK/netem.txt" &
NETEM=$!
PIDS+=("$NETEM")

echo "== tou-perf: ${SECONDS_TO_RUN} s of bulk transfer through the link (CUBIC)"
timeout 30 "$BIN/tou-perf" -s -1 -p "$SERVER_PORT" >/dev/null &
PIDS+=("$!")
sleep 0.3
timeout $((SECONDS_TO_RUN + 30)) "$BIN/tou-perf" -c 127.0.0.1 -p "$LINK_PORT" \
  -t "$SECONDS_TO_RUN" -i 1 --cc cubic --no-progress

echo
echo "== tou-cat: a 50 MB file through the same link"
head -c 50000000 /dev/urandom >"$WORK/sent"
timeout 120 "$BIN/tou-cat" -l 127.0.0.1 "$SERVER_PORT" </dev/null >"$WORK/received" &
RECEIVER=$!
PIDS+=("$RECEIVER")
sleep 0.3
start=$(date +%s.%N)
timeout 120 "$BIN/tou-cat" -v 127.0.0.1 "$LINK_PORT" <"$WORK/sent"
wait "$RECEIVER"
elapsed=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')")
sent_sum=$(sha256sum "$WORK/sent" | cut -d' ' -f1)
received_sum=$(sha256sum "$WORK/received" | cut -d' ' -f1)
echo "sent     $sent_sum"
echo "received $received_sum ($(stat -c %s "$WORK/received") bytes in $elapsed s)"
if [[ "$sent_sum" != "$received_sum" ]]; then
  echo "demo: FAILED, the file arrived damaged" >&2
  exit 1
fi

echo
echo "== tou-netem: what the link did"
kill -TERM "$NETEM"
wait "$NETEM" || true
cat "$WORK/netem.txt"
echo "demo: 50 MB delivered intact over tou through 20 ms delay and 1% loss"
