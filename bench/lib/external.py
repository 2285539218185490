"""Row groups that other work plugs in without editing the runner: a scenario
script bench/scenarios/GROUP.py (synflood: a listener under a spoofed SYN
flood; pmtu: a path whose middle hop has a smaller MTU) is run as

  python3 bench/scenarios/GROUP.py --bin BIN --seconds S [--quick]

and prints one JSON document on stdout:

  {"title": "...", "columns": ["workload", "tou", "kernel TCP", "tou ÷ kernel"],
   "rows": [{"workload": "...", "tou": 1.0, "kernel TCP": 2.0, "tou ÷ kernel": "0.50×"}],
   "note": "optional text under the table"}

Its rows land in results.json (section = GROUP) and its table in results.md.
Like every row, the script measures tou and the kernel's TCP back to back and
cleans up after itself (namespaces named tou-bench-*)."""

import json
import os
import subprocess
import sys

SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")
GROUPS = ("synflood", "pmtu")


def script(group):
    return os.path.join(SCENARIOS, f"{group}.py")


def run_external(bench, group):
    path = script(group)
    if not os.path.exists(path):
        print(f"== {group}: skipped (no bench/scenarios/{group}.py yet)", flush=True)
        return
    print(f"== {group} (bench/scenarios/{group}.py)", flush=True)
    argv = [sys.executable, path, "--bin", bench.bin, "--seconds", str(bench.seconds)]
    if bench.quick:
        argv.append("--quick")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        doc = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, ValueError) as e:
        bench.record({"section": group, "error": f"{group}.py: {e}"[:300]})
        return
    bench.record({"section": group, "table": {k: doc.get(k) for k in ("title", "columns",
                                                                       "note")},
                  "rows": doc.get("rows", []), "status": done.returncode})


def groups():
    return {g: (lambda bench, g=g: run_external(bench, g)) for g in GROUPS}
