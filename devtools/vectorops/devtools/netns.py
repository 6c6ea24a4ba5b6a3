"""A test host of our own: a network namespace joined to this one by a veth pair.

Some paths need a non-loopback address: the apiserver refuses to proxy to loopback, as a real cluster's
would refuse to proxy to a node's own 127.0.0.1. Instead of this machine's outside address, tests put
the server in a namespace made for the purpose, reachable only from here, and remove it afterwards.
Needs root (CAP_NET_ADMIN) and iproute2; `TestHost.available()` says whether this machine can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, or no iproute2)."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class TestHost:
    """`address` lives in namespace `name`; `prefix` runs a command inside it. This side is `gateway`."""

    __test__ = False  # not a pytest test class, despite its name
    name: str
    address: str
    gateway: str

    @staticmethod
    def available() -> str | None:
        """None when namespaces can be made, else why not."""
        if shutil.which("ip") is None:
            return "iproute2's ip command is missing"
        if os.geteuid() != 0:
            return "making a network namespace needs root"
        return None

    @classmethod
    def create(cls, subnet: int = 0) -> TestHost:
        """A namespace with 10.250.<subnet>.2, joined to 10.250.<subnet>.1 here (a /30 of our own)."""
        why = cls.available()
        if why is not None:
            raise NetnsUnavailable(why)
        tag = uuid.uuid4().hex[:6]
        name, outside, inside = f"vops-{tag}", f"vo{tag}", f"vi{tag}"
        gateway, address = f"10.250.{subnet}.1", f"10.250.{subnet}.2"
        try:
            _ip("netns", "add", name)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", name)
            _ip("addr", "add", f"{gateway}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("-n", name, "addr", "add", f"{address}/30", "dev", inside)
            _ip("-n", name, "link", "set", inside, "up")
            _ip("-n", name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            subprocess.run(["ip", "link", "del", outside], capture_output=True)
            raise NetnsUnavailable(f"ip {' '.join(e.cmd[1:])}: {e.stderr.strip()}") from e
        return cls(name, address, gateway)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def delete(self) -> None:
        # Deleting the namespace deletes its end of the veth pair, and with it ours.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __enter__(self) -> TestHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()
