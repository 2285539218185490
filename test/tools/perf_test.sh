#!/usr/bin/env bash
# tou-perf end to end on loopback: bulk (-t, -n, -P 4, -R) with its --json
# checked for consistency (streams sum to the total, bits_per_second =
# bytes*8/seconds, every byte sent was received, one interval per second),
# --rr, --crr and --connect-rate percentiles, --idle's held connections and
# their cost (also when descriptors run out), the same runs over the kernel's TCP (--tcp) with
# the same JSON shape, the text layout, -1, and bad command lines (exit 2).
source "$(dirname "$0")/lib.sh"

PERF=$BIN/tou-perf
[[ -x $PERF ]] || skip "tou-perf is not built"
T=$(scaled 2)

# check_bulk FILE STREAMS SECONDS BYTES: SECONDS 0 skips the interval count,
# BYTES 0 the exact total.
check_bulk() {
  python3 - "$@" <<'PY' || fail "bad bulk JSON in $1: $(head -c 3000 "$1")"
import json, sys
path, streams, seconds, total = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
d = json.load(open(path))
e = d["end"]
assert e["errors"] == [], e["errors"]
assert len(e["streams"]) == streams, len(e["streams"])
def rate_ok(x):
    assert x["bytes"] > 0 and x["seconds"] > 0, x
    assert abs(x["bits_per_second"] - x["bytes"] * 8 / x["seconds"]) <= 1e-6 * x["bits_per_second"], x
for side, key in (("sender", "sum_sent"), ("receiver", "sum_received")):
    assert sum(s[side]["bytes"] for s in e["streams"]) == e[key]["bytes"], side
    assert max(s[side]["seconds"] for s in e["streams"]) == e[key]["seconds"], side
    for x in [e[key]] + [s[side] for s in e["streams"]]:
        rate_ok(x)
# A graceful close delivers everything that was written.
assert e["sum_sent"]["bytes"] == e["sum_received"]["bytes"], (e["sum_sent"], e["sum_received"])
if total:
    assert e["sum_sent"]["bytes"] == total, (e["sum_sent"]["bytes"], total)
intervals = d["intervals"]
if seconds:
    # The intervals tile the run, each starting where the last ended; each but
    # the tail ends past a new multiple of the interval. A stall of a loaded
    # machine may merge intervals, never add any.
    step = d["start"]["interval"]
    end = intervals[-1]["sum"]["end"]
    assert 1 <= len(intervals) <= end / step + 1, (len(intervals), end, step)
    assert intervals[0]["sum"]["start"] == 0, intervals[0]["sum"]
    for a, b in zip(intervals, intervals[1:]):
        assert b["sum"]["start"] == a["sum"]["end"], (a["sum"], b["sum"])
        assert int(b["sum"]["start"] / step) > int(a["sum"]["start"] / step), (a["sum"], b["sum"])
    assert e["sum_sent"]["seconds"] >= 0.9 * seconds, e["sum_sent"]
for i in intervals:
    assert len(i["streams"]) == streams
    assert i["sum"]["bytes"] == sum(s["bytes"] for s in i["streams"])
    assert i["sum"]["end"] > i["sum"]["start"]
assert sum(i["sum"]["bytes"] for i in intervals) <= e["sum_sent"]["bytes"]
assert sum(i["sum"]["bytes"] for i in intervals) > 0
PY
}

# check_latency FILE MODE: percentiles ordered and positive, a positive rate.
check_latency() {
  python3 - "$@" <<'PY' || fail "bad $2 JSON in $1: $(head -c 3000 "$1")"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["end"]
assert e["errors"] == [], e["errors"]
r = e[sys.argv[2]]
l = r["latency_us"]
assert 0 < l["min"] <= l["p50"] <= l["p90"] <= l["p99"] <= l["max"], l
assert l["min"] <= l["mean"] <= l["max"], l
assert r["transactions"] > 0 and r["per_second"] > 0, r
assert abs(r["per_second"] - r["transactions"] / r["seconds"]) <= 1e-6 * r["per_second"], r
PY
}

# check_idle FILE WANTED: every connection held, at least one fd each, none failed.
check_idle() {
  python3 - "$@" <<'PY' || fail "bad idle JSON in $1: $(head -c 3000 "$1")"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["end"]
assert e["errors"] == [], e["errors"]
i = e["idle"]
wanted = int(sys.argv[2])
assert i["wanted"] == wanted and i["held"] == wanted, i
assert i["stopped_by"] == "", i
assert i["fds_after"] - i["fds_before"] >= wanted, i
assert i["fds_per_connection"] == (i["fds_after"] - i["fds_before"]) / wanted, i
assert i["rss_kib_before"] > 0 and i["rss_kib_after"] > 0, i
PY
}

