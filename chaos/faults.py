"""Nemeses: faults injected into a running lab, each with its heal, always healed.

Every fault is a context manager (`with Kill(lab, "node2"): ...`) and, while active, sits in a
module-level registry, so that `heal_all()` (called by the chaos suite's teardown, at session
end and at interpreter exit, also after Ctrl-C) heals whatever a failed or interrupted scenario
left behind. Each fault produces one `FaultEvent` (chaos/history.py) for the report.

Containers are handled through the Docker API (kill, stop, start, pause); network faults run
iptables/tc from the host inside the container's network namespace (`nsenter -t PID -n`), so
the images need no extra tools or capabilities; Galera's own limits (`WritesetLimit`) are
server variables, set by SQL straight to each node. Every iptables rule lives in a chain of its
own (`LABCHAOS…`) hooked into INPUT and OUTPUT: the heal unhooks, flushes and deletes exactly
that chain, and `sweep()` removes chains left by a run that died hard.

Targets are chosen by role at run time from a status snapshot (`resolve_target`), never
hard-coded: the writer today may not be the writer after the previous scenario.

    >>> with Kill(lab, resolve_target("reader", lab.status())) as fault:  # doctest: +SKIP
    ...     ...                                  # the node is dead here
    >>> fault.event                              # doctest: +SKIP
    FaultEvent(name='kill', target='node3', start=..., healed=..., detail={'signal': 'SIGKILL'})
"""

from __future__ import annotations

import atexit
import itertools
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import docker
import docker.errors
import pymysql

from chaos.history import FaultEvent
from lab import db
from lab.spec import LabSpec
from lab.status import LabStatus

CHAIN_PREFIX = "LABCHAOS"
F = TypeVar("F", bound="Fault")
ROLES: tuple[str, ...] = ("writer", "reader", "node", "vip-holder", "standby-proxy")


class FaultError(RuntimeError):
    """A fault could not be injected or healed (the message says which and why)."""


class FaultUnsupported(FaultError):
    """A fault this machine can't inject (e.g. no sch_netem in the kernel); tests skip on it."""


class LabLike(Protocol):
    """What faults need from `lab.runtime.Lab`: the spec, a Docker client and, for the faults
    that set a server variable (`WritesetLimit`), the secrets."""

    spec: LabSpec
    docker: docker.DockerClient

    @property
    def secrets(self) -> dict[str, str]: ...


# ---- target resolution (pure functions of a status snapshot) --------------------------------


def _node_order(spec_nodes: Sequence[str], names: Iterable[str]) -> list[str]:
    order = {n: i for i, n in enumerate(spec_nodes)}
    return sorted(set(names), key=lambda n: order.get(n, len(order)))


def _routing_proxy(status: LabStatus):  # -> ProxyStatus | None
    """The proxy whose view of the backends clients get: the VIP holder, else any ready one."""
    ready = [p for p in status.proxies if p.ready]
    holders = [p for p in ready if p.holds_vip]
    return (holders or ready or [None])[0]


def writer_of(status: LabStatus) -> str | None:
    """The node writes go to now, as the proxy holding the VIP sees it.

    HAProxy: the writer listener sends everything to its first UP server in node order (the
    others are `backup`); ProxySQL: the ONLINE server of writer hostgroup 10. Both show as
    backends with role `writer` and status UP; the first in node order wins.
    """
    proxy = _routing_proxy(status)
    if proxy is None:
        return None
    nodes = [g.name for g in status.galera]
    ups = [b["name"] for b in proxy.backends if b["role"] == "writer" and b["status"] == "UP"]
    ordered = _node_order(nodes, ups)
    return ordered[0] if ordered else None


def readers_of(status: LabStatus) -> list[str]:
    """Nodes serving reads that are not the writer (reader listener / hostgroup 30), node order."""
    proxy = _routing_proxy(status)
    if proxy is None:
        return []
    writer = writer_of(status)
    nodes = [g.name for g in status.galera]
    ups = [b["name"] for b in proxy.backends if b["role"] == "reader" and b["status"] == "UP" and b["name"] != writer]
    return _node_order(nodes, ups)


def vip_holder(status: LabStatus) -> str | None:
    holders = [p.name for p in status.proxies if p.holds_vip]
    return holders[0] if len(holders) == 1 else None


