"""The dashboard's fault buttons: the chaos catalog's faults (chaos/faults.py), one per button.

Why a registry of its own: a button needs a stable key (for the URL and the browser test), a
label and a sentence for people, and a way to build the fault on the lab *as it is now* (the
writer to kill is whoever writes at the moment of the click). The faults themselves, their
heal and the global heal registry are chaos/faults.py's, unchanged, so a fault injected from
the page is healed by `heal_all()` like one injected by the chaos suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos import faults
from lab.status import LabStatus

Build = Callable[[Any, LabStatus], faults.Fault]


@dataclass(frozen=True)
class FaultButton:
    """One button: `build(lab, status)` makes the (not yet applied) fault."""

    key: str
    label: str
    help: str
    build: Build
    group: str = "nodes"

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "help": self.help, "group": self.group}


def _target(role: str) -> Callable[[LabStatus], str]:
    return lambda status: faults.resolve_target(role, status)


def _kill(role: str) -> Build:
    return lambda lab, st: faults.Kill(lab, _target(role)(st))


CATALOG: tuple[FaultButton, ...] = (
    FaultButton("kill-writer", "kill writer", "SIGKILL the node the proxies send writes to; "
                "watch the proxies pick a new writer and Galera evict the dead one", _kill("writer")),
    FaultButton("kill-reader", "kill reader", "SIGKILL a node serving reads only", _kill("reader")),
    FaultButton("stop-writer", "stop writer", "graceful shutdown of the writer (SIGTERM): it leaves the "
                "cluster cleanly, so failover is quicker than after a kill",
                lambda lab, st: faults.Stop(lab, _target("writer")(st))),
    FaultButton("pause-node", "pause node", "freeze a non-writer node (cgroup freezer): alive but silent, "
                "evicted after evs.suspect_timeout", lambda lab, st: faults.Pause(lab, _target("node")(st))),
    FaultButton("pause-writer", "pause writer", "freeze the writer: commits stall until Galera evicts it",
                lambda lab, st: faults.Pause(lab, _target("writer")(st))),
    FaultButton("isolate-node", "isolate a node", "cut one non-writer node off from its Galera peers "
                "(iptables); it loses the Primary component, the proxies take it out",
                lambda lab, st: faults.Isolate(lab, _target("node")(st)), group="network"),
    FaultButton("isolate-writer", "isolate writer", "cut the writer off from its peers",
                lambda lab, st: faults.Isolate(lab, _target("writer")(st)), group="network"),
    FaultButton("packet-loss", "30 % packet loss", "drop 30 % of a node's packets to and from its peers",
                lambda lab, st: faults.PacketLoss(lab, _target("node")(st), 0.3), group="network"),
    FaultButton("latency", "200 ms latency", "tc netem delay on a node (refused where the kernel has no "
                "sch_netem)", lambda lab, st: faults.Latency(lab, _target("node")(st), 200), group="network"),
    FaultButton("vip-sigkill", "VIP holder SIGKILL", "SIGKILL the proxy holding the VIP: Keepalived moves it "
                "after 3 missed adverts", _kill("vip-holder"), group="proxies"),
    FaultButton("vip-stop", "VIP holder stop", "stop the proxy holding the VIP gracefully",
                lambda lab, st: faults.Stop(lab, _target("vip-holder")(st)), group="proxies"),
    FaultButton("crash-all", "crash every node", "SIGKILL all Galera nodes at once (power cut); the heal "
                "recovers the cluster from the most advanced node, as `galera-lab up` does (takes a minute)",
                lambda lab, st: faults.CrashAll(lab), group="cluster"),
)

BY_KEY: dict[str, FaultButton] = {b.key: b for b in CATALOG}


def button(key: str) -> FaultButton:
    """The button of `key`; KeyError naming the known keys otherwise."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"no fault {key!r}; known: {', '.join(BY_KEY)}") from None


def catalog_json() -> list[dict[str, str]]:
    return [b.to_json() for b in CATALOG]


def fault_json(key: str, fault: faults.Fault, auto_heal_at: float | None = None,
               error: str | None = None) -> dict[str, Any]:
    """An injected fault as the page lists it (with its heal button while active)."""
    return {
        "id": fault.id, "key": key, "name": fault.name, "target": fault.target, "active": fault.active,
        "start": fault.start, "healed": fault.healed, "auto_heal_at": auto_heal_at, "error": error,
        "detail": {k: v for k, v in fault.detail.items() if isinstance(v, (str, int, float, bool, type(None), list))},
    }
