"""How this host reaches the lab's addresses: directly, or through ports published on 127.0.0.1.

Why: the lab's host-side tools (the health waits of `up`, `status`, the dashboard, the chaos
probes, the tiers' admin and stats reads) connect to node, proxy and VIP addresses. A Linux host
routes to a bridge network's subnet (and to a macvlan through its shim link), so they connect
directly. A Docker Desktop host runs the engine in a VM and routes to none of it, so a bridge
lab there publishes every endpoint those tools need on 127.0.0.1 (`ports:` on the nodes and
proxies, the forwarder for the VIP) and every connection goes through `endpoint()` here, which
swaps a lab address for its published port. One place, so no caller needs to know which way.

Ports are derived from the spec alone (networks.frontend.reach_port_base, one slot per
endpoint, in a fixed order), so preflight can check them free before anything is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lab import frontend
from lab.spec import LabSpec

if TYPE_CHECKING:
    from lab.plan import Plan

HEALTH_PORT = 9200
"""Each Galera node's health endpoint (clustercheck over HTTP; compose/images/galera)."""

_ROUTES: dict[tuple[str, int], tuple[str, int]] = {}
"""(lab address, port) → (127.0.0.1, published port), for every lab planned in this process
with published reach. Lab addresses don't overlap between labs (preflight refuses subnets
another Docker network uses), so one table serves them all."""


def choose(spec: LabSpec, driver: str, os_name: Callable[[], str | None] = frontend.engine_os) -> tuple[str, str]:
    """(host_reach, reason): `direct` or `published` for a lab with frontend `driver`."""
    wanted = spec.networks.frontend.host_reach
    if wanted == "published" and driver != "bridge":
        raise ValueError("networks.frontend.host_reach: published needs networks.frontend.driver: bridge "
                         f"(the frontend is {driver}: this host reaches a macvlan through its shim link)")
    if wanted != "auto":
        return wanted, "set in the spec"
    if driver == "bridge" and frontend.is_desktop(os_name()):
        return "published", "Docker Desktop: this host routes to none of the lab's networks"
    return "direct", "this host routes to the lab's networks"


def slots(spec: LabSpec) -> list[tuple[str, str, int | None]]:
    """(service, lab address, port) of every endpoint published for published reach, in slot
    order: each node's SQL and health ports, then each proxy's admin (ProxySQL) or stats
    (HAProxy) port, whichever its tier runs (port None: one slot per proxy either way, so the
    ports don't depend on the tier `auto` picks)."""
    out: list[tuple[str, str, int | None]] = []
    for node in spec.node_names:
        address = str(spec.node_address(node))
        out += [(node, address, 3306), (node, address, HEALTH_PORT)]
    return out + [(p, str(spec.proxy_backend_address(p)), None) for p in spec.proxy_names]


def host_ports(spec: LabSpec) -> list[int]:
    """The 127.0.0.1 ports published reach takes besides the forwarder's (for clash checks)."""
    base = spec.networks.frontend.reach_port_base
    return list(range(base, base + len(slots(spec))))


def _proxy_port(plan: Plan) -> int:
    """The proxy port the host's tools read: ProxySQL's admin interface, or HAProxy's stats."""
    return plan.spec.proxy.admin_port if plan.proxy_kind == "proxysql" else plan.spec.proxy.stats_port


def published(plan: Plan) -> dict[str, list[tuple[int, int]]]:
    """service → (host port on 127.0.0.1, container port) pairs for the compose file's `ports:`;
    empty with direct reach."""
    if plan.host_reach != "published":
        return {}
    proxy_port = _proxy_port(plan)
    out: dict[str, list[tuple[int, int]]] = {}
    for host_port, (service, _, port) in zip(host_ports(plan.spec), slots(plan.spec)):
        out.setdefault(service, []).append((host_port, port or proxy_port))
    return out


def routes(plan: Plan) -> dict[tuple[str, int], tuple[str, int]]:
    """(lab address, port) → (127.0.0.1, host port) of a published-reach plan, VIP included."""
    if plan.host_reach != "published":
        return {}
    spec = plan.spec
    proxy_port = _proxy_port(plan)
    out = {(address, port or proxy_port): (frontend.FORWARD_BIND, host_port)
           for host_port, (_, address, port) in zip(host_ports(spec), slots(spec))}
    for host_port, vip_port in frontend.forwarded_ports(plan):
        out[(str(spec.keepalived.vip), vip_port)] = (frontend.FORWARD_BIND, host_port)
    return out


def register(plan: Plan) -> None:
    """Make this process's connections to `plan`'s lab go the way its host reach says: its
    addresses' old routes go first, since a lab planned again (or another lab on the same
    subnets, one after the other in a test run) may reach them directly now."""
    spec = plan.spec
    mine = {str(spec.node_address(n)) for n in spec.node_names}
    mine |= {str(spec.proxy_backend_address(p)) for p in spec.proxy_names} | {str(spec.keepalived.vip)}
    for key in [k for k in _ROUTES if k[0] in mine]:
        del _ROUTES[key]
    _ROUTES.update(routes(plan))


def endpoint(host: str, port: int) -> tuple[str, int]:
    """Where to connect for the lab endpoint `host`:`port`: itself, or its published port."""
    return _ROUTES.get((str(host), int(port)), (str(host), int(port)))


def url(host: str, port: int, path: str) -> str:
    """An http URL for the lab endpoint `host`:`port` (`path` starts with /), reached as above."""
    where, at = endpoint(host, port)
    return f"http://{where}:{at}{path}"