def standby_proxy(status: LabStatus) -> str | None:
    """A running, ready proxy that does not hold the VIP (where the VIP should move)."""
    others = [p.name for p in status.proxies if p.ready and not p.holds_vip]
    return others[0] if others else None


def resolve_target(role: str, status: LabStatus, exclude: Iterable[str] = ()) -> str:
    """Name of the node or proxy playing `role` right now; FaultError when nobody does.

    Roles: writer, reader, node (any ready Galera node, preferring a non-writer so that a
    "some node" fault does not double as a writer fault), vip-holder, standby-proxy. A node or
    proxy name is returned as is.
    """
    skip = set(exclude)
    names = {g.name for g in status.galera} | {p.name for p in status.proxies}
    if role in names:
        return role
    found: str | None
    if role == "writer":
        found = writer_of(status)
    elif role == "reader":
        found = next((n for n in readers_of(status) if n not in skip), None)
    elif role == "node":
        writer = writer_of(status)
        ready = [g.name for g in status.galera if g.ready and g.name not in skip]
        found = next((n for n in ready if n != writer), ready[0] if ready else None)
    elif role == "vip-holder":
        found = vip_holder(status)
    elif role == "standby-proxy":
        found = standby_proxy(status)
    else:
        raise ValueError(f"unknown target role {role!r}; expected one of {', '.join(ROLES)} or a node/proxy name")
    if found is None or found in skip:
        raise FaultError(f"no {role} in the lab right now (status: {status.to_dict()})")
    return found


def sidecar_of(proxy: str) -> str:
    """keepalivedN beside proxyN (it shares the proxy's network namespace)."""
    return "keepalived" + proxy.removeprefix("proxy")


# ---- iptables / tc command construction (pure) ------------------------------------------------


def chain_hook_commands(chain: str) -> list[list[str]]:
    """Create the fault's own chain and hook it first into INPUT and OUTPUT."""
    return [["-N", chain], ["-I", "INPUT", "1", "-j", chain], ["-I", "OUTPUT", "1", "-j", chain]]


def chain_unhook_commands(chain: str) -> list[list[str]]:
    """Exactly undo `chain_hook_commands` (after whatever rules were appended to the chain)."""
    return [["-D", "INPUT", "-j", chain], ["-D", "OUTPUT", "-j", chain], ["-F", chain], ["-X", chain]]


def drop_rules(chain: str, peers: Sequence[str], probability: float | None = None) -> list[list[str]]:
    """DROP traffic from and to each peer address, always or with a random probability."""
    if probability is not None and not 0.0 < probability <= 1.0:
        raise ValueError(f"drop probability must be in (0, 1], got {probability}")
    stat = [] if probability is None else ["-m", "statistic", "--mode", "random", "--probability", f"{probability:g}"]
    rules = []
    for addr in peers:
        rules.append(["-A", chain, "-s", addr, *stat, "-j", "DROP"])
        rules.append(["-A", chain, "-d", addr, *stat, "-j", "DROP"])
    return rules


def nsenter(pid: int, *argv: str) -> list[str]:
    """A command run on the host inside the network namespace of process `pid`."""
    return ["nsenter", "-t", str(pid), "-n", *argv]


def iptables(pid: int, args: Sequence[str]) -> list[str]:
    return nsenter(pid, "iptables", "-w", "5", *args)


def partition_peers(groups: Sequence[Sequence[str]], address: Callable[[str], str]) -> dict[str, list[str]]:
    """For each member of a partition, the addresses of every member of the other groups."""
    flat = [m for g in groups for m in g]
    if len(flat) != len(set(flat)):
        raise ValueError(f"a member is in two groups of the partition {groups}")
    if len(groups) < 2:
        raise ValueError("a partition needs at least two groups")
    out = {}
    for i, group in enumerate(groups):
        others = [address(m) for j, g in enumerate(groups) if j != i for m in g]
        for member in group:
            out[member] = others
    return out


def interface_of(ip_addr_output: str, address: str) -> str | None:
    """The interface holding `address`, from `ip -o -4 addr show` output (Docker names vary)."""
    for line in ip_addr_output.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "inet" and parts[3].split("/")[0] == address:
            return parts[1].split("@")[0]
    return None


NETEM_MISSING = "the kernel lacks sch_netem (tc netem: {err}); latency can't be injected on this machine"


