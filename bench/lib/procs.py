"""Starting, watching and reaping the processes a row measures."""

import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time

LOOPBACK = "127.0.0.1"


class Run:
    """One process's outcome: its stdout, exit status, CPU seconds and peak RSS."""

    def __init__(self, out, status, cpu_s, max_rss_kib):
        self.out, self.status, self.cpu_s, self.max_rss_kib = out, status, cpu_s, max_rss_kib


def proc_status_kib(pid, field):
    """A KiB field of /proc/PID/status (VmHWM, VmRSS); None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def peak_rss_kib(pid, known):
    """The process's own high-water RSS (VmHWM) so far. wait4's ru_maxrss would
    not do: a child forked from this Python starts with Python's high water."""
    return max(known, proc_status_kib(pid, "VmHWM") or 0)


def wait_run(proc, out_file, timeout, rss_kib=0, poll_s=0.02):
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
        time.sleep(poll_s)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = ""
    if out_file is not None:
        out_file.seek(0)
        out = out_file.read().decode(errors="replace")
    return Run(out, proc.returncode, usage.ru_utime + usage.ru_stime, rss_kib)


def running(proc):
    """True while proc has not exited; unlike Popen.poll, leaves it to be reaped by wait_run."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def fd_limit(n):
    """A preexec_fn: the child runs under `ulimit -n n` (or the hard limit, if lower)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        n = min(n, hard)
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def spawn(argv, stdin=subprocess.DEVNULL, preexec_fn=None):
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=subprocess.DEVNULL,
                            preexec_fn=preexec_fn)
    return proc, out


def stop(proc):
    """SIGINT, not Popen.send_signal: that would reap the exit status we want."""
    try:
        os.kill(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind((LOOPBACK, 0))
        port = u.getsockname()[1]
        try:
            t.bind((LOOPBACK, port))  # free for the kernel-TCP runs too
        except OSError:
            return free_port()
        return port


def client_server(server_argv, client_argv, timeout, preexec_fn=None):
    """Starts the server, runs the client to the end, stops the server."""
    server, server_out = spawn(server_argv, preexec_fn=preexec_fn)
    try:
        time.sleep(0.3)  # the server binds its port
        client, client_out = spawn(client_argv, preexec_fn=preexec_fn)
        client_run = wait_run(client, client_out, timeout)
        time.sleep(0.1)  # let the server finish closing before it is stopped
        server_rss = peak_rss_kib(server.pid, 0)
        stop(server)
        return client_run, wait_run(server, server_out, 5, server_rss)
    finally:
        kill_if_running(server)


def kill_if_running(proc):
    """For the way out of a failed row: no process of ours outlives it."""
    if proc.returncode is None and proc.poll() is None:
        proc.kill()
        proc.wait()


def parse_json(run, what):
    try:
        return json.loads(run.out)
    except ValueError:
        raise RuntimeError(f"{what}: exit {run.status}, no JSON: {run.out[:300]!r}")
