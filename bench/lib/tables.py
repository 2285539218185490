"""results.md: one table per section of rows, tou beside the kernel's TCP (and
UDT and SRT) with the ratios measured in the same run."""

from .links import FAIRNESS_LINK, LINKS, REORDER_LINK


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


def cell(v, unit=""):
    return "—" if v is None else f"{v}{unit}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


class Rows:
    def __init__(self, rows):
        self.rows = rows

    def section(self, name):
        return [r for r in self.rows if r.get("section") == name]

    def find(self, **kw):
        return next((r for r in self.rows if all(r.get(k) == v for k, v in kw.items())), {})


def bulk(rs):
    if not rs.section("bulk"):
        return []
    rows = []
    for r in rs.section("bulk"):
        tou = rs.find(section="bulk", transport="tou", streams=r["streams"])
        other = r["transport"] != "tou"
        rows.append([r["transport"], r["streams"], r["gbit_s"],
                     ratio(tou.get("gbit_s"), r["gbit_s"]) if other else "",
                     r.get("cpu_s_per_gb"),
                     ratio(tou.get("cpu_s_per_gb"), r.get("cpu_s_per_gb")) if other else "",
                     r.get("peak_rss_mib")])
    return ["## Loopback bulk goodput", ""] + table(
        ["transport", "streams", "Gbit/s", "tou ÷ this", "CPU s per GB", "tou's CPU per GB ÷ this",
         "peak RSS MiB"], rows) + [
        "", "CPU is the client's and the server's user + system seconds. Peak RSS is the "
            "processes' own memory: the kernel TCP rows' socket buffers live in the kernel and "
            "are not counted; tou's and UDT's and SRT's are."]


def rr(rs):
    if not rs.section("rr"):
        return []
    rows = []
    for r in rs.section("rr"):
        tcp = rs.find(section="rr", transport="tcp", size=r["size"]).get("p50_us")
        rows.append([r["transport"], f"{r['size']} B", r["p50_us"], r["p99_us"],
                     r["per_second"], ratio(r["p50_us"], tcp)])
    return ["## Loopback request/response latency (one outstanding)", ""] + table(
        ["transport", "size", "p50 µs", "p99 µs", "transactions/s", "p50 ÷ kernel TCP"], rows)


def side_by_side(rs, section, key, what, **kw):
    tou, tcp = (rs.find(section=section, transport=t, **kw).get(key) for t in ("tou", "tcp"))
    return [what, cell(tou), cell(tcp), ratio(tou, tcp)]


def connections(rs):
    if not rs.section("crr") and not rs.section("connect"):
        return []
    rows = [side_by_side(rs, "crr", "p50_us", "connect, 1-byte request/response, close: p50 µs"),
            side_by_side(rs, "crr", "p99_us", "connect, 1-byte request/response, close: p99 µs"),
            side_by_side(rs, "crr", "per_second", "connect, request/response, close per second"),
            side_by_side(rs, "connect", "per_second", "blocking connects per second (a loop)"),
            side_by_side(rs, "connect", "p50_us", "blocking connect() p50 µs")]
    return ["## Connection rate (loopback)", ""] + table(
        ["workload", "tou", "kernel TCP", "tou ÷ kernel"], rows) + [
        "", "One client thread, one connection at a time; tou-perf's server serves each "
            "connection on a thread of its own, taken from a pool of idle ones, for both "
            "transports."]


def veth(rs):
    if not rs.section("veth_bulk") and not rs.section("veth_rr"):
        return []
    lines = ["## veth pair at MTU 1500 between two namespaces (no emulator in the path)", ""]
    rows = []
    for streams in (1, 4):
        tou, tcp = (rs.find(section="veth_bulk", transport=t, streams=streams) for t in
                    ("tou", "tcp"))
        rows.append([f"bulk, {streams} stream{'s' if streams > 1 else ''}",
                     f"{cell(tou.get('gbit_s'))} Gbit/s", f"{cell(tcp.get('gbit_s'))} Gbit/s",
                     ratio(tou.get("gbit_s"), tcp.get("gbit_s")),
                     f"{cell(tou.get('cpu_s_per_gb'))} / {cell(tcp.get('cpu_s_per_gb'))} "
                     f"({ratio(tou.get('cpu_s_per_gb'), tcp.get('cpu_s_per_gb'))})"])
    for key, what in (("p50_us", "p50"), ("p99_us", "p99")):
        tou, tcp = (rs.find(section="veth_rr", transport=t, size=1).get(key) for t in
                    ("tou", "tcp"))
        rows.append([f"1-byte request/response {what}", f"{cell(tou)} µs", f"{cell(tcp)} µs",
                     ratio(tou, tcp), ""])
    return lines + table(["workload", "tou", "kernel TCP", "tou ÷ kernel",
                          "CPU s per GB, tou / kernel (ratio)"], rows)


