#!/usr/bin/env python3
"""cpuwrap.py FILE CMD...: runs CMD, then writes its CPU seconds (user + system,
its descendants included) to FILE as JSON and exits with CMD's status. For the
processes tou-netem --netns starts in its namespaces, which the bench cannot
reap itself. A SIGTERM or SIGINT is passed on to CMD, and FILE still written."""

import json
import os
import resource
import signal
import subprocess
import sys


def main():
    path, argv = sys.argv[1], sys.argv[2:]
    child = subprocess.Popen(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda n, _frame: child.send_signal(n))
    status = child.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(path + ".tmp", "w") as f:
        json.dump({"cpu_s": usage.ru_utime + usage.ru_stime, "status": status}, f)
    os.rename(path + ".tmp", path)  # readers never see half a file
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
