"""Row groups over tou-netem --netns: two namespaces whose every packet crosses
an emulated link (rate, delay, loss, reordering, a drop-tail queue), the same
link for tou and for the kernel's TCP, one after the other in the same run.

  links:    goodput of each controller over lossy, long fat and shallow links
  reorder:  a link that reorders and loses nothing, each controller beside the
            kernel's same controller
  fairness: two flows sharing one link at once"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

CPUWRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpuwrap.py")
PACKET_BYTES = 1500
BASE_PORT = 5201


class Link:
    """One emulated link, the same both ways. queue None: one bandwidth-delay product."""

    def __init__(self, name, rate_mbit, rtt_ms, loss=0.0, queue=None, reorder=0.0,
                 reorder_delay_ms=0.0):
        self.name, self.rate_mbit, self.rtt_ms, self.loss = name, rate_mbit, rtt_ms, loss
        self.reorder, self.reorder_delay_ms = reorder, reorder_delay_ms
        self.queue = queue if queue is not None else self.bdp_packets()

    def bdp_packets(self):
        return max(10, int(self.rate_mbit * 1e6 / 8 * self.rtt_ms / 1000 / PACKET_BYTES))

    def netem_args(self):
        args = ["--delay", str(self.rtt_ms / 2), "--loss", str(self.loss), "--rate",
                str(self.rate_mbit), "--queue", str(self.queue)]
        if self.reorder:
            args += ["--reorder", str(self.reorder), "--reorder-delay",
                     str(self.reorder_delay_ms)]
        return args

    def describe(self):
        return {"link": self.name, "rate_mbit": self.rate_mbit, "rtt_ms": self.rtt_ms,
                "loss": self.loss, "queue_packets": self.queue}


# Goodput rows (issue 10): RTT / random loss at 100 Mbit/s with a 1-BDP queue,
# a long fat lossy link and a shallow buffer.
LINKS = [Link("20 ms / 0%", 100, 20), Link("50 ms / 0.1%", 100, 50, 0.001),
         Link("50 ms / 1%", 100, 50, 0.01), Link("100 ms / 5%", 100, 100, 0.05),
         Link("200 ms / 2%, 50 Mbit/s", 50, 200, 0.02),
         Link("50 ms / 0%, 20-packet queue", 100, 50, 0.0, queue=20)]
# Reordering without loss: 5% of the datagrams (each way) arrive 2 ms late,
# about 17 packets behind at this rate, as a path whose delay jitters does.
REORDER_LINK = Link("30 ms, 5% of datagrams 2 ms late", 100, 30, reorder=0.05,
                    reorder_delay_ms=2)
FAIRNESS_LINK = Link("100 Mbit/s, 40 ms, 1-BDP queue", 100, 40)
KERNEL_CCS = ("cubic", "bbr")


class Flow:
    def __init__(self, transport, cc):
        self.transport, self.cc = transport, cc

    def label(self):
        return f"{'tou' if self.transport == 'tou' else 'kernel'} {self.cc}"


def netem_run(bench, link, flows, seconds):
    """One tou-netem --netns session: every flow's server in A, its client in B,
    all started together. One dict per flow: Mbit/s, retransmits, CPU seconds
    (client + server) per GB, or an error."""
    perf = shlex.quote(bench.tool("tou-perf"))
    wrap = f"{shlex.quote(sys.executable)} {shlex.quote(CPUWRAP)}"
    with tempfile.TemporaryDirectory(prefix="tou-bench-") as tmp:
        servers, clients = [], []
        for i, f in enumerate(flows):
            tcp = " --tcp" if f.transport == "tcp" else ""
            port = BASE_PORT + i
            servers.append(f"{wrap} {tmp}/server{i}.cpu {perf} -s -1 -p {port}{tcp}")
            # The servers in A need a moment to bind before B connects.
            clients.append(f"{wrap} {tmp}/client{i}.cpu {perf} -c $TOU_NETEM_A -p {port}"
                           f" -t {seconds} -i 0 --json --cc {f.cc}{tcp} > {tmp}/client{i}.json")
        argv = [bench.tool("tou-netem"), "--netns", "--quiet", *link.netem_args(), "--seed", "1",
                "--a", " & ".join(servers) + " & wait",
                "--b", "sleep 1; " + " & ".join(clients) + " & wait"]
        status = run_netem(argv, timeout=seconds * 3 + 60)
        return [flow_result(tmp, i, status) for i in range(len(flows))]


def run_netem(argv, timeout):
    """tou-netem's exit status. Past the timeout it gets SIGTERM, on which it
    stops its commands and deletes its namespaces (SIGKILL would leave them)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return "timeout"