def netem_error(returncode: int, stderr: str) -> str | None:
    """Why a trial `tc qdisc add … netem` failed in the way that means "no netem", else None."""
    if returncode == 0:
        return None
    text = stderr.strip() or f"exit status {returncode}"
    return NETEM_MISSING.format(err=text)


# ---- the registry ----------------------------------------------------------------------------

_ACTIVE: dict[int, Fault] = {}
_LOCK = threading.RLock()
_IDS = itertools.count(1)


def active_faults() -> list[Fault]:
    with _LOCK:
        return list(_ACTIVE.values())


def heal_all() -> list[str]:
    """Heal every active fault, newest first; returns error messages instead of raising."""
    errors = []
    for fault in reversed(active_faults()):
        try:
            fault.heal()
        except Exception as exc:  # noqa: BLE001 - healing must go on with the others
            errors.append(f"{fault.name} {fault.target}: {exc}")
            with _LOCK:
                _ACTIVE.pop(fault.id, None)
    return errors


atexit.register(heal_all)


def detach(fault: Fault) -> None:
    """Leave an applied fault in place when this process ends: out of the registry, so neither
    `heal_all()` nor the exit hook heals it. Why: `galera-lab workshop` injects a fault for the
    student to look at after the command has returned; `workshop heal` or `up` undoes it (the
    workshop keeps `to_record()` of it in the lab's stack, lab/workshop/ledger.py)."""
    with _LOCK:
        _ACTIVE.pop(fault.id, None)


KINDS: dict[str, type[Fault]] = {}


def revivable(cls: type[F]) -> type[F]:
    """Class decorator: a fault `revive()` can rebuild from its record in another process."""
    KINDS[cls.__name__] = cls
    return cls


def revive(lab: LabLike, record: dict[str, Any]) -> Fault:
    """The applied fault a record (`Fault.to_record()`) describes, rebuilt in this process so
    that its own `heal()` undoes it: the process that injected it may be gone. Not registered
    (the caller heals it at once); ValueError for a record of an unknown kind."""
    cls = KINDS.get(str(record.get("kind")))
    if cls is None:
        raise ValueError(f"no fault kind {record.get('kind')!r}; known: {', '.join(sorted(KINDS))}")
    fault = cls.__new__(cls)
    Fault.__init__(fault, lab, str(record["target"]), **dict(record.get("detail") or {}))
    fault.start = float(record["start"])
    fault._load_state(dict(record.get("state") or {}))
    return fault


# ---- faults ----------------------------------------------------------------------------------


class Fault:
    """Base: `apply()` injects and registers, `heal()` restores and unregisters (idempotent).

    Subclasses implement `_inject` and `_restore`. Registration happens before injection, so a
    fault interrupted half-way is still healed.
    """

    name = "fault"

    def __init__(self, lab: LabLike, target: str, **detail: Any):
        self.lab = lab
        self.target = target
        self.detail: dict[str, Any] = dict(detail)
        self.id = next(_IDS)
        self.start: float | None = None
        self.healed: float | None = None
        self._heal_lock = threading.Lock()

    # lifecycle

    def apply(self) -> FaultEvent:
        if self.start is not None:
            raise FaultError(f"{self.name} on {self.target} was already applied")
        with _LOCK:
            _ACTIVE[self.id] = self
        self.start = time.time()
        try:
            self._inject()
        except BaseException:
            self.heal()  # undo whatever part was injected, then report why it failed
            raise
        return self.event

    def heal(self) -> FaultEvent:
        with self._heal_lock:
            if self.start is not None and self.healed is None:
                self._restore()
                self.healed = time.time()
            with _LOCK:
                _ACTIVE.pop(self.id, None)
        return self.event

    @property
    def active(self) -> bool:
        return self.start is not None and self.healed is None

    @property
    def event(self) -> FaultEvent:
        if self.start is None:
            raise FaultError(f"{self.name} on {self.target} has not been applied")
        return FaultEvent(self.name, self.target, self.start, self.healed, dict(self.detail))

    def __enter__(self) -> Fault:
        self.apply()
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target} {'active' if self.active else 'idle'}>"

    def healed_elsewhere(self) -> None:
        """Another process healed this fault (from its record): mark it healed here, unregistered."""
        with self._heal_lock:
            if self.healed is None:
                self.healed = time.time()
            with _LOCK:
                _ACTIVE.pop(self.id, None)

    # records: an applied fault as JSON, so another process can heal it (`revive`)

    def to_record(self) -> dict[str, Any]:
        if self.start is None:
            raise FaultError(f"{self.name} on {self.target} has not been applied")
        return {"kind": type(self).__name__, "name": self.name, "target": self.target, "start": self.start,
                "detail": dict(self.detail), "state": self._state()}

    def _state(self) -> dict[str, Any]:
        """What `_restore` needs beyond target and detail (pids, chain names)."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """Set what `_state` saved, on a fault rebuilt by `revive`."""

    # helpers for subclasses

    def _inject(self) -> None:
        raise NotImplementedError

    def _restore(self) -> None:
        raise NotImplementedError

    def container(self, service: str | None = None):  # -> docker.models.containers.Container
        name = self.lab.spec.container(service or self.target)
        try:
            return self.lab.docker.containers.get(name)
        except docker.errors.NotFound:
            raise FaultError(f"container {name} does not exist") from None

    @property
    def is_proxy(self) -> bool:
        return self.target in self.lab.spec.proxy_names

    def start_again(self) -> None:
        """Bring a stopped/killed target back: `docker start`; a proxy's sidecar is restarted
        too, since it shares the proxy's network namespace, which is new after a proxy start."""
        c = self.container()
        c.reload()
        if c.status == "paused":
            c.unpause()
        elif c.status != "running":
            c.start()
        if self.is_proxy:
            restart_sidecar(self.lab, self.target)