# check_idle_exhausted FILE WANTED: descriptors ran out first; that is reported, not an error.
check_idle_exhausted() {
  python3 - "$@" <<'PY' || fail "bad exhausted idle JSON in $1: $(head -c 3000 "$1")"
import json, sys
i = json.load(open(sys.argv[1]))["end"]["idle"]
assert 0 < i["held"] < int(sys.argv[2]), i
assert i["stopped_by"].startswith("connection %d: " % (i["held"] + 1)), i
# /proc is still read with every other descriptor taken.
assert i["fds_after"] - i["fds_before"] >= i["held"] and i["rss_kib_after"] > 0, i
PY
}

# The keys of a JSON document, recursively, with list entries merged.
shape() {
  python3 -c '
import json, sys
def shape(v):
    if isinstance(v, dict): return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list): return [shape(v[0])] if v else []
    return type(v).__name__ if not isinstance(v, (int, float)) or isinstance(v, bool) else "number"
print(json.dumps(shape(json.load(open(sys.argv[1]))), sort_keys=True))' "$1"
}

client() { timeout 120 "$PERF" -c 127.0.0.1 "$@"; }

# --- tou ---
port=$(free_udp_port)
spawn timeout 600 "$PERF" -s -p "$port" >"$WORK/server.out" 2>&1
wait_for 10 udp_port_bound "$port" || fail "tou-perf -s did not bind"

note "bulk -t $T --json"
client -p "$port" -t "$T" --json >"$WORK/bulk.json" || fail "bulk run failed"
check_bulk "$WORK/bulk.json" 1 "$T" 0

note "bulk -n 64M --json"
client -p "$port" -n 64M --json >"$WORK/bytes.json" || fail "-n run failed"
check_bulk "$WORK/bytes.json" 1 0 $((64 * 1024 * 1024))

note "bulk -P 4 -t $T --json"
client -p "$port" -P 4 -t "$T" --json >"$WORK/parallel.json" || fail "-P 4 run failed"
check_bulk "$WORK/parallel.json" 4 "$T" 0

note "bulk -R -P 2 -t $T --json (the server sends)"
client -p "$port" -R -P 2 -t "$T" --json >"$WORK/reverse.json" || fail "-R run failed"
check_bulk "$WORK/reverse.json" 2 "$T" 0

note "bulk text layout: interval lines, sender and receiver summaries"
client -p "$port" -t "$T" -P 2 --cc newreno >"$WORK/bulk.txt" || fail "text run failed"
grep -Eq '^\[  1\] +0\.00-1\.[0-9]+ +sec .*bits/sec' "$WORK/bulk.txt" || fail "no interval line: $(cat "$WORK/bulk.txt")"
grep -Eq '^\[SUM\] .*bits/sec .* sender$' "$WORK/bulk.txt" || fail "no sender sum: $(cat "$WORK/bulk.txt")"
grep -Eq '^\[SUM\] .*bits/sec +receiver$' "$WORK/bulk.txt" || fail "no receiver sum"
if grep -q $'\r' "$WORK/bulk.txt"; then fail "status line written to a non-terminal"; fi

note "--rr and --crr"
client -p "$port" --rr --size 64 -t 1 --json >"$WORK/rr.json" || fail "--rr run failed"
check_latency "$WORK/rr.json" rr
client -p "$port" --crr -t 1 --json >"$WORK/crr.json" || fail "--crr run failed"
check_latency "$WORK/crr.json" crr
client -p "$port" --connect-rate -t 1 --json >"$WORK/connect.json" || fail "--connect-rate failed"
check_latency "$WORK/connect.json" connect

note "--idle: held connections and what they cost"
client -p "$port" --idle 40 -t 0.2 --json >"$WORK/idle.json" || fail "--idle run failed"
check_idle "$WORK/idle.json" 40
(ulimit -n 64 && client -p "$port" --idle 100 -t 0.2 --json) >"$WORK/idle_emfile.json" ||
  fail "--idle with few descriptors failed"
check_idle_exhausted "$WORK/idle_emfile.json" 100
client -p "$port" --rr -t 1 >"$WORK/rr.txt" || fail "--rr text run failed"
grep -Eq 'latency: min [0-9.]+ us, mean [0-9.]+ us, p50 [0-9.]+ us, p90 [0-9.]+ us, p99 [0-9.]+ us, max' \
  "$WORK/rr.txt" || fail "no latency line: $(cat "$WORK/rr.txt")"