def read_cpu(path):
    """The wrapper writes its file as its command ends, maybe just after tou-netem did."""
    deadline = time.monotonic() + 3
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with open(path) as f:
            return json.load(f)["cpu_s"]
    except (OSError, ValueError, KeyError):
        return None


def flow_result(tmp, i, status):
    try:
        with open(f"{tmp}/client{i}.json") as f:
            end = json.load(f)["end"]
    except (OSError, ValueError, KeyError):
        return {"mbit_s": None, "error": f"tou-netem exit {status}"}
    received = end["sum_received"]
    out = {"mbit_s": round(received["bits_per_second"] / 1e6, 2),
           "retransmits": end["sum_sent"]["retransmits"]}
    cpu = [read_cpu(f"{tmp}/{side}{i}.cpu") for side in ("client", "server")]
    if None not in cpu and received["bytes"]:
        out["cpu_s_per_gb"] = round(sum(cpu) / (received["bytes"] / 1e9), 2)
    if end["errors"]:
        out["error"] = "; ".join(end["errors"])[:200]
    return out


def single_flows(bench):
    """(transport, cc) of a goodput row: tou's controllers, then the kernel's."""
    return ([Flow("tou", cc) for cc in bench.tou_controllers()] +
            [Flow("tcp", cc) for cc in KERNEL_CCS])


def links(bench):
    if not bench.can_netns("emulated links"):
        return
    seconds = bench.link_seconds
    print(f"== goodput over tou-netem --netns, {seconds} s each", flush=True)
    for link in LINKS:
        for flow in single_flows(bench):
            (result,) = netem_run(bench, link, [flow], seconds)
            bench.record({"section": "links", **link.describe(), "transport": flow.transport,
                          "cc": flow.cc, **result})


def reorder(bench):
    if not bench.can_netns("reordering link"):
        return
    seconds = bench.link_seconds
    link = REORDER_LINK
    print(f"== a link that reorders ({link.name}, {link.rate_mbit} Mbit/s), {seconds} s each",
          flush=True)
    for cc in bench.tou_controllers():
        for transport in ("tou", "tcp"):  # newreno is the kernel's reno
            (result,) = netem_run(bench, link, [Flow(transport, cc)], seconds)
            bench.record({"section": "reorder", **link.describe(), "transport": transport,
                          "cc": cc, **result})


def jain(rates):
    """Jain's fairness index: 1 when every flow gets the same, 1/n at worst."""
    total, squares = sum(rates), sum(r * r for r in rates)
    return round(total * total / (len(rates) * squares), 3) if squares else None


def fairness(bench):
    if not bench.can_netns("fairness"):
        return
    seconds = 6 if bench.quick else max(bench.seconds * 3, 15)
    link = FAIRNESS_LINK
    print(f"== two flows sharing {link.name}, {seconds} s each", flush=True)
    tou_cc = "bbr" if bench.has_tou_cc("bbr") else None
    if tou_cc is None:
        print("  tou has no bbr: its columns stay empty", flush=True)
    # Two flows of one controller: Jain's index.
    for transport in ("tou", "tcp"):
        if transport == "tou" and tou_cc is None:
            continue
        results = netem_run(bench, link, [Flow(transport, "bbr")] * 2, seconds)
        rates = [r["mbit_s"] for r in results]
        row = {"section": "fairness_pair", **link.describe(), "transport": transport, "cc": "bbr",
               "mbit_s": rates, "jain": jain(rates) if None not in rates else None}
        errors = [r["error"] for r in results if r.get("error")]
        if errors:
            row["error"] = "; ".join(errors)[:200]
        bench.record(row)
    # A kernel CUBIC flow beside tou's BBR, and beside the kernel's BBR.
    for transport in ("tou", "tcp"):
        if transport == "tou" and tou_cc is None:
            continue
        cubic, other = netem_run(bench, link, [Flow("tcp", "cubic"), Flow(transport, "bbr")],
                                 seconds)
        row = {"section": "fairness_cubic", **link.describe(), "beside": transport,
               "cubic_mbit_s": cubic["mbit_s"], "bbr_mbit_s": other["mbit_s"]}
        if cubic["mbit_s"] is not None:
            row["cubic_share"] = round(cubic["mbit_s"] / link.rate_mbit, 3)
        errors = [r["error"] for r in (cubic, other) if r.get("error")]
        if errors:
            row["error"] = "; ".join(errors)[:200]
        bench.record(row)
