"""What every row group shares: where the binaries are, how long to run, the
rows recorded so far and which congestion controllers tou offers."""

import os
import re
import subprocess

# Words of --help's description of --cc that are not controller names.
_HELP_WORDS = {"congestion", "control", "controller", "controllers", "algorithm", "tou", "or",
               "and", "one", "of", "the", "default", "any", "with", "e", "g", "i", "is", "for",
               "name", "names", "by", "from", "in", "see", "list", "registry", "s"}


def tou_controllers(perf):
    """tou's congestion controllers, in the registry's order: from `tou-perf
    --list-cc` when it has that (one name per line, or one line of names), else
    from the names --help gives for --cc before it turns to --tcp ("Congestion
    control: newreno or cubic (with --tcp: any the kernel offers)"). Rows take
    their tou columns from this, so a controller shows up in make bench as soon
    as the registry has it."""
    try:
        listed = subprocess.run([perf, "--list-cc"], capture_output=True, text=True, timeout=10)
        lines = [line for line in listed.stdout.splitlines() if line.strip()]
        if listed.returncode == 0 and lines:
            if len(lines) == 1:
                return re.findall(r"[a-z][a-z0-9_]*", lines[0])
            return [line.split()[0].strip(",") for line in lines]
        text = subprocess.run([perf, "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    # "  --cc TEXT   Description": the option, CLI11's type name, then what it does.
    m = re.search(r"^\s*--cc(?:\s+[A-Z]+(?::\S*)?)?\s+(.*)$", text, re.MULTILINE)
    if not m:
        return []
    description = re.split(r"--tcp|kernel", m.group(1), maxsplit=1)[0]
    names = []
    for w in re.findall(r"[a-z][a-z0-9_]*", description.lower()):
        if w not in _HELP_WORDS and w not in names:
            names.append(w)
    return names


class Bench:
    def __init__(self, bin_dir, seconds, quick):
        self.bin, self.seconds, self.quick = bin_dir, seconds, quick
        self.rows = []
        self._controllers = None

    def tool(self, name):
        return os.path.join(self.bin, name)

    # Keys the console line leaves out (the link's name says them).
    _QUIET_KEYS = {"section", "rate_mbit", "rtt_ms", "loss", "queue_packets"}

    def record(self, row):
        self.rows.append(row)
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items() if k not in self._QUIET_KEYS),
              flush=True)

    @property
    def rounds(self):
        """Runs of each loopback and veth workload per transport (the best is kept)."""
        return 1 if self.quick else 2

    @property
    def link_seconds(self):
        """A run over an emulated link: long enough for slow start at 200 ms RTT."""
        return 4 if self.quick else max(self.seconds * 2, 10)

    def tou_controllers(self):
        if self._controllers is None:
            self._controllers = tou_controllers(self.tool("tou-perf"))
            print(f"  tou's congestion controllers: {', '.join(self._controllers) or 'none found'}",
                  flush=True)
        return self._controllers

    def has_tou_cc(self, name):
        return name in self.tou_controllers()

    def can_netns(self, what):
        if os.geteuid() == 0 and os.path.exists("/dev/net/tun"):
            return True
        print(f"== {what}: skipped (needs root and /dev/net/tun)", flush=True)
        return False

    @staticmethod
    def usage_fields(client, server, bytes_moved):
        cpu = client.cpu_s + server.cpu_s
        return {"cpu_s": round(cpu, 3),
                "cpu_s_per_gb": round(cpu / (bytes_moved / 1e9), 3) if bytes_moved else None,
                "peak_rss_mib": round(max(client.max_rss_kib, server.max_rss_kib) / 1024, 1)}