# --- the kernel's TCP, the same workloads ---
tcp_port=$(free_tcp_port)
spawn timeout 600 "$PERF" -s --tcp -p "$tcp_port" >"$WORK/tcp_server.out" 2>&1
wait_for 10 bash -c "ss -Hltn 'sport = :$tcp_port' | grep -q ." || fail "tou-perf -s --tcp did not listen"

note "--tcp bulk -P 2 and --rr: the same JSON shape as tou"
client --tcp -p "$tcp_port" -P 2 -t "$T" --json >"$WORK/tcp_bulk.json" || fail "--tcp bulk failed"
check_bulk "$WORK/tcp_bulk.json" 2 "$T" 0
client -p "$port" -P 2 -t 1 --json >"$WORK/tou_bulk2.json" || fail "tou bulk -P 2 failed"
check_bulk "$WORK/tou_bulk2.json" 2 1 0
same_shape() {
  [[ "$(shape "$1")" == "$(shape "$2")" ]] || fail "JSON shapes differ: $(shape "$1") vs $(shape "$2")"
}
same_shape "$WORK/tcp_bulk.json" "$WORK/tou_bulk2.json"
client --tcp -p "$tcp_port" --rr --size 64 -t 1 --json >"$WORK/tcp_rr.json" || fail "--tcp --rr failed"
check_latency "$WORK/tcp_rr.json" rr
client --tcp -p "$tcp_port" --connect-rate -t 1 --json >"$WORK/tcp_connect.json" ||
  fail "--tcp --connect-rate failed"
check_latency "$WORK/tcp_connect.json" connect
same_shape "$WORK/tcp_connect.json" "$WORK/connect.json"
client --tcp -p "$tcp_port" --idle 40 -t 0.2 --json >"$WORK/tcp_idle.json" || fail "--tcp --idle failed"
check_idle "$WORK/tcp_idle.json" 40
same_shape "$WORK/tcp_idle.json" "$WORK/idle.json"
same_shape "$WORK/tcp_rr.json" "$WORK/rr.json"
client --tcp -p "$tcp_port" --crr -t 1 --json >"$WORK/tcp_crr.json" || fail "--tcp --crr failed"
check_latency "$WORK/tcp_crr.json" crr

note "-1: the server exits after one client"
port1=$(free_udp_port)
spawn timeout 60 "$PERF" -s -1 -p "$port1" >/dev/null
one_off=$!
wait_for 10 udp_port_bound "$port1" || fail "tou-perf -s -1 did not bind"
client -p "$port1" -t 1 -P 2 >/dev/null || fail "client of -1 failed"
status=0; wait "$one_off" || status=$?
[[ $status == 0 ]] || fail "tou-perf -s -1 exit status $status"

note "refused: exit 1 with a message"
status=0
client -p "$(free_udp_port)" -t 1 2>"$WORK/refused.err" >/dev/null || status=$?
[[ $status == 1 ]] || fail "refused: exit status $status"
grep -q "Connection refused" "$WORK/refused.err" || fail "refused: $(cat "$WORK/refused.err")"

note "bad command lines: exit 2 and the usage on stderr"
bad() {
  local status=0
  timeout 10 "$PERF" "$@" </dev/null >/dev/null 2>"$WORK/usage.err" || status=$?
  [[ $status == 2 ]] || fail "tou-perf $*: exit status $status, expected 2"
  grep -q "Usage" "$WORK/usage.err" || fail "tou-perf $*: no usage on stderr"
}
bad
bad -s -c 127.0.0.1
bad -c 127.0.0.1 -t 1 -n 1M
bad -c 127.0.0.1 --cc bogus
bad -c 127.0.0.1 -P 0
bad -c 127.0.0.1 --rr --crr
bad -c 127.0.0.1 --rr -R
bad -c 127.0.0.1 --connect-rate --crr
bad -c 127.0.0.1 --idle 5 -P 2
bad -c 127.0.0.1 --idle 0
bad -c 127.0.0.1 --idle 5 -n 1M
bad -s --idle 5
bad -c 127.0.0.1 -l 0
bad -c 127.0.0.1 -n 12Q
bad -c 127.0.0.1 -p 70000
bad -s -t 5
bad -c 127.0.0.1 -1
bad --bogus
timeout 10 "$PERF" --help >"$WORK/help.out" || fail "--help failed"
grep -q "Usage" "$WORK/help.out" || fail "--help printed no usage"

note "ok"
