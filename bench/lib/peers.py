"""UDT and SRT (file mode), through udt-perf and srt-perf (bench/peers): the
loopback bulk and request/response workloads of tou-perf."""

import os

from .procs import LOOPBACK, client_server, free_port, parse_json


def peers(bench):
    print("== UDT and SRT (file mode) on loopback", flush=True)
    for name in ("udt", "srt"):
        binary = bench.tool(f"{name}-perf")
        if not os.path.exists(binary):
            print(f"  {name}-perf not built: skipped", flush=True)
            continue
        bulk_bytes = str(int(0.5e9 if bench.quick else 2e9))
        port = free_port()
        client, server = client_server([binary, "-s", str(port)],
                                        [binary, "-c", LOOPBACK, str(port), "bulk", bulk_bytes],
                                        timeout=120)
        doc = parse_json(client, f"{name} bulk")
        row = {"section": "bulk", "transport": name, "streams": 1,
               "gbit_s": round(doc["bits_per_second"] / 1e9, 2), "retransmits": None}
        row.update(bench.usage_fields(client, server, doc["bytes"]))
        bench.record(row)
        for size in (1, 1024):
            port = free_port()
            count = "2000" if name == "udt" else "200"  # SRT's file mode: ~15 ms a round trip
            client, server = client_server(
                [binary, "-s", str(port)],
                [binary, "-c", LOOPBACK, str(port), "rr", count, str(size)], timeout=120)
            doc = parse_json(client, f"{name} rr")
            bench.record({"section": "rr", "transport": name, "size": size,
                          "p50_us": doc["p50_us"], "p99_us": doc["p99_us"],
                          "per_second": doc["transactions_per_second"],
                          "cpu_s": round(client.cpu_s + server.cpu_s, 2)})
