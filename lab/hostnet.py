"""Host side of the frontend macvlan network: the parent bridge and the shim link.

Why a bridge: Docker's macvlan driver needs a parent link; a Linux bridge made for the lab keeps
lab traffic off the real NIC (and this kernel has no dummy links). Why a shim: a host can't reach
macvlan children through their parent, so the host gets a macvlan link of its own on the same
bridge, with an address in the frontend subnet and a route to it; that is how the host (and
the tests) reach the VIP. Every step is idempotent, and `remove` deletes exactly what `ensure`
makes, so `galera-lab down` leaves no host link behind.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from lab.errors import PreflightError


@dataclass(frozen=True)
class HostNet:
    bridge: str
    shim: str
    shim_address: IPv4Address
    subnet: IPv4Network


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise PreflightError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def _addresses(name: str) -> list[str]:
    out = _ip("-j", "addr", "show", "dev", name).stdout
    data = json.loads(out or "[]")
    return [f"{a['local']}/{a['prefixlen']}" for d in data for a in d.get("addr_info", []) if a.get("family") == "inet"]


def ensure(net: HostNet) -> list[str]:
    """Create bridge and shim if missing; return what was created (for the progress display)."""
    made: list[str] = []
    if not link_exists(net.bridge):
        _ip("link", "add", net.bridge, "type", "bridge")
        made.append(f"bridge {net.bridge}")
    _ip("link", "set", net.bridge, "up")
    if not link_exists(net.shim):
        _ip("link", "add", net.shim, "link", net.bridge, "type", "macvlan", "mode", "bridge")
        made.append(f"shim {net.shim}")
    want = f"{net.shim_address}/32"
    if want not in _addresses(net.shim):
        _ip("addr", "add", want, "dev", net.shim)
    _ip("link", "set", net.shim, "up")
    # replace, not add: idempotent, and it wins over a stale route from an interrupted run
    _ip("route", "replace", str(net.subnet), "dev", net.shim, "src", str(net.shim_address))
    return made


def remove(net: HostNet) -> list[str]:
    """Delete the shim (its route goes with it) and the bridge; absent links are not an error."""
    removed: list[str] = []
    for name in (net.shim, net.bridge):
        if link_exists(name):
            _ip("link", "del", name)
            removed.append(name)
    return removed


def subnet_routed_elsewhere(subnet: IPv4Network, own_links: set[str]) -> str | None:
    """Name of a host link already routing an overlapping subnet (a clash with a real network)."""
    routes = json.loads(_ip("-j", "route", "show").stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if dst in ("default", "") or r.get("dev") in own_links:
            continue
        try:
            if IPv4Network(dst, strict=False).overlaps(subnet):
                return f"{dst} via {r.get('dev')}"
        except ValueError:
            continue
    return None
