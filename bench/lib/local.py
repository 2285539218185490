"""Row groups between two processes on one machine, tou beside the kernel's TCP
in each: loopback bulk, request/response, connection rate, idle connections
and exit after the peer; and the same bulk and request/response over a veth
pair at MTU 1500."""

import statistics
import subprocess
import time

from . import procs
from .netns import LOOPBACK_PLACE, Veth
from .procs import client_server, parse_json, spawn, wait_run

TRANSPORTS = ("tou", "tcp")
IDLE_FD_LIMIT = 20000  # ulimit -n of both idle-connection processes


def tcp_flag(transport):
    return ["--tcp"] if transport == "tcp" else []


def perf(bench, place, transport, client_args, preexec_fn=None):
    """tou-perf over tou or the kernel's TCP between place's two sides."""
    port = str(place.port())
    perf_bin = bench.tool("tou-perf")
    client, server = client_server(
        place.server_prefix + [perf_bin, "-s", "-p", port] + tcp_flag(transport),
        place.client_prefix + [perf_bin, "-c", place.host, "-p", port, "--json"] +
        tcp_flag(transport) + client_args,
        timeout=bench.seconds * 3 + 60, preexec_fn=preexec_fn)
    return parse_json(client, f"tou-perf {transport} {client_args}"), client, server


def back_to_back(bench, measure, key, higher_is_better):
    """measure(transport) -> row, for tou and the kernel's TCP in rounds of
    alternating order (tou, tcp, then tcp, tou: a drift of the machine's load
    weighs on both alike). Each transport's best run is recorded, as another
    process's load only ever slows a run down, with every run's `key` in "runs"."""
    runs = {t: [] for t in TRANSPORTS}
    for round_ in range(bench.rounds):
        for transport in TRANSPORTS if round_ % 2 == 0 else reversed(TRANSPORTS):
            runs[transport].append(measure(transport))
    for transport in TRANSPORTS:
        got = [r for r in runs[transport] if r.get(key) is not None]
        pick = max if higher_is_better else min
        best = pick(got, key=lambda r: r[key]) if got else runs[transport][0]
        if len(runs[transport]) > 1:
            best["runs"] = [r.get(key) for r in runs[transport]]
        bench.record(best)


def bulk_rows(bench, place, section):
    def measure(streams, transport):
        doc, client, server = perf(bench, place, transport,
                                   ["-t", str(bench.seconds), "-P", str(streams), "-i", "0"])
        received = doc["end"]["sum_received"]
        row = {"section": section, "transport": transport, "streams": streams,
               "gbit_s": round(received["bits_per_second"] / 1e9, 2),
               "retransmits": doc["end"]["sum_sent"]["retransmits"]}
        row.update(bench.usage_fields(client, server, received["bytes"]))
        return row

    for streams in (1, 4):
        back_to_back(bench, lambda t: measure(streams, t), "gbit_s", True)


def latency_row(bench, place, section, transport, args, key, **fields):
    doc, client, server = perf(bench, place, transport,
                               args + ["-t", str(bench.seconds), "-i", "0"])
    r = doc["end"][key]
    row = {"section": section, "transport": transport, **fields,
           "p50_us": round(r["latency_us"]["p50"], 1), "p99_us": round(r["latency_us"]["p99"], 1),
           "per_second": round(r["per_second"]), "cpu_s": round(client.cpu_s + server.cpu_s, 2)}
    if doc["end"]["errors"]:
        row["error"] = "; ".join(doc["end"]["errors"])[:200]
    return row


def latency_rows(bench, place, section, args, key, **fields):
    """Best by p50 (the run the machine's load disturbed least)."""
    back_to_back(bench, lambda t: latency_row(bench, place, section, t, args, key, **fields),
                 "p50_us", False)


def rr_rows(bench, place, section, sizes):
    for size in sizes:
        latency_rows(bench, place, section, ["--rr", "--size", str(size)], "rr", size=size)


def loopback_bulk(bench):
    print(f"== loopback bulk goodput, {bench.seconds} s", flush=True)
    bulk_rows(bench, LOOPBACK_PLACE, "bulk")


def loopback_latency(bench):
    print(f"== loopback request/response, {bench.seconds} s", flush=True)
    rr_rows(bench, LOOPBACK_PLACE, "rr", (1, 1024))


def connection_rate(bench):
    print(f"== loopback connection rate, {bench.seconds} s", flush=True)
    latency_rows(bench, LOOPBACK_PLACE, "crr", ["--crr"], "crr")
    latency_rows(bench, LOOPBACK_PLACE, "connect", ["--connect-rate"], "connect")


