"""The frontend network's two modes: macvlan (Linux engine) and bridge (Docker Desktop).

Why two: on a Linux engine a macvlan on a host bridge, with a shim link for the host, puts the
VIP on a network the host joins like any LAN client, so failover looks to clients as it would on
real machines. Docker Desktop runs containers in a VM: a macvlan there can't reach the host at
all. A Docker bridge network still carries VRRP (unicast adverts between the proxies, gratuitous
ARP to every container on it), so Keepalived moves the VIP inside the lab as before; the host
reaches the VIP through a forwarder that publishes the VIP's SQL port(s) on 127.0.0.1.

`auto` decides from the engine's own `docker info` (OperatingSystem "Docker Desktop"), like the
proxy tier's `auto` decides from local images, and says which it picked and why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import docker
import docker.errors
import requests.exceptions

from lab.spec import LabSpec

if TYPE_CHECKING:
    from lab.plan import Plan

DESKTOP = "Docker Desktop"
FORWARD_BIND = "127.0.0.1"
"""The forwarder publishes on loopback only: the lab's generated credentials reach the SQL port,
and a lab is not a service for the network."""
FORWARDER = "vipfwd"
"""Compose service (and container suffix) of the VIP forwarder."""
CONNECT_TIMEOUT_S = 2
"""How long the forwarder tries the VIP for one client before closing that client's connection."""


@lru_cache(maxsize=1)
def engine_os() -> str | None:
    """The engine's OperatingSystem (`docker info`), or None when no engine answers (then `up`'s
    preflight says so; `generate` renders for a Linux engine)."""
    try:
        return str(docker.from_env(timeout=10).info().get("OperatingSystem", ""))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return None


def is_desktop(os_name: str | None) -> bool:
    return DESKTOP in (os_name or "")


def choose_driver(spec: LabSpec, os_name: Callable[[], str | None] = engine_os) -> tuple[str, str]:
    """(driver, reason): the spec's driver, or for `auto` macvlan on a Linux engine and bridge on
    Docker Desktop."""
    driver = spec.networks.frontend.driver
    if driver != "auto":
        return driver, "set in the spec"
    name = os_name()
    if name is None:
        return "macvlan", "no Docker engine answered; rendered for a Linux engine"
    if is_desktop(name):
        return "bridge", f"the engine is {name}: its VM hides a macvlan network from this host"
    return "macvlan", f"the engine runs on {name}, where the host reaches a macvlan through a shim link"


def forwarded_ports(plan: Plan) -> list[tuple[int, int]]:
    """(host port on 127.0.0.1, VIP port) pairs of a bridge frontend's forwarder: the SQL port, and
    the reader port where the tier has one (HAProxy)."""
    tier, fe = plan.tier, plan.spec.networks.frontend
    pairs = [(fe.forward_port, tier.write_port)]
    if tier.read_port != tier.write_port:
        pairs.append((fe.forward_reader_port, tier.read_port))
    return pairs


def published_text(plan: Plan) -> str:
    """Where the forwarder publishes what, e.g. `127.0.0.1:16033 → 198.18.1.100:6033`."""
    vip = plan.spec.keepalived.vip
    return ", ".join(f"{FORWARD_BIND}:{host} → {vip}:{port}" for host, port in forwarded_ports(plan))


def forwarder_script(plan: Plan) -> str:
    """The forwarder's shell command: one socat per port, each connection to the VIP made fresh
    (so a client after a failover reaches the new holder); the last socat is the main process."""
    vip = plan.spec.keepalived.vip
    socats = [f"socat TCP-LISTEN:{port},fork,reuseaddr TCP:{vip}:{port},connect-timeout={CONNECT_TIMEOUT_S}"
              for _, port in forwarded_ports(plan)]
    return " & ".join(socats[:-1] + [f"exec {socats[-1]}"])


def mode_line(plan: Plan, os_name: str | None = None) -> str:
    """One line for `up` and `status`: the frontend's mode and what it means for a client
    (`os_name`: the engine's, which says whether this host also routes to a bridge)."""
    spec = plan.spec
    vip = spec.keepalived.vip
    if plan.frontend_driver == "macvlan":
        return (f"frontend: macvlan on host bridge {spec.parent_bridge}; this host reaches the VIP {vip} through "
                f"shim link {spec.shim_link} ({spec.shim_address}) as a LAN client would, and sees a failover "
                "as clients on real machines do")
    return (f"frontend: Docker bridge network; the VIP {vip} is reachable inside the lab and through {published_text(plan)} "
            f"(a forwarder); a failover seen through the forwarder also includes its reconnect to the new holder, "
            f"and a client's connection is accepted, then closed, while no proxy holds the VIP"
            + ("; the lab's tools on this host reach nodes, proxies and the VIP through ports published on "
               f"{FORWARD_BIND} (networks.frontend.host_reach: published, from port "
               f"{spec.networks.frontend.reach_port_base})" if plan.host_reach == "published" else
               "" if is_desktop(os_name) or os_name is None else
               f"; this Linux host also routes to the bridge (gateway {spec.shim_address}), so the lab's tools "
               "reach nodes and the VIP directly"))
