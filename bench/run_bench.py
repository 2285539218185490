#!/usr/bin/env python3
"""make bench: tou side by side with the kernel's TCP (and UDT and SRT), in one run.

Every figure is measured here and now, on this machine: the same workload over
each transport, back to back, so the ratios mean something even when the
absolute numbers move with the machine's load. Writes bench/results.json (every
row) and bench/results.md (the tables the README shows).

  python3 bench/run_bench.py --bin build/bin [--seconds 5] [--out bench]
  python3 bench/run_bench.py --bin build/bin --only veth --only idle --quick

--only runs some groups (repeatable) and keeps the other groups' rows of the
existing results.json; --quick makes every run short, to reproduce one group in
minutes (its figures are noisier: the tables say --quick beside them). The
namespace groups (veth, links, reorder, fairness, and the external ones) need
root and /dev/net/tun. The row groups live in bench/lib/.
"""

import argparse
import datetime
import json
import os
import platform
import sys

from lib import external, links, local, peers, tables
from lib.bench import Bench

# name: (what runs, what it measures), in the order make bench runs them.
GROUPS = {
    "bulk": (local.loopback_bulk, "loopback bulk goodput, 1 and 4 streams, CPU s per GB"),
    "latency": (local.loopback_latency, "loopback request/response p50/p99, 1 B and 1 KiB"),
    "connections": (local.connection_rate,
                    "connect/request/close p50/p99 and rate; blocking connects per second"),
    "idle": (local.idle, "idle connections under ulimit -n 20000: held, fds and KiB each"),
    "exit": (local.exit_after_peer, "a server's close() after its client exited, to its exit"),
    "peers": (peers.peers, "UDT and SRT bulk and request/response (when built)"),
    "veth": (local.veth, "veth pair at MTU 1500: bulk 1 and 4 streams, 1-byte RR p50/p99"),
    "links": (links.links, "tou-netem links: RTT/loss, long fat lossy, shallow buffer"),
    "reorder": (links.reorder, "tou-netem link that reorders: each controller beside the kernel's"),
    "fairness": (links.fairness, "two flows on one link: Jain index, CUBIC's share beside BBR"),
    **{g: (run, f"bench/scenarios/{g}.py, when it exists") for g, run in external.groups().items()},
}


def merge(path, rows, ran):
    """The rows of groups not run now, from the results.json at path."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return [], {}
    kept = [r for r in old.get("rows", []) if r.get("group") and r["group"] not in ran]
    groups = {g: m for g, m in old.get("meta", {}).get("groups", {}).items()
              if g not in ran and any(r["group"] == g for r in kept)}
    return kept, groups


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="the build's bin directory")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--seconds", type=int, help="seconds per timed run (default 5, quick 2)")
    parser.add_argument("--only", choices=list(GROUPS), action="append", metavar="GROUP",
                        help="run only this group (repeatable): " + ", ".join(GROUPS))
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--list", action="store_true", help="name the groups and exit")
    parser.add_argument("--render", action="store_true",
                        help="only write results.md again from results.json")
    args = parser.parse_args()
    if args.list:
        for name, (_, what) in GROUPS.items():
            print(f"{name:12} {what}")
        return 0
    json_path = os.path.join(args.out, "results.json")
    if args.render:
        with open(json_path) as f:
            doc = json.load(f)
        write_markdown(args.out, doc["rows"], doc["meta"])
        return 0
    if not args.bin:
        parser.error("--bin is required")
    seconds = args.seconds or (2 if args.quick else 5)

    bench = Bench(os.path.abspath(args.bin), seconds, args.quick)
    ran = {}
    for name, (run, _) in GROUPS.items():
        if args.only and name not in args.only:
            continue
        start = len(bench.rows)
        run(bench)
        for row in bench.rows[start:]:
            row["group"] = name
        ran[name] = {"date": datetime.datetime.now(datetime.timezone.utc)
                     .strftime("%Y-%m-%d %H:%M UTC"), "seconds": seconds, "quick": args.quick,
                     "rounds": bench.rounds}

    os.makedirs(args.out, exist_ok=True)
    rows, groups = merge(json_path, bench.rows, ran) if args.only else ([], {})
    rows += bench.rows
    meta = {"machine": f"{platform.node()} ({os.cpu_count()} cores, Linux {platform.release()})",
            "groups": {**groups, **ran}}
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    write_markdown(args.out, rows, meta)
    return 0


def write_markdown(out, rows, meta):
    md = tables.markdown(rows, meta, external.GROUPS)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    print("\n" + md)


if __name__ == "__main__":
    sys.exit(main())