def restart_sidecar(lab: LabLike, proxy: str) -> None:
    """Restart keepalivedN so that it joins proxyN's current network namespace."""
    name = lab.spec.container(sidecar_of(proxy))
    try:
        lab.docker.containers.get(name).restart(timeout=5)
    except docker.errors.NotFound:
        raise FaultError(f"keepalived sidecar {name} does not exist") from None


@revivable
class Kill(Fault):
    """SIGKILL (docker kill): a crash. Heal: docker start (a node rejoins by IST)."""

    name = "kill"

    def __init__(self, lab: LabLike, target: str, signal: str = "SIGKILL"):
        super().__init__(lab, target, signal=signal)

    def _inject(self) -> None:
        self.container().kill(signal=self.detail["signal"])

    def _restore(self) -> None:
        self.start_again()


@revivable
class Stop(Fault):
    """docker stop: the image's stop signal (SIGTERM for mariadbd, SIGUSR1 soft stop for
    HAProxy), then SIGKILL after `timeout`. Heal: docker start."""

    name = "stop"

    def __init__(self, lab: LabLike, target: str, timeout: int | None = None):
        super().__init__(lab, target, signal="stop-signal", timeout=timeout)

    def _inject(self) -> None:
        c = self.container()
        self.detail["signal"] = c.attrs["Config"].get("StopSignal") or "SIGTERM"
        if self.detail["timeout"] is None:
            c.stop()  # the container's own StopTimeout (stop_grace_period in compose)
        else:
            c.stop(timeout=self.detail["timeout"])
        self.detail["stopped_after_s"] = round(time.time() - (self.start or time.time()), 3)

    def _restore(self) -> None:
        self.start_again()


@revivable
class Restart(Fault):
    """docker restart (stop + start). Heal: make sure it runs; a proxy's sidecar is restarted."""

    name = "restart"

    def __init__(self, lab: LabLike, target: str, timeout: int = 30):
        super().__init__(lab, target, timeout=timeout)

    def _inject(self) -> None:
        self.container().restart(timeout=self.detail["timeout"])
        if self.is_proxy:  # the sidecar must follow the proxy into its new namespace
            restart_sidecar(self.lab, self.target)

    def _restore(self) -> None:
        self.start_again()


@revivable
class CrashAll(Fault):
    """SIGKILL every Galera node at once (a power cut). Heal: the lab's `up`, which recovers the
    cluster from the most advanced node; a plain `docker start` could not form a Primary."""

    name = "crash-all"

    def __init__(self, lab: LabLike, nodes: Sequence[str] | None = None):
        names = list(nodes or lab.spec.node_names)
        super().__init__(lab, ",".join(names), nodes=names)
        self.recovery_log: list[str] = []

    def _load_state(self, state: dict[str, Any]) -> None:
        self.recovery_log = []

    def _inject(self) -> None:
        containers = [self.container(n) for n in self.detail["nodes"]]
        errors: list[BaseException] = []
        go = threading.Barrier(len(containers))

        def kill(c: Any) -> None:
            try:
                go.wait(5)
                c.kill(signal="SIGKILL")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=kill, args=(c,)) for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        if errors:
            raise FaultError(f"crash-all: {errors[0]}")

    def _restore(self) -> None:
        up = getattr(self.lab, "up", None)
        if up is None:
            raise FaultError("crash-all needs the lab's `up` to recover the cluster")
        started = time.monotonic()
        up(say=lambda line: self.recovery_log.append(f"{time.monotonic() - started:5.1f} s {line}"))
        # each step with the seconds since the heal began: a slow recovery shows which step took it
        self.detail["recovery"] = [line for line in self.recovery_log if " s galera:" in line]


