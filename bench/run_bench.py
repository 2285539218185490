#!/usr/bin/env python3
"""make bench: tou side by side with the kernel's TCP, UDT and SRT, in one run.

Every figure is measured here and now, on this machine: the same workload over
each transport, back to back, so the ratios mean something even when the
absolute numbers move with the machine's load. Writes bench/results.json (every
row) and bench/results.md (the tables the README shows).

  python3 bench/run_bench.py --bin build/bin [--seconds 5] [--out bench]
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time

LOOPBACK = "127.0.0.1"
# (name, one-way delay ms, loss) for the netns links; RTT is twice the delay.
IMPAIRED_LINKS = [("10 ms / 0%", 5, 0.0), ("50 ms / 0.1%", 25, 0.001),
                  ("50 ms / 1%", 25, 0.01), ("100 ms / 5%", 50, 0.05)]
LINK_RATE_MBIT = 100


class Run:
    """One process's outcome: its stdout, exit status, CPU seconds and peak RSS."""

    def __init__(self, out, status, cpu_s, max_rss_kib):
        self.out, self.status, self.cpu_s, self.max_rss_kib = out, status, cpu_s, max_rss_kib


def peak_rss_kib(pid, known):
    """The process's own high-water RSS (VmHWM) so far. wait4's ru_maxrss would
    not do: a child forked from this Python starts with Python's high water."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return max(known, int(line.split()[1]))
    except OSError:
        pass
    return known


def wait_run(proc, out_file, timeout, rss_kib=0):
    """Reaps proc (killed after timeout s) with its CPU time and peak RSS."""
    deadline = time.monotonic() + timeout
    while True:
        rss_kib = peak_rss_kib(proc.pid, rss_kib)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    return Run(out_file.read().decode(errors="replace"), proc.returncode,
               usage.ru_utime + usage.ru_stime, rss_kib)


def spawn(argv):
    out = tempfile.TemporaryFile()
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL), out


def free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind((LOOPBACK, 0))
        port = u.getsockname()[1]
        try:
            t.bind((LOOPBACK, port))  # free for the kernel-TCP runs too
        except OSError:
            return free_port()
        return port


def client_server(server_argv, client_argv, timeout):
    """Starts the server, runs the client to the end, stops the server."""
    server, server_out = spawn(server_argv)
    time.sleep(0.3)  # the server binds its port
    client, client_out = spawn(client_argv)
    client_run = wait_run(client, client_out, timeout)
    time.sleep(0.1)  # let the server finish closing before it is stopped
    server_rss = peak_rss_kib(server.pid, 0)
    os.kill(server.pid, signal.SIGINT)  # not Popen.send_signal: it would reap the exit status
    return client_run, wait_run(server, server_out, 5, server_rss)


def parse_json(run, what):
    try:
        return json.loads(run.out)
    except ValueError:
        raise RuntimeError(f"{what}: exit {run.status}, no JSON: {run.out[:300]!r}")


class Bench:
    def __init__(self, bin_dir, seconds):
        self.bin, self.seconds = bin_dir, seconds
        self.rows = []

    def tool(self, name):
        return os.path.join(self.bin, name)

    def record(self, row):
        self.rows.append(row)
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "section"), flush=True)

    def usage_fields(self, client, server, bytes_moved):
        cpu = client.cpu_s + server.cpu_s
        return {"cpu_s": round(cpu, 3),
                "cpu_s_per_gb": round(cpu / (bytes_moved / 1e9), 3) if bytes_moved else None,
                "peak_rss_mib": round(max(client.max_rss_kib, server.max_rss_kib) / 1024, 1)}

    # tou-perf over tou or the kernel's TCP ("--tcp"), on loopback.
    def perf(self, transport, client_args):
        port = free_port()
        tcp = ["--tcp"] if transport == "tcp" else []
        client, server = client_server(
            [self.tool("tou-perf"), "-s", "-p", str(port)] + tcp,
            [self.tool("tou-perf"), "-c", LOOPBACK, "-p", str(port), "--json"] + tcp + client_args,
            timeout=self.seconds * 3 + 30)
        return parse_json(client, f"tou-perf {transport} {client_args}"), client, server

    def loopback_bulk(self):
        print(f"== loopback bulk goodput, {self.seconds} s", flush=True)
        for streams in (1, 4):
            for transport in ("tou", "tcp"):
                doc, client, server = self.perf(
                    transport, ["-t", str(self.seconds), "-P", str(streams), "-i", "0"])
                received = doc["end"]["sum_received"]
                row = {"section": "bulk", "transport": transport, "streams": streams,
                       "gbit_s": round(received["bits_per_second"] / 1e9, 2),
                       "retransmits": doc["end"]["sum_sent"]["retransmits"]}
                row.update(self.usage_fields(client, server, received["bytes"]))
                self.record(row)

    def loopback_latency(self):
        print(f"== loopback request/response and connection rate, {self.seconds} s", flush=True)
        for size in (1, 1024):
            for transport in ("tou", "tcp"):
                doc, client, server = self.perf(
                    transport, ["--rr", "--size", str(size), "-t", str(self.seconds), "-i", "0"])
                rr = doc["end"]["rr"]
                self.record({"section": "rr", "transport": transport, "size": size,
                             "p50_us": round(rr["latency_us"]["p50"], 1),
                             "p99_us": round(rr["latency_us"]["p99"], 1),
                             "per_second": round(rr["per_second"]),
                             "cpu_s": round(client.cpu_s + server.cpu_s, 2)})
        for transport in ("tou", "tcp"):
            doc, client, server = self.perf(transport, ["--crr", "-t", str(self.seconds), "-i", "0"])
            crr = doc["end"]["crr"]
            self.record({"section": "crr", "transport": transport,
                         "per_second": round(crr["per_second"]),
                         "p50_us": round(crr["latency_us"]["p50"], 1),
                         "p99_us": round(crr["latency_us"]["p99"], 1),
                         "cpu_s": round(client.cpu_s + server.cpu_s, 2)})

    # udt-perf / srt-perf (bench/peers): the same bulk and RR workloads.
    def peers(self):
        print("== UDT and SRT (file mode) on loopback", flush=True)
        for name in ("udt", "srt"):
            binary = self.tool(f"{name}-perf")
            if not os.path.exists(binary):
                print(f"  {name}-perf not built: skipped", flush=True)
                continue
            bulk_bytes = str(int(2e9))
            port = free_port()
            client, server = client_server([binary, "-s", str(port)],
                                            [binary, "-c", LOOPBACK, str(port), "bulk", bulk_bytes],
                                            timeout=120)
            doc = parse_json(client, f"{name} bulk")
            row = {"section": "bulk", "transport": name, "streams": 1,
                   "gbit_s": round(doc["bits_per_second"] / 1e9, 2), "retransmits": None}
            row.update(self.usage_fields(client, server, doc["bytes"]))
            self.record(row)
            for size in (1, 1024):
                port = free_port()
                count = "2000" if name == "udt" else "200"  # SRT's file mode: ~15 ms a round trip
                client, server = client_server(
                    [binary, "-s", str(port)],
                    [binary, "-c", LOOPBACK, str(port), "rr", count, str(size)], timeout=120)
                doc = parse_json(client, f"{name} rr")
                self.record({"section": "rr", "transport": name, "size": size,
                             "p50_us": doc["p50_us"], "p99_us": doc["p99_us"],
                             "per_second": doc["transactions_per_second"],
                             "cpu_s": round(client.cpu_s + server.cpu_s, 2)})

    # Goodput over a tou-netem --netns link: the same impaired link for everyone.
    def impaired(self):
        if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            print("== impaired links: skipped (needs root and /dev/net/tun)", flush=True)
            return
        seconds = max(self.seconds * 2, 10)
        print(f"== goodput over tou-netem --netns, {LINK_RATE_MBIT} Mbit/s, {seconds} s",
              flush=True)
        for link, delay_ms, loss in IMPAIRED_LINKS:
            # A queue of one bandwidth-delay product, in 1500-byte packets.
            bdp_packets = max(10, int(LINK_RATE_MBIT * 1e6 / 8 * 2 * delay_ms / 1000 / 1500))
            for transport, cc in (("tou", "newreno"), ("tou", "cubic"), ("tcp", "cubic"),
                                  ("tcp", "bbr")):
                self.record(self.impaired_run(link, delay_ms, loss, bdp_packets, transport, cc,
                                              seconds))

    def impaired_run(self, link, delay_ms, loss, queue, transport, cc, seconds):
        tcp = " --tcp" if transport == "tcp" else ""
        perf = shlex.quote(self.tool("tou-perf"))
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            server = f"exec {perf} -s -p 5201{tcp}"
            # The server in A needs a moment to bind before B connects.
            client = (f"sleep 1; exec {perf} -c $TOU_NETEM_A -p 5201 -t {seconds} -i 0 --json"
                      f" --cc {cc}{tcp} > {shlex.quote(out.name)}")
            argv = [self.tool("tou-netem"), "--netns", "--quiet", "--delay", str(delay_ms),
                    "--loss", str(loss), "--rate", str(LINK_RATE_MBIT), "--queue", str(queue),
                    "--seed", "1", "--a", server, "--b", client]
            status = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=seconds * 3 + 60).returncode
            row = {"section": "impaired", "link": link, "transport": transport, "cc": cc}
            try:
                doc = json.load(open(out.name))
                row["mbit_s"] = round(doc["end"]["sum_received"]["bits_per_second"] / 1e6, 2)
                row["retransmits"] = doc["end"]["sum_sent"]["retransmits"]
            except (ValueError, KeyError):
                row["mbit_s"], row["error"] = None, f"tou-netem exit {status}"
            return row


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


def markdown(rows, meta):
    def find(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), {})

    lines = [f"# tou benchmark results", "",
             f"Measured {meta['date']} on {meta['machine']} by `make bench` "
             f"({meta['seconds']} s per run). Ratios are tou ÷ other, measured in the same run.", ""]
    lines += ["## Loopback bulk goodput", "",
              "| transport | streams | Gbit/s | tou ÷ this | CPU s per GB | peak RSS MiB |",
              "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["section"] == "bulk"):
        tou = find(section="bulk", transport="tou", streams=r["streams"]).get("gbit_s")
        lines.append(f"| {r['transport']} | {r['streams']} | {r['gbit_s']} | "
                     f"{ratio(tou, r['gbit_s']) if r['transport'] != 'tou' else ''} | "
                     f"{r.get('cpu_s_per_gb')} | {r.get('peak_rss_mib')} |")
    lines += ["", "Peak RSS is the processes' own memory: the kernel TCP rows' socket buffers "
                  "live in the kernel and are not counted; tou's and UDT's and SRT's are.",
              "", "## Loopback request/response latency (one outstanding)", "",
              "| transport | size | p50 µs | p99 µs | transactions/s | p50 ÷ kernel TCP |",
              "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["section"] == "rr"):
        tcp = find(section="rr", transport="tcp", size=r["size"]).get("p50_us")
        lines.append(f"| {r['transport']} | {r['size']} B | {r['p50_us']} | {r['p99_us']} | "
                     f"{r['per_second']} | {ratio(r['p50_us'], tcp)} |")
    lines += ["", "## Connection setup rate (connect, 1-byte request/response, close)", "",
              "| transport | connections/s | p50 µs | p99 µs |", "|---|---|---|---|"]
    for r in (r for r in rows if r["section"] == "crr"):
        lines.append(f"| {r['transport']} | {r['per_second']} | {r['p50_us']} | {r['p99_us']} |")
    impaired = [r for r in rows if r["section"] == "impaired"]
    if impaired:
        lines += ["", f"## Goodput over tou-netem --netns ({LINK_RATE_MBIT} Mbit/s, "
                      "1-BDP queue; link = RTT / loss)", "",
                  "| link | tou NewReno | tou CUBIC | kernel CUBIC | kernel BBR |",
                  "|---|---|---|---|---|"]
        for link, _, _ in IMPAIRED_LINKS:
            cells = [find(section="impaired", link=link, transport=t, cc=c).get("mbit_s")
                     for t, c in (("tou", "newreno"), ("tou", "cubic"), ("tcp", "cubic"),
                                  ("tcp", "bbr"))]
            lines.append(f"| {link} | " + " | ".join(f"{c} Mbit/s" if c is not None else "—"
                                                     for c in cells) + " |")
    lines += ["", "Reproduce: `make bench` (root, for the netns links). Raw rows: "
                  "`bench/results.json`.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the build's bin directory")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--seconds", type=int, default=5, help="seconds per timed run")
    parser.add_argument("--only", choices=["bulk", "latency", "peers", "impaired"], action="append")
    args = parser.parse_args()

    bench = Bench(os.path.abspath(args.bin), args.seconds)
    sections = {"bulk": bench.loopback_bulk, "latency": bench.loopback_latency,
                "peers": bench.peers, "impaired": bench.impaired}
    for name, run in sections.items():
        if not args.only or name in args.only:
            run()

    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.node()} ({os.cpu_count()} cores, Linux {platform.release()})",
            "seconds": args.seconds}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "rows": bench.rows}, f, indent=1)
    md = markdown(bench.rows, meta)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