def idle(rs):
    if not rs.section("idle"):
        return []
    rows = []
    for r in rs.section("idle"):
        rows.append([r["transport"], f"{cell(r.get('held'))} of {r['wanted']}",
                     cell(r.get("client_fds_per_conn")), cell(r.get("server_fds_per_conn")),
                     cell(r.get("client_kib_per_conn")), cell(r.get("server_kib_per_conn")),
                     r.get("stopped_by") or r.get("error") or ""])
    return ["## Idle connections (one client and one server process, ulimit -n 20000)", ""] + \
        table(["transport", "held", "fds per connection, client", "server",
               "KiB per connection, client", "server", "stopped by"], rows) + [
        "", "KiB is the growth of each process's resident memory; the kernel's socket memory "
            "(the TCP rows', and the UDP sockets under tou's) is not in it."]


def exits(rs):
    if not rs.section("exit"):
        return []
    rows = [[r["transport"], f"{cell(r.get('median_s'))} s", f"{cell(r.get('max_s'))} s",
             r.get("error", "")] for r in rs.section("exit")]
    return ["## A server's close() after its client exited, to the server's exit", ""] + table(
        ["transport", "median", "max", "error"], rows)


def controller_columns(rs, section):
    """(transport, cc) pairs present in a section, each controller's tou column
    beside the kernel's (tou newreno, tou cubic, kernel cubic, tou bbr, kernel bbr)."""
    seen = []
    for r in rs.section(section):
        key = (r["transport"], r["cc"])
        if key not in seen:
            seen.append(key)
    ccs = [cc for t, cc in seen if t == "tou"] + [cc for t, cc in seen if t != "tou"]
    return sorted(seen, key=lambda k: (ccs.index(k[1]), k[0] != "tou"))


def label(transport, cc):
    return f"{'tou' if transport == 'tou' else 'kernel'} {cc}"


def links(rs):
    columns = controller_columns(rs, "links")
    if not columns:
        return []
    tou_ccs = [cc for t, cc in columns if t == "tou"]
    kernel_ccs = [cc for t, cc in columns if t == "tcp"]
    pairs = [cc for cc in tou_ccs if cc in kernel_ccs]
    header = ["link (RTT / loss)", "queue"] + [label(*c) for c in columns] + \
        [f"tou {cc} ÷ kernel {cc}" for cc in pairs]
    if "bbr" not in tou_ccs:
        header.append("tou bbr")
    rows, cpu_rows = [], []
    for link in LINKS:
        got = {c: rs.find(section="links", link=link.name, transport=c[0], cc=c[1]) for c in columns}
        if not any(got.values()):
            continue
        mbit = {c: got[c].get("mbit_s") for c in columns}
        row = [link.name, f"{link.queue} pkts"] + [cell(mbit[c], " Mbit/s") for c in columns]
        row += [ratio(mbit[("tou", cc)], mbit[("tcp", cc)]) for cc in pairs]
        if "bbr" not in tou_ccs:
            row.append("(not in tou's registry yet)")
        rows.append(row)
        cpu_rows.append([link.name] + [cell(got[c].get("cpu_s_per_gb")) for c in columns])
    rate = "; the long fat row is 50 Mbit/s" if any("50 Mbit/s" in r[0] for r in rows) else ""
    return ["## Goodput over tou-netem --netns (100 Mbit/s unless said, 1-BDP drop-tail queue "
            f"unless said{rate})", ""] + table(header, rows) + [
        "", "CPU seconds (client + server) per GB moved over the same links (at these rates "
            "what a process costs while it waits weighs as much as what each byte costs):",
        ""] + table(["link"] + [label(*c) for c in columns], cpu_rows)