@revivable
class Pause(Fault):
    """docker pause (cgroup freezer): alive but frozen, a hung host. Heal: unpause."""

    name = "pause"

    def _inject(self) -> None:
        self.container().pause()

    def _restore(self) -> None:
        c = self.container()
        c.reload()
        if c.status == "paused":
            c.unpause()


def container_pid(lab: LabLike, service: str) -> int:
    """Host PID of a running container's init (the handle on its network namespace)."""
    try:
        c = lab.docker.containers.get(lab.spec.container(service))
    except docker.errors.NotFound:
        raise FaultError(f"container {lab.spec.container(service)} does not exist") from None
    pid = int(c.attrs["State"].get("Pid") or 0)
    if c.attrs["State"].get("Status") != "running" or pid <= 0:
        raise FaultError(f"{service} is not running (state {c.attrs['State'].get('Status')})")
    return pid


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise FaultError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.returncode}")
    return proc


class _IptablesFault(Fault):
    """Base of network faults: per member, one chain of DROP rules in its namespace."""

    def __init__(self, lab: LabLike, target: str, **detail: Any):
        super().__init__(lab, target, **detail)
        # the pid too: `galera-lab workshop fault` runs one process per fault, each counting from 1
        self.chain = f"{CHAIN_PREFIX}-{os.getpid()}-{self.id}"
        self._pids: dict[str, int] = {}  # member → pid its rules were installed under

    def _state(self) -> dict[str, Any]:
        return {"chain": self.chain, "pids": dict(self._pids)}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.chain = str(state["chain"])
        self._pids = {str(k): int(v) for k, v in state["pids"].items()}

    def rules(self) -> dict[str, list[list[str]]]:
        """member → iptables rules (appended to the member's chain)."""
        raise NotImplementedError

    def _inject(self) -> None:
        for member, rules in self.rules().items():
            pid = container_pid(self.lab, member)
            self._pids[member] = pid
            for args in chain_hook_commands(self.chain) + rules:
                _run(iptables(pid, args))

    def _restore(self) -> None:
        errors = []
        for member, pid in self._pids.items():
            try:
                now = container_pid(self.lab, member)
            except FaultError:
                continue  # not running: its namespace (and rules) are gone
            if now != pid:
                continue  # restarted since: a new namespace without our rules
            for args in chain_unhook_commands(self.chain):
                proc = _run(iptables(pid, args), check=False)
                if proc.returncode != 0 and "No chain" not in proc.stderr and "does not exist" not in proc.stderr \
                        and "Bad rule" not in proc.stderr:
                    errors.append(proc.stderr.strip())
        if errors:
            raise FaultError(f"healing {self.name} on {self.target}: {'; '.join(errors)}")


@revivable
class Partition(_IptablesFault):
    """Cut the Galera nodes into groups that can't reach each other (proxies still reach all).

    `Partition(lab, [["node1"], ["node2", "node3"]])` isolates node1 from its peers.
    """

    name = "partition"

    def __init__(self, lab: LabLike, groups: Sequence[Sequence[str]]):
        groups = [list(g) for g in groups]
        target = " | ".join(",".join(g) for g in groups)
        super().__init__(lab, target, groups=groups)
        self.peers = partition_peers(groups, lambda n: str(lab.spec.node_address(n)))

    def rules(self) -> dict[str, list[list[str]]]:
        return {member: drop_rules(self.chain, peers) for member, peers in self.peers.items()}


@revivable
class Isolate(Partition):
    """One node cut off from every other Galera node (the proxies still reach it)."""

    name = "isolate"

    def __init__(self, lab: LabLike, node: str):
        others = [n for n in lab.spec.node_names if n != node]
        super().__init__(lab, [[node], others])
        self.target = node