def veth(bench):
    if not bench.can_netns("veth MTU 1500"):
        return
    print(f"== veth pair at MTU 1500 between two namespaces, {bench.seconds} s", flush=True)
    with Veth(mtu=1500) as v:
        place = v.place()
        bulk_rows(bench, place, "veth_bulk")
        rr_rows(bench, place, "veth_rr", (1,))


def idle(bench):
    """N idle connections between a client and a server process, both under
    ulimit -n 20000: how many are held and what each costs both processes."""
    wanted = 2000 if bench.quick else 9000
    print(f"== {wanted} idle connections, ulimit -n {IDLE_FD_LIMIT}", flush=True)
    for transport in TRANSPORTS:
        bench.record(idle_run(bench, transport, wanted))


def idle_run(bench, transport, wanted):
    port = str(procs.free_port())
    perf_bin = bench.tool("tou-perf")
    limit = procs.fd_limit(IDLE_FD_LIMIT)
    server, server_out = spawn([perf_bin, "-s", "-p", port] + tcp_flag(transport),
                               preexec_fn=limit)
    client = None
    try:
        time.sleep(0.5)  # listening, its engine running
        base_fds = procs.fd_count(server.pid)
        base_rss = procs.proc_status_kib(server.pid, "VmRSS")
        client, client_out = spawn([perf_bin, "-c", procs.LOOPBACK, "-p", port, "--json", "-i",
                                    "0", "--idle", str(wanted), "-t", "2"] + tcp_flag(transport),
                                   preexec_fn=limit)
        # The server's side: its most descriptors and memory while the client holds.
        max_fds, max_rss = base_fds or 0, base_rss or 0
        deadline = time.monotonic() + 120
        while procs.running(client) and time.monotonic() < deadline:
            max_fds = max(max_fds, procs.fd_count(server.pid) or 0)
            max_rss = max(max_rss, procs.proc_status_kib(server.pid, "VmRSS") or 0)
            time.sleep(0.1)
        run = wait_run(client, client_out, 5)
        procs.stop(server)
        wait_run(server, server_out, 5)
    finally:
        for proc in (client, server):
            if proc is not None:
                procs.kill_if_running(proc)
    row = {"section": "idle", "transport": transport, "wanted": wanted}
    try:
        i = parse_json(run, f"idle {transport}")["end"]["idle"]
    except (RuntimeError, KeyError) as e:
        row["error"] = str(e)[:200]
        return row
    held = i["held"]
    row.update({"held": held, "stopped_by": i["stopped_by"],
                "client_fds_per_conn": round(i["fds_per_connection"], 2),
                "client_kib_per_conn": round(i["kib_per_connection"], 2)})
    if held and base_fds is not None and base_rss is not None:
        row["server_fds_per_conn"] = round((max_fds - base_fds) / held, 2)
        row["server_kib_per_conn"] = round((max_rss - base_rss) / held, 2)
    return row


def exit_after_peer(bench):
    """A server's close() after its client has exited, to the server's process
    exit: tou-cat -l's stdin is closed (it then sends its FIN and closes) once
    the client (tou-cat -w 1, whose stdin is empty: it sends its FIN, waits a
    second for the server's, then closes and exits) is gone."""
    tries = 1 if bench.quick else 3
    print(f"== a server's close after its client exited: close() to exit, {tries} tries",
          flush=True)
    for transport in TRANSPORTS:
        times, errors = [], []
        for _ in range(tries):
            seconds, error = exit_run(bench, transport)
            if error:
                errors.append(error)
            else:
                times.append(seconds)
        row = {"section": "exit", "transport": transport, "tries": tries}
        if times:
            row.update({"median_s": round(statistics.median(times), 3),
                        "max_s": round(max(times), 3)})
        if errors:
            row["error"] = "; ".join(errors)[:200]
        bench.record(row)


def exit_run(bench, transport):
    port = str(procs.free_port())
    cat = bench.tool("tou-cat")
    server = subprocess.Popen([cat, "-l"] + tcp_flag(transport) + [procs.LOOPBACK, port],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        client = subprocess.run([cat, "-w", "1"] + tcp_flag(transport) +
                                [procs.LOOPBACK, port], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        if client.returncode != 0:
            return None, f"client exit {client.returncode}"
        time.sleep(0.2)  # the client is gone; its FIN reached the server long ago
        start = time.monotonic()
        server.stdin.close()  # the server writes its FIN and closes
        run = wait_run(server, None, 30, poll_s=0.001)
        seconds = time.monotonic() - start
        return seconds, (None if run.status == 0 else f"server exit {run.status}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
