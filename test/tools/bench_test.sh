#!/usr/bin/env bash
# make bench's runner (bench/run_bench.py and bench/lib): --list names every
# group; tou's controllers come from tou-perf; the tables compute their ratios
# from the rows; a short run of two loopback groups writes rows for tou and the
# kernel's TCP, and --only keeps the rows of the groups it did not run.
source "$(dirname "$0")/lib.sh"

[[ -x $BIN/tou-perf ]] || skip "tou-perf is not built"
RUN=(timeout 300 python3 "$SRC/bench/run_bench.py")

note "--list"
"${RUN[@]}" --list >"$WORK/list.txt" || fail "--list failed"
for g in bulk latency connections idle exit peers veth links reorder fairness synflood pmtu; do
  grep -q "^$g " "$WORK/list.txt" || fail "--list does not name $g: $(cat "$WORK/list.txt")"
done

note "controllers, Jain's index and the tables, from made-up rows"
PYTHONPATH="$SRC/bench" python3 - "$BIN/tou-perf" <<'PY' || fail "bench/lib checks failed"
import sys
from lib import bench, links, tables
ccs = bench.tou_controllers(sys.argv[1])
assert "newreno" in ccs and "cubic" in ccs, ccs
assert links.jain([10, 10]) == 1.0 and links.jain([10, 0]) == 0.5, links.jain([10, 0])
rows = [{"section": "bulk", "transport": "tou", "streams": 1, "gbit_s": 5.0, "cpu_s_per_gb": 3.0},
        {"section": "bulk", "transport": "tcp", "streams": 1, "gbit_s": 10.0, "cpu_s_per_gb": 1.0}]
for t, cc, mbit in (("tou", "cubic", 45.0), ("tou", "bbr", 90.0), ("tcp", "cubic", 50.0),
                    ("tcp", "bbr", 100.0)):
    rows.append({"section": "links", "link": links.LINKS[1].name, "transport": t, "cc": cc,
                 "mbit_s": mbit})
meta = {"machine": "test", "groups": {"bulk": {"date": "d", "seconds": 1, "quick": True}}}
md = tables.markdown(rows, meta, [])
assert "| tcp | 1 | 10.0 | 0.50× | 1.0 | 3.00× |" in md, md
assert "| tou cubic | kernel cubic | tou bbr | kernel bbr |" in md, md
assert "| 0.90× | 0.90× |" in md, md
assert "Connection rate" not in md  # no rows, no table
PY

note "--only connections, then --only latency: both groups' rows kept"
"${RUN[@]}" --bin "$BIN" --only connections --quick --seconds 1 --out "$WORK" >"$WORK/run1.txt" 2>&1 ||
  fail "--only connections failed: $(tail -20 "$WORK/run1.txt")"
"${RUN[@]}" --bin "$BIN" --only latency --quick --seconds 1 --out "$WORK" >"$WORK/run2.txt" 2>&1 ||
  fail "--only latency failed: $(tail -20 "$WORK/run2.txt")"
python3 - "$WORK/results.json" <<'PY' || fail "bad results.json: $(head -c 3000 "$WORK/results.json")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["rows"]
def pick(section):
    return {r["transport"]: r for r in rows if r["section"] == section}
for section, group in (("crr", "connections"), ("connect", "connections"), ("rr", "latency")):
    got = pick(section)
    assert set(got) == {"tou", "tcp"}, (section, got)
    for r in got.values():
        assert r["group"] == group and r["per_second"] > 0 and 0 < r["p50_us"] <= r["p99_us"], r
assert set(d["meta"]["groups"]) == {"connections", "latency"}, d["meta"]
assert all(g["quick"] for g in d["meta"]["groups"].values()), d["meta"]
PY
grep -q "^## Connection rate" "$WORK/results.md" || fail "no connection table in results.md"
grep -q "^## Loopback request/response" "$WORK/results.md" || fail "no rr table in results.md"

note "ok"
