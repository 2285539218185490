"""Two network namespaces joined by a veth pair: a path shaped like a real NIC
(MTU 1500, where the kernel's TCP gets TSO and GRO) with no emulator in it."""

import os
import signal
import subprocess

from .procs import LOOPBACK, free_port

PREFIX = "tou-bench-"


class Place:
    """Where a client and its server run: the command prefix of each side, the
    address the client dials and the port (fresh on loopback, fixed in a
    namespace of our own)."""

    def __init__(self, name, host, server_prefix=(), client_prefix=(), fixed_port=None):
        self.name, self.host = name, host
        self.server_prefix, self.client_prefix = list(server_prefix), list(client_prefix)
        self.fixed_port = fixed_port

    def port(self):
        return self.fixed_port or free_port()


LOOPBACK_PLACE = Place("loopback", LOOPBACK)


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=20)


class Veth:
    """with Veth() as v: namespaces tou-bench-PID-a (the server, 10.203.0.1) and
    -b (the client, 10.203.0.2), one veth pair between them, deleted (and
    whatever still runs in them killed) on the way out."""

    ADDRESS_A, ADDRESS_B, PREFIX_LEN = "10.203.0.1", "10.203.0.2", 24

    def __init__(self, mtu=1500):
        base = f"{PREFIX}{os.getpid()}"
        self.a, self.b, self.mtu = base + "-a", base + "-b", mtu
        self.created = []

    def __enter__(self):
        try:
            for ns in (self.a, self.b):
                ip("netns", "add", ns)
                self.created.append(ns)
                ip("-n", ns, "link", "set", "lo", "up")
            ip("link", "add", "veth-a", "netns", self.a, "type", "veth", "peer", "name", "veth-b",
               "netns", self.b)
            for ns, dev, addr in ((self.a, "veth-a", self.ADDRESS_A),
                                  (self.b, "veth-b", self.ADDRESS_B)):
                ip("-n", ns, "addr", "add", f"{addr}/{self.PREFIX_LEN}", "dev", dev)
                ip("-n", ns, "link", "set", dev, "mtu", str(self.mtu), "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.created):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  timeout=20).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=20)
        self.created = []
        return False

    def place(self):
        return Place(f"veth MTU {self.mtu}", self.ADDRESS_A, ["ip", "netns", "exec", self.a],
                     ["ip", "netns", "exec", self.b], fixed_port=5201)