def reorder(rs):
    rows = []
    for transport, cc in controller_columns(rs, "reorder"):
        if transport != "tou":
            continue
        tou = rs.find(section="reorder", transport="tou", cc=cc)
        tcp = rs.find(section="reorder", transport="tcp", cc=cc)
        rows.append([cc, cell(tou.get("mbit_s"), " Mbit/s"), cell(tcp.get("mbit_s"), " Mbit/s"),
                     ratio(tou.get("mbit_s"), tcp.get("mbit_s")), cell(tou.get("retransmits")),
                     cell(tcp.get("retransmits"))])
    if not rows:
        return []
    link = REORDER_LINK
    return [f"## A link that reorders and loses nothing ({link.rate_mbit} Mbit/s, {link.name})",
            ""] + table(["controller", "tou", "kernel (newreno = reno)", "tou ÷ kernel",
                         "tou retransmits", "kernel retransmits"], rows)


def fairness(rs):
    pairs, cubic = rs.section("fairness_pair"), rs.section("fairness_cubic")
    if not pairs and not cubic:
        return []
    lines = [f"## Two flows sharing one link ({FAIRNESS_LINK.name})", ""]
    if not any(r["transport"] == "tou" for r in pairs):
        lines += ["tou has no BBR in its registry yet: its rows are not measured.", ""]
    rows = [[f"two {label(r['transport'], r['cc'])} flows",
             " + ".join(cell(m) for m in r["mbit_s"]) + " Mbit/s", cell(r.get("jain"))]
            for r in pairs]
    tou = rs.find(section="fairness_pair", transport="tou").get("jain")
    tcp = rs.find(section="fairness_pair", transport="tcp").get("jain")
    lines += table(["flows", "goodput", "Jain index"], rows) + [
        "", f"tou's Jain index ÷ the kernel's: {ratio(tou, tcp)}", ""]
    rows = [[f"kernel cubic beside {'tou' if r['beside'] == 'tou' else 'kernel'} bbr",
             cell(r.get("cubic_mbit_s"), " Mbit/s"), cell(r.get("bbr_mbit_s"), " Mbit/s"),
             f"{round(100 * r['cubic_share'], 1)}%" if r.get("cubic_share") is not None else "—"]
            for r in cubic]
    share = {r["beside"]: r.get("cubic_share") for r in cubic}
    return lines + table(["flows", "cubic", "bbr", "cubic's share of the link"], rows) + [
        "", f"CUBIC's share beside tou's BBR ÷ beside the kernel's: "
            f"{ratio(share.get('tou'), share.get('tcp'))}"]


def external(rs, group):
    out = []
    for r in rs.section(group):
        t = r.get("table") or {}
        if r.get("error"):
            out += [f"## {group}", "", f"Not measured: {r['error']}"]
            continue
        columns = t.get("columns") or sorted({k for row in r["rows"] for k in row})
        out += [f"## {t.get('title') or group}", ""] + table(
            columns, [[cell(row.get(c)) for c in columns] for row in r["rows"]])
        if t.get("note"):
            out += ["", t["note"]]
    return out


def markdown(rows, meta, external_groups):
    rs = Rows(rows)
    # One entry per kind of run (seconds, quick), with the span of its groups' dates.
    kinds = {}
    for g in meta["groups"].values():
        kinds.setdefault((g["seconds"], g["quick"]), []).append(g["date"])
    when = "; ".join(
        f"{min(dates)}{' to ' + max(dates) if max(dates) != min(dates) else ''}, "
        f"{s} s per run{' (--quick)' if q else ''}" for (s, q), dates in sorted(kinds.items()))
    lines = ["# tou benchmark results", "",
             f"Measured on {meta['machine']} by `make bench` ({when}). Every ratio is tou ÷ "
             "the other, measured back to back in the same run. Loopback and veth rows are "
             "each transport's best of "
             f"{max(g.get('rounds', 1) for g in meta['groups'].values())} runs, taken in "
             "alternating order (tou, kernel, kernel, tou); `runs` in results.json has them all.",
             ""]
    sections = [bulk, rr, connections, veth, idle, exits, links, reorder, fairness]
    for make in sections:
        part = make(rs)
        if part:
            lines += part + [""]
    for group in external_groups:
        part = external(rs, group)
        if part:
            lines += part + [""]
    lines += ["Reproduce: `make bench` (root, for the namespaces), or one group in minutes: "
              "`python3 bench/run_bench.py --bin build/bin --only GROUP --quick` "
              "(`--list` names the groups). Raw rows: `bench/results.json`.", ""]
    return "\n".join(lines)
