#!/usr/bin/env python3
"""make bench's pmtu group (see bench/lib/external.py): goodput on a path whose
middle hop has a smaller MTU. Namespaces A -- R -- B (tou-pmtu-bench-PID-*),
veths at 1500 except the router's side of R -- B at 1280, the shape of
test/tools/pmtu_test.sh. tou-perf over tou, then over the kernel's TCP, on the
same path in the same run:

  - the 1280 hop at veth speed (CPU-bound: the cost per byte decides),
  - the 1280 hop shaped to 200 Mbit/s by htb (when the kernel has it): there
    the protocol decides,
  - the same with the router's ICMP "fragmentation needed" black-holed: tou
    probes its way to 1280; the kernel's TCP without tcp_mtu_probing stalls.

  python3 bench/scenarios/pmtu.py --bin build/bin --seconds 5 [--quick]
prints one JSON document (title, columns, rows, note)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

RATE_MBIT = 200
PORT = 9177


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=20)


class Path:
    """with Path() as p: A (10.77.1.1) -- R -- B (10.77.2.1), R's hop to B at 1280."""

    def __init__(self):
        base = f"tou-pmtu-bench-{os.getpid()}"
        self.a, self.r, self.b = base + "-a", base + "-r", base + "-b"

    def ns(self):
        return (self.a, self.r, self.b)

    def __enter__(self):
        try:
            for ns in self.ns():
                ip("netns", "add", ns)
                ip("-n", ns, "link", "set", "lo", "up")
            ip("link", "add", "va", "netns", self.a, "type", "veth", "peer", "name", "vra",
               "netns", self.r)
            ip("link", "add", "vrb", "netns", self.r, "type", "veth", "peer", "name", "vb",
               "netns", self.b)
            for ns, dev, mtu, addr in ((self.a, "va", 1500, "10.77.1.1/24"),
                                       (self.r, "vra", 1500, "10.77.1.2/24"),
                                       (self.r, "vrb", 1280, "10.77.2.2/24"),
                                       (self.b, "vb", 1500, "10.77.2.1/24")):
                ip("-n", ns, "addr", "add", addr, "dev", dev)
                ip("-n", ns, "link", "set", dev, "mtu", str(mtu), "up")
            ip("-n", self.a, "route", "add", "default", "via", "10.77.1.2")
            ip("-n", self.b, "route", "add", "default", "via", "10.77.2.2")
            subprocess.run(["ip", "netns", "exec", self.r, "sysctl", "-qw",
                            "net.ipv4.ip_forward=1"], check=True, timeout=20)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in self.ns():
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            ip("netns", "del", ns, check=False)

    def shape(self):
        """htb at RATE_MBIT on the narrow hop; False when the kernel has no htb."""
        tc = ["ip", "netns", "exec", self.r, "tc"]
        ok = subprocess.run(tc + ["qdisc", "add", "dev", "vrb", "root", "handle", "1:", "htb",
                                  "default", "10"], capture_output=True).returncode == 0
        return ok and subprocess.run(
            tc + ["class", "add", "dev", "vrb", "parent", "1:", "classid", "1:10", "htb", "rate",
                  f"{RATE_MBIT}mbit", "ceil", f"{RATE_MBIT}mbit"],
            capture_output=True).returncode == 0

    def blackhole_icmp(self):
        ip("-n", self.r, "route", "add", "blackhole", "default", "table", "77")
        ip("-n", self.r, "rule", "add", "ipproto", "icmp", "lookup", "77", "pref", "77")

    def goodput(self, perf, transport, seconds):
        """Mbit/s B received from A (0 when the transfer stalled)."""
        ip("-n", self.a, "route", "flush", "cache")  # nothing learned by an earlier run
        extra = ["--tcp"] if transport == "tcp" else []
        server = subprocess.Popen(["ip", "netns", "exec", self.b, "timeout", "-k", "5",
                                   str(seconds + 30), perf, "-s", "-1", "-p", str(PORT), *extra],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            with tempfile.TemporaryFile() as out:
                subprocess.run(["ip", "netns", "exec", self.a, "timeout", "-k", "5",
                                str(seconds + 30), perf, "-c", "10.77.2.1", "-p", str(PORT), "-t",
                                str(seconds), "-J", *extra], stdout=out,
                               stderr=subprocess.DEVNULL, timeout=seconds + 40)
                out.seek(0)
                try:
                    doc = json.loads(out.read().decode(errors="replace"))
                    return round(doc["end"]["sum_received"]["bits_per_second"] / 1e6, 1)
                except (ValueError, KeyError):
                    return 0.0
        finally:
            server.kill()
            server.wait()


def best_pair(path, perf, seconds, quick):
    """tou and kernel back to back (tou, kernel, kernel, tou unless quick), each one's best."""
    order = ["tou", "tcp"] if quick else ["tou", "tcp", "tcp", "tou"]
    best = {"tou": 0.0, "tcp": 0.0}
    for t in order:
        best[t] = max(best[t], path.goodput(perf, t, seconds))
    return best


def row(workload, best):
    ratio = f"{best['tou'] / best['tcp']:.2f}×" if best["tcp"] > 0 else "kernel stalled"
    return {"workload": workload, "tou": best["tou"], "kernel TCP": best["tcp"],
            "tou ÷ kernel": ratio}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    seconds = max(1, int(args.seconds))
    perf = os.path.join(args.bin, "tou-perf")
    doc = {"title": "Goodput (Mbit/s) across a 1280-byte hop between 1500-byte ends",
           "columns": ["workload", "tou", "kernel TCP", "tou ÷ kernel"], "rows": []}
    if os.geteuid() != 0:
        doc["note"] = "skipped: needs root (network namespaces)"
        print(json.dumps(doc))
        return 0
    notes = []
    with Path() as path:
        doc["rows"].append(row("bulk, veth speed, ICMP working",
                               best_pair(path, perf, seconds, args.quick)))
        if path.shape():
            doc["rows"].append(row(f"bulk, hop shaped to {RATE_MBIT} Mbit/s, ICMP working",
                                   best_pair(path, perf, seconds, args.quick)))
            path.blackhole_icmp()
            doc["rows"].append(row(f"bulk, hop shaped to {RATE_MBIT} Mbit/s, ICMP black-holed",
                                   best_pair(path, perf, seconds, args.quick)))
        else:
            notes.append("no htb in this kernel: the shaped rows are missing")
    notes.append("tou finds the path MTU by DPLPMTUD (RFC 8899); the kernel's TCP by ICMP "
                 "(tcp_mtu_probing off, its default), so it stalls when ICMP is black-holed.")
    doc["note"] = " ".join(notes)
    print(json.dumps(doc, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