@revivable
class PacketLoss(_IptablesFault):
    """Drop a random share of the target's packets to and from its peers (iptables statistic).

    Peers default to the other Galera nodes; the probability applies per packet and direction.
    """

    name = "packet-loss"

    def __init__(self, lab: LabLike, target: str, probability: float, peers: Sequence[str] | None = None):
        names = list(peers) if peers is not None else [n for n in lab.spec.node_names if n != target]
        super().__init__(lab, target, probability=probability, peers=names)

    def rules(self) -> dict[str, list[list[str]]]:
        addrs = [str(self._address(p)) for p in self.detail["peers"]]
        return {self.target: drop_rules(self.chain, addrs, self.detail["probability"])}

    def _address(self, name: str):
        spec = self.lab.spec
        return spec.node_address(name) if name in spec.node_names else spec.proxy_backend_address(name)


def netem_available(pid: int) -> str | None:
    """None when tc netem works here, else the reason; tried on `lo` of the target's namespace
    and rolled back at once (nothing else sees it)."""
    proc = _run(nsenter(pid, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"), check=False)
    if proc.returncode == 0:
        _run(nsenter(pid, "tc", "qdisc", "del", "dev", "lo", "root"), check=False)
    return netem_error(proc.returncode, proc.stderr)


class TcFault(Fault):
    """Base of faults that shape a container's backend interface with tc in its namespace: finds
    the interface, keeps (pid, interface) so another process can heal, and undoes its qdisc only
    in the namespace it was put in (a restarted container has a new one, without it)."""

    def __init__(self, lab: LabLike, target: str, **detail: Any):
        super().__init__(lab, target, **detail)
        self._pid: int | None = None
        self._iface: str | None = None

    def _state(self) -> dict[str, Any]:
        return {"pid": self._pid, "iface": self._iface}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._pid, self._iface = state.get("pid"), state.get("iface")

    def _check(self, pid: int) -> None:
        """Refuse (FaultUnsupported) before anything changes, where the kernel lacks the qdisc."""

    def _commands(self, iface: str) -> list[list[str]]:
        raise NotImplementedError

    def _undo(self, iface: str) -> list[str]:
        return ["tc", "qdisc", "del", "dev", iface, "root"]

    def _inject(self) -> None:
        pid = container_pid(self.lab, self.target)
        self._check(pid)
        spec = self.lab.spec
        addr = str(spec.node_address(self.target) if self.target in spec.node_names else spec.proxy_backend_address(self.target))
        iface = interface_of(_run(nsenter(pid, "ip", "-o", "-4", "addr", "show")).stdout, addr)
        if iface is None:
            raise FaultError(f"no interface holds {addr} in {self.target}")
        self._pid, self._iface = pid, iface
        for cmd in self._commands(iface):
            _run(nsenter(pid, *cmd))

    def _restore(self) -> None:
        if self._pid is None or self._iface is None:
            return
        try:
            if container_pid(self.lab, self.target) != self._pid:
                return
        except FaultError:
            return
        _run(nsenter(self._pid, *self._undo(self._iface)), check=False)


@revivable
class Latency(TcFault):
    """Added delay (tc netem) on the target's backend interface; FaultUnsupported without netem."""

    name = "latency"

    def __init__(self, lab: LabLike, target: str, delay_ms: int, jitter_ms: int = 0):
        super().__init__(lab, target, delay_ms=delay_ms, jitter_ms=jitter_ms)

    def _check(self, pid: int) -> None:
        reason = netem_available(pid)
        if reason:
            raise FaultUnsupported(reason)

    def _commands(self, iface: str) -> list[list[str]]:
        delay = [f"{self.detail['delay_ms']}ms"] + ([f"{self.detail['jitter_ms']}ms"] if self.detail["jitter_ms"] else [])
        return [["tc", "qdisc", "add", "dev", iface, "root", "netem", "delay", *delay]]


def node_sql(lab: LabLike, node: str, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on a Galera node, straight to its address as the lab's admin user; FaultError
    naming the node when it fails. Why not `docker exec … mariadb`: under load one exec's output
    came back empty here (its attach raced the client's exit), and a heal must not guess."""
    try:
        with db.session(str(lab.spec.node_address(node)), 3306, "lab_admin", lab.secrets["LAB_ADMIN_PASSWORD"],
                        timeout=10) as conn:
            return db.query(conn, sql)
    except (pymysql.MySQLError, OSError) as exc:
        raise FaultError(f"{node}: {sql!r} failed: {exc}") from None


WRITESET_LIMITS: dict[str, tuple[int, int]] = {"wsrep_max_ws_size": (1024, 2147483647),
                                                "wsrep_max_ws_rows": (0, 1048576)}
"""Galera's writeset limits (global, dynamic) and the range MariaDB accepts for each."""


def set_global_sql(values: dict[str, int]) -> str:
    """`SET GLOBAL a = 1, b = 2` for writeset limits only, each value checked against its range."""
    for name, value in values.items():
        if name not in WRITESET_LIMITS:
            raise ValueError(f"{name} is not a writeset limit ({', '.join(WRITESET_LIMITS)})")
        low, high = WRITESET_LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} = {value!r}: use an integer from {low} to {high}")
    return "SET GLOBAL " + ", ".join(f"{name} = {value}" for name, value in values.items())


@revivable
class WritesetLimit(Fault):
    """Every Galera node refuses a transaction whose writeset passes `max_ws_size` bytes or
    `max_ws_rows` rows (SET GLOBAL on each node). Heal: each node's own previous values back.

    Why at run time: both limits are dynamic, re-creating the lab with them would cost a minute,
    and a node restarted meanwhile starts from its rendered config anyway.

        with WritesetLimit(lab, max_ws_size=4 << 20):   # a 40 MB bulk UPDATE now fails (1105)
            ...
    """

    name = "writeset-limit"

    def __init__(self, lab: LabLike, max_ws_size: int | None = None, max_ws_rows: int | None = None):
        limits = {name: v for name, v in (("wsrep_max_ws_size", max_ws_size), ("wsrep_max_ws_rows", max_ws_rows))
                  if v is not None}
        if not limits:
            raise ValueError("a writeset limit needs max_ws_size or max_ws_rows")
        set_global_sql(limits)  # refuse a value out of range before anything runs
        super().__init__(lab, ",".join(lab.spec.node_names), **limits)
        self._previous: dict[str, dict[str, int]] = {}

    def _state(self) -> dict[str, Any]:
        return {"previous": self._previous}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._previous = {str(n): {str(k): int(v) for k, v in values.items()}
                          for n, values in (state.get("previous") or {}).items()}

    def _inject(self) -> None:
        names = list(self.detail)

        def limit(node: str) -> None:
            row = node_sql(self.lab, node, "SELECT " + ", ".join(f"@@global.{n}" for n in names))[0]
            self._previous[node] = {n: int(v) for n, v in zip(names, row, strict=True)}
            node_sql(self.lab, node, set_global_sql(dict(self.detail)))
        on_every_node(self.lab.spec.node_names, limit)

    def _restore(self) -> None:
        def restore(node: str) -> None:
            try:
                container_pid(self.lab, node)
            except FaultError:
                return  # not running: it starts again from its config
            node_sql(self.lab, node, set_global_sql(self._previous[node]))
        on_every_node(list(self._previous), restore)


def on_every_node(nodes: Sequence[str], fn: Callable[[str], None]) -> None:
    """`fn(node)` on every node at once (a loaded host answers one SQL statement in seconds);
    FaultError naming every node that failed, after all have run."""
    with ThreadPoolExecutor(max(1, len(nodes))) as pool:
        futures = {node: pool.submit(fn, node) for node in nodes}
    errors = [str(exc) if isinstance(exc, FaultError) else f"{node}: {exc!r}"
              for node, exc in ((node, f.exception()) for node, f in futures.items()) if exc is not None]
    if errors:
        raise FaultError("; ".join(errors))


def sweep(lab: LabLike) -> list[str]:
    """Remove LABCHAOS chains left in any running container of this lab (a run killed hard).

    Only this project's Galera nodes and proxies are looked at. Returns what was removed.
    """
    removed = []
    for service in [*lab.spec.node_names, *lab.spec.proxy_names]:
        try:
            pid = container_pid(lab, service)
        except FaultError:
            continue
        out = _run(iptables(pid, ["-S"]), check=False).stdout
        chains = sorted({line.split()[1] for line in out.splitlines()
                         if line.startswith("-N ") and line.split()[1].startswith(CHAIN_PREFIX)})
        for chain in chains:
            for args in chain_unhook_commands(chain):
                _run(iptables(pid, args), check=False)
            removed.append(f"{service}:{chain}")
    return removed
