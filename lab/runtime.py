"""Lifecycle of a lab: up (in order, with Galera bootstrap and recovery), down, status.

`up` is idempotent and resumable: every step first looks at what is already there, so running
it on a healthy lab changes nothing, and running it after an interrupted `up` or a `down` that
kept the data finishes the job. The most delicate step is starting Galera with no node running:
on a fresh lab node1 bootstraps; with data kept, the node with the highest recovered seqno does
(never blindly node1, which is where hand-written Compose labs lose data).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pymysql
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from lab import chamilo, db, engine, frontend, hostnet, images, preflight, reach
from lab.errors import LabError
from lab.paths import CHAMILO, stack_dir
from lab.plan import CHOICE_ROLES, Choice, Plan, image_defs, resolve
from lab.render import load_or_create_secrets, render
from lab.spec import LabSpec
from lab.status import LabStatus, NodeStatus, Probe

Say = Callable[[str], None]

DATADIR = "/var/lib/mysql"
STALE_SST_FILES = ("wsrep_sst.pid", "rsync_sst.pid", "stunnel.pid")
"""Pid files MariaDB's SST scripts keep in the datadir (wsrep_sst_common's SST_PID, rsync's
module and stunnel pids): stale once the node's container has stopped."""


def _quiet(_: str) -> None:
    """Default progress sink for library callers (tests, chaos suite) that don't want output."""


@dataclass(frozen=True)
class Position:
    """A node's last committed position, as `galera-recover` reports it."""

    node: str
    uuid: str
    seqno: int
    safe_to_bootstrap: int
    source: str


def choose_bootstrap(positions: list[Position]) -> Position:
    """The node to bootstrap a stopped cluster from: the most advanced one.

    Highest seqno wins; on a tie, a node Galera itself marked safe_to_bootstrap, then the lowest
    node number (stable, so two runs on the same data agree). Positions with no data (seqno -1
    and no uuid) only win when nothing else is known.
    """
    if not positions:
        raise LabError("no Galera node has data to recover from")
    def key(p: Position) -> tuple[int, int, int]:
        return (p.seqno, p.safe_to_bootstrap, -int(p.node.removeprefix("node")))
    return max(positions, key=key)


class Lab:
    """One lab, from its plan and stack folder: the interface the CLI, tests and chaos suite share.

    Example::

        lab = Lab.create(load_spec())      # render + resolve, nothing started
        lab.up(say=print)                  # start and wait until healthy
        print(lab.status().vip.holder)
        lab.down(volumes=True)
    """

    def __init__(self, plan: Plan, stack: Path, choices: list[Choice] | None = None):
        self.plan = plan
        self.spec: LabSpec = plan.spec
        self.stack = stack
        self.choices = choices or []
        reach.register(plan)
        self.compose = DockerClient(compose_files=[stack / "compose.yaml"], compose_project_name=self.spec.project)
        self._docker: docker.DockerClient | None = None
        self._secrets: dict[str, str] | None = None
        # services `up` has started and `wait` watches; None outside `up` (chaos stops them on purpose)
        self._watching: list[str] | None = None

    # ---- construction ----

    @classmethod
    def create(cls, spec: LabSpec, stack: Path | None = None) -> Lab:
        """Resolve `auto` choices; nothing is written or started until `up` (or `render`)."""
        plan, choices = resolve(spec)
        return cls(plan, stack or stack_dir(spec.project), choices)

    def render(self) -> list[str]:
        """Write the stack folder; returns the files whose content changed."""
        self._secrets = None
        return render(self.plan, self.stack)

    @classmethod
    def existing(cls, project: str, stack: Path | None = None) -> Lab:
        """The lab `up` made, read back from its plan.json (so down/status see what really ran)."""
        stack = stack or stack_dir(project)
        plan_file = stack / "plan.json"
        if not plan_file.exists():
            raise LabError(f"no lab '{project}' here ({plan_file} is missing); run `galera-lab up` first")
        return cls(Plan.from_json(plan_file.read_text()), stack)

    @property
    def docker(self) -> docker.DockerClient:
        """Engine client, made on first use so that preflight can report a missing engine first."""
        if self._docker is None:
            self._docker = docker.from_env(timeout=120)
        return self._docker

    @property
    def secrets(self) -> dict[str, str]:
        if self._secrets is None:
            self._secrets = load_or_create_secrets(self.stack)
        return self._secrets

    @property
    def probe(self) -> Probe:
        return Probe(self.plan, self.secrets, self.docker)

    @property
    def hostnet(self) -> hostnet.HostNet:
        return hostnet.HostNet(self.spec.parent_bridge, self.spec.shim_link, self.spec.shim_address,
                               self.spec.networks.frontend.subnet)

    # ---- up ----

    def up(self, say: Say = _quiet, timeout: float = 300.0) -> LabStatus:
        """Bring every part up in order and wait until all of it is healthy.

        The engine's own failures (a build, a port taken, the engine stopping) and a part that
        dies while we wait end it at once with one message (lab/engine.py), in a state a second
        `up` completes and `down` removes.
        """
        self._watching = []
        try:
            return self._up(say, timeout)
        except engine.ENGINE_ERRORS as exc:
            raise LabError(engine.describe(exc, "galera-lab up")) from None
        finally:
            self._watching = None

    def _up(self, say: Say, timeout: float) -> LabStatus:
        for note in preflight.check(self.spec):
            say(note)
        self.render()
        for role, choice in zip(CHOICE_ROLES, self.choices):
            say(f"{role}: {choice.kind} ({choice.reason})")
        if self.plan.app_kind == "chamilo":
            chamilo.prepare_archive(self.spec, CHAMILO)
        self.plan.tier.prepare_build()
        with images.Builds(image_defs(self.spec, self.plan.proxy_kind, self.plan.app_kind), say) as builds:
            if not self.plan.bridge:  # a bridge frontend needs nothing on the host: Docker makes the bridge
                made = hostnet.ensure(self.hostnet)
                say(f"host network: {', '.join(made) if made else 'present'} "
                    f"({self.spec.shim_link} {self.spec.shim_address})")
            say(frontend.mode_line(self.plan, frontend.engine_os()))
            # each part starts once its own image is built (a cold start builds them meanwhile);
            # the deadline counts from then: building is no part of starting
            builds.ready("mariadb")
            deadline = time.monotonic() + timeout
            self.start_galera(say, deadline)
            builds.ready("proxy")
            builds.ready("keepalived")
            # the probe app needs nothing at start: its container starts beside the proxies, and
            # Apache is up by the time the VIP is (Chamilo's first start installs: after the VIP)
            early = self.plan.app_kind == "probe" and builds.is_ready("app")
            # with published reach this host reaches the VIP only through the forwarder: it starts
            # beside the proxies, so that their wait for SQL through the VIP can pass (lab/reach.py)
            forwarder = [frontend.FORWARDER] if self.plan.host_reach == "published" else []
            self.start_proxies(say, deadline, also=(["app"] if early else []) + forwarder)
            if self.plan.bridge:  # the forwarder runs the Galera image's socat
                self.start_forwarder(say, deadline)
            builds.ready("app")
            self.start_app(say, deadline)
        if builds.built:
            say(f"built {', '.join(builds.built)}")
        return self.wait_all_healthy(say, deadline)

    def wait_all_healthy(self, say: Say, deadline: float, grace_s: float = 30.0) -> LabStatus:
        """Every part was ready on its own; now all of them at once. Polled, not read once: on a
        loaded machine (a room of labs starting side by side) one health check can time out
        just then, and a lab that recovers from it by itself is not a failed start."""
        start = time.monotonic()
        end = max(deadline, start + grace_s)
        while True:
            status = self.status()
            if status.healthy:
                return status
            self._check_started("every part healthy at once")  # a part that died: its logs, now
            if start and time.monotonic() - start > 2:
                say(f"waiting for every part healthy at once (not yet: {', '.join(status.unhealthy_parts())}) …")
                start = 0.0
            if time.monotonic() > end:
                raise LabError(f"the lab started but is not healthy (not ready: {', '.join(status.unhealthy_parts())}); "
                               "`galera-lab status` shows why")
            time.sleep(1.0)

    def _service_up(self, services: list[str]) -> None:
        if self._watching is not None:
            self._watching += [s for s in services if s not in self._watching]
        try:
            self.compose.compose.up(services=services, detach=True, quiet=True)
        except DockerException as exc:
            # a sidecar can't join the namespace of a proxy that exited at once: name the proxy
            # and show its log, which says why, rather than the engine's words about the sidecar
            for service in services:
                try:
                    trouble = engine.container_trouble(self.docker.containers.get(self.spec.container(service)))
                except docker.errors.NotFound:
                    continue
                if trouble:
                    raise LabError(f"starting {', '.join(services)} failed: {trouble}\n{engine.RESUME}") from None
            raise LabError(engine.describe(exc, f"starting {', '.join(services)}")) from None

    def running_nodes(self) -> list[str]:
        return [n for n in self.spec.node_names if self.probe.container_state(n) == "running"]

    def node_volumes(self) -> list[str]:
        """Nodes whose data volume exists (a kept cluster to recover rather than create)."""
        names = {v.name for v in self.docker.volumes.list(filters={"label": f"galera-lab.project={self.spec.project}"})}
        return [n for n in self.spec.node_names if f"{self.spec.project}-{n}-data" in names]

    def positions(self, nodes: list[str]) -> list[Position]:
        """Last committed position of each stopped node, read with `galera-recover` on its volume.

        A one-off container with no network: recovery needs only the datadir and the node's
        config, and a networked one would hold the node's fixed address while it is released.
        """
        out = []
        for node in nodes:
            volumes = {
                f"{self.spec.project}-{node}-data": {"bind": "/var/lib/mysql", "mode": "rw"},
                str(self.stack / "galera" / f"{node}.cnf"): {"bind": "/etc/mysql/mariadb.conf.d/90-lab.cnf", "mode": "ro"},
            }
            try:
                raw = self.docker.containers.run(self.plan.images["mariadb"], ["galera-recover"], remove=True,
                                                 network_mode="none", volumes=volumes,
                                                 environment={"GALERA_NODE_NAME": node}, stderr=False)
            except docker.errors.ContainerError as exc:
                raise LabError(f"reading {node}'s position failed: {exc.stderr or exc}") from None
            lines = [ln for ln in raw.decode().splitlines() if ln.startswith("{")]
            if not lines:
                raise LabError(f"galera-recover printed no position for {node}")
            d = json.loads(lines[-1])
            out.append(Position(node, d.get("uuid", ""), int(d.get("seqno", -1)), int(d.get("safe_to_bootstrap", 0)), d.get("source", "")))
        return out

    def _set_control(self, name: str, value: str | None) -> None:
        """A control file the images' entrypoints read while `up` runs (None removes it)."""
        path = self.stack / "control" / name
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(value + "\n")

    def _set_bootstrap(self, node: str | None) -> None:
        """Which node may form a new cluster (the Galera entrypoint reads it)."""
        self._set_control("bootstrap", node)

    def start_galera(self, say: Say, deadline: float) -> None:
        running = self.running_nodes()
        if running and not self._primary_among(running, say, deadline):
            # e.g. an `up` interrupted mid-bootstrap, or a majority lost: stop them cleanly and
            # recover from the most advanced node instead of waiting forever
            say(f"galera: no Primary component among {', '.join(running)}; stopping them to recover")
            self.compose.compose.stop(services=running, timeout=60)
            running = []
        if not running:
            self._bootstrap(say, deadline)
        missing = [n for n in self.spec.node_names if n not in self.running_nodes()]
        for node in missing:
            # each joiner starts once the one before it is a member of the component, not once it
            # is Synced: its group join and start overlap the state transfer before it, and Galera
            # queues its own SST until a donor is free (a donor serves one at a time). Not all at
            # once: two nodes joining the group together make it forget one for gmcast's 5 s
            # time_wait (measured: the second SST then began 10 s after its node started).
            size = self._cluster_size()
            self._before_restart(node, say)
            say(f"galera: {node} joining")
            self._service_up([node])
            try:
                self.wait(lambda size=size: self._cluster_size() > size, f"{node} in the component",
                          min(deadline, time.monotonic() + 30), say, interval=0.2)
            except LabError:
                pass  # no harm but time: it is waited for below like the others
        rejoin = _Rejoiner(self, say)
        if missing:
            try:
                self.wait(lambda: all(s.ready for s in rejoin.statuses(missing)), f"{', '.join(missing)} Synced",
                          deadline, say, interval=0.2)
            except LabError as exc:
                raise LabError(f"{exc}\n{self._joiners_story(missing)}") from None
        size = self.spec.galera.nodes
        self.wait(lambda: all(s.ready and s.cluster_size == size for s in rejoin.statuses(self.spec.node_names)),
                  f"all {size} nodes Synced in a Primary component of size {size}", deadline, say, interval=0.2)
        say(f"galera: {size} nodes Synced, Primary, cluster size {size}")

    def _before_restart(self, node: str, say: Say) -> None:
        """Before starting a node that stopped by itself (not one `down` or a user stopped: exit
        code 0): say why it stopped, from its log (a failed state transfer or a full disk is what
        the user must hear about, not only that `up` started it again), and remove the pid files
        an interrupted SST script left in its datadir. Why: in the new container those pids
        belong to other processes, so the next SST script waits 30 s for a "previous SST" and the
        node aborts again (seen here after a donor died mid-transfer; mariadb-operator#425)."""
        status = self.probe.node(node)
        if status.container not in ("exited", "dead"):
            return
        try:
            container = self.docker.containers.get(self.spec.container(node))
        except docker.errors.NotFound:
            return
        if container.attrs["State"].get("ExitCode") == 0:
            return
        say(f"galera: {node} had stopped: {self.probe.node_note(status)}")
        volume = next((m.get("Name") for m in container.attrs.get("Mounts", [])
                       if m.get("Destination") == DATADIR and m.get("Name")), None)
        if volume is None:
            return
        script = "cd " + DATADIR + " && for f in " + " ".join(STALE_SST_FILES) + '; do [ -e "$f" ] && rm -f "$f" && echo "$f"; done; true'
        out = self.docker.containers.run(self.plan.images["mariadb"], ["sh", "-c", script], remove=True,
                                         network_mode="none", volumes={volume: {"bind": DATADIR, "mode": "rw"}})
        removed = out.decode().split()
        if removed:
            say(f"galera: {node}: removed {', '.join(removed)} left by its interrupted state transfer")

    def _joiners_story(self, nodes: list[str], lines: int = 8) -> str:
        """Each joiner's Galera state and its last state-transfer log lines: a join that never
        ends (a donor that never frees up, an SST that failed on the donor) says why here, in
        the one error a CI log keeps, not in containers already removed by then."""
        out = []
        for node in nodes:
            status = self.probe.node(node)
            try:
                raw = self.docker.containers.get(self.spec.container(node)).logs(tail=400).decode(errors="replace")
            except docker.errors.APIError:
                raw = ""
            wsrep = [ln for ln in raw.splitlines() if "WSREP" in ln or "SST" in ln][-lines:]
            out.append(f"{node}: {status.state} ({status.cluster_status}), cluster size {status.cluster_size}; "
                       "last state-transfer log lines:"
                       + "".join(f"\n  | {ln}" for ln in wsrep or ["(none)"]))
        return "\n".join(out)

    def _cluster_size(self) -> int:
        """Members of the Primary component, as its ready nodes see it (0 with none ready)."""
        return max((s.cluster_size for s in map(self.probe.node, self.spec.node_names) if s.ready), default=0)

    def _bootstrap(self, say: Say, deadline: float) -> None:
        """Form the cluster on one node: the most advanced one when data is kept, else node1."""
        kept = self.node_volumes()
        if kept:
            positions = self.positions(kept)
            for p in positions:
                say(f"galera: {p.node} at seqno {p.seqno} (safe_to_bootstrap={p.safe_to_bootstrap}, from {p.source})")
            first = choose_bootstrap(positions).node
            say(f"galera: bootstrapping from {first}, the most advanced node")
        else:
            first = self.spec.node_names[0]
            say(f"galera: new cluster, bootstrapping {first}")
        self._set_bootstrap(first)
        try:
            self._service_up([first])
            self.wait(lambda: self.probe.node(first).ready, f"{first} Synced and Primary", deadline, say, interval=0.2)
        finally:
            self._set_bootstrap(None)

    def _primary_among(self, running: list[str], say: Say, deadline: float) -> bool:
        """Whether a running node reaches Synced+Primary within a short grace period."""
        say(f"galera: {', '.join(running)} running; waiting for a Primary component")
        try:
            self.wait(lambda: any(self.probe.node(n).ready for n in running), "a Primary component",
                      min(deadline, time.monotonic() + 45), say)
            return True
        except LabError:
            return False

    def start_proxies(self, say: Say, deadline: float, also: list[str] | None = None) -> None:
        """Start the proxies and their keepalived sidecars (and `also`, in the same compose call),
        wait until each sees a backend and SQL works through the VIP."""
        services = [s for p in self.spec.proxy_names for s in (p, "keepalived" + p.removeprefix("proxy"))]
        sidecars = [s for s in services if s.startswith("keepalived")]
        # no keepalived of the lab runs, so nobody holds the VIP: the first proxy's may take it
        # at once instead of after a master-down interval (keepalived-entrypoint, "vip-first")
        fresh = all(self.probe.container_state(s) not in ("running", "paused", "restarting") for s in sidecars)
        self._set_control("vip-first", self.spec.proxy_names[0] if fresh else None)
        try:
            self._start_proxies(services + (also or []), say, deadline)
        finally:
            self._set_control("vip-first", None)

    def _start_proxies(self, services: list[str], say: Say, deadline: float) -> None:
        self._service_up(services)
        for proxy in self.spec.proxy_names:
            self._rejoin_sidecar(proxy, say)
        for proxy in self.spec.proxy_names:
            self.wait(lambda proxy=proxy: self.probe.proxy(proxy).ready, f"{proxy} ({self.plan.proxy_kind}) seeing its backends",
                      deadline, say, interval=0.2)
        for proxy in self.spec.proxy_names:  # again: a proxy its restart policy brought back after a crash at start
            self._rejoin_sidecar(proxy, say)
        self.wait(lambda: self.probe.vip(None).sql_ok, f"SQL through the VIP {self.spec.keepalived.vip}:{self.spec.proxy.sql_port}",
                  deadline, say, interval=0.2)
        holder = [p for p in self.spec.proxy_names if self.probe.vip_holder_of(p)]
        say(f"proxies: {self.plan.proxy_kind} x{len(self.spec.proxy_names)} ready, VIP on {', '.join(holder) or '?'}")

    def start_forwarder(self, say: Say, deadline: float) -> None:
        """The bridge frontend's VIP forwarder, waited for through its published port (the one
        way a Docker Desktop host reaches the VIP)."""
        self._service_up([frontend.FORWARDER])
        self.wait(lambda: self.probe.forward().sql_ok, f"SQL through the forwarder {frontend.published_text(self.plan)}",
                  deadline, say)
        say(f"forwarder: {frontend.published_text(self.plan)} ready")

    def _rejoin_sidecar(self, proxy: str, say: Say) -> None:
        """Restart a keepalived sidecar started before its proxy: it sits in the proxy's old,
        dead network namespace (a proxy that crashed and was started again), holding nothing."""
        proxy_c = self.docker.containers.get(self.spec.container(proxy))
        sidecar = self.docker.containers.get(self.spec.container("keepalived" + proxy.removeprefix("proxy")))
        if sidecar.attrs["State"]["StartedAt"] < proxy_c.attrs["State"]["StartedAt"]:
            say(f"keepalived{proxy.removeprefix('proxy')}: restarting into {proxy}'s new network namespace")
            sidecar.restart(timeout=5)

    def apply_app_schema(self) -> None:
        """The probe app's tables, created through the VIP as the app itself would (idempotent)."""
        schema = (CHAMILO / "probe" / "rootfs" / "usr" / "share" / "lab-app" / "schema.sql").read_text()
        with db.session(str(self.spec.keepalived.vip), self.spec.proxy.sql_port, "chamilo",
                        self.secrets["APP_PASSWORD"], "chamilo", timeout=10) as conn:
            db.run_script(conn, schema)

    def start_app(self, say: Say, deadline: float) -> None:
        """Start the app and wait until it answers; Chamilo's first start installs it (lab/chamilo.py)."""
        if self.plan.app_kind == "probe":
            self.apply_app_schema()
            if self.probe.container_state("app") != "running":
                self._service_up(["app"])
            self.wait_app(say, deadline)
            return
        node = str(self.spec.node_address(chamilo.INSTALL_NODE))
        with self.probe.admin_sql(node, timeout=10) as conn, chamilo.install_window(conn, say) as installing:
            self._service_up(["app"])
            self.wait_app(say, deadline, "Chamilo installing itself, then " if installing else "")

    def wait_app(self, say: Say, deadline: float, doing: str = "") -> None:
        """Wait for the app's HTTP answer; fail at once, with its last log lines, if its container stops."""
        name = self.spec.container("app")

        def answers() -> bool:
            state = self.probe.container_state("app")
            if state in ("exited", "dead", "restarting", "missing"):
                try:
                    logs = self.docker.containers.get(name).logs(tail=20).decode(errors="replace").rstrip()
                except docker.errors.NotFound:
                    logs = "(no container)"
                raise LabError(f"the application container {name} is {state}; its last log lines:\n{logs}")
            return self.probe.app().ok

        self.wait(answers, f"{doing}the application answering at {self.probe.app_url()}", deadline, say)

    def wait(self, condition: Callable[[], bool], what: str, deadline: float, say: Say, interval: float = 0.5) -> None:
        """Poll a real condition until it holds; fail at the deadline saying what never happened.

        During `up`, every poll also looks at the containers started so far: one that exited,
        died or keeps restarting can't become ready, so waiting on ends at once with its logs.
        """
        started = time.monotonic()
        announced = False
        while True:
            try:
                if condition():
                    return
            except (pymysql.MySQLError, OSError, docker.errors.APIError):
                pass
            self._check_started(what)
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}; `galera-lab status` and `docker logs` show why")
            if not announced and time.monotonic() - started > 2:
                say(f"waiting for {what} …")
                announced = True
            time.sleep(interval)

    def _check_started(self, what: str) -> None:
        """LabError with the last log lines of a started container that can't become ready."""
        for service in self._watching or []:
            try:
                container = self.docker.containers.get(self.spec.container(service))
            except docker.errors.NotFound:
                raise LabError(f"{self.spec.container(service)} vanished while waiting for {what} (removed by "
                               f"someone else?); {engine.RESUME}") from None
            trouble = engine.container_trouble(container)
            if trouble:
                raise LabError(f"{service} failed while waiting for {what}: {trouble}\n{engine.RESUME}")

    # ---- down / status ----

    def down(self, volumes: bool = False, say: Say = _quiet) -> None:
        """Remove containers, networks and host links (and data volumes when asked)."""
        if not (self.stack / "compose.yaml").exists():
            self.render()  # a lab whose folder was deleted: compose still needs the file to find it
        try:
            self.compose.compose.down(remove_orphans=True, volumes=volumes, timeout=30, quiet=True)
        except DockerException as exc:
            raise LabError(f"docker compose down failed: {exc.stderr or exc}") from None
        self._remove_labelled(volumes)
        self._set_bootstrap(None)
        # a bridge frontend made no host link; Docker removed its bridge with the network
        removed = [] if self.plan.bridge else hostnet.remove(self.hostnet)
        say(f"removed containers and networks{', data volumes' if volumes else ' (data kept)'}"
            + (f", host links {', '.join(removed)}" if removed else ""))

    def _remove_labelled(self, volumes: bool) -> None:
        """What carries the lab's label but not in the compose file as it is now: a chaos fault's
        helper container, or a volume of a variant stack (a node's tmpfs datadir) left by a run
        that died before its heal."""
        label = {"label": f"galera-lab.project={self.spec.project}"}
        for container in self.docker.containers.list(all=True, filters=label):
            container.remove(force=True)
        if volumes:
            for volume in self.docker.volumes.list(filters=label):
                volume.remove(force=True)

    def status(self, details: bool = False) -> LabStatus:
        return self.probe.all(details)


def leftover_resources(spec: LabSpec) -> dict[str, list[str]]:
    """Everything of a lab still on the machine (the end-to-end test asserts it is empty)."""
    cli = docker.from_env()
    label = {"label": f"galera-lab.project={spec.project}"}
    stack_links = [n for n in (spec.parent_bridge, spec.shim_link) if hostnet.link_exists(n)]
    return {
        "containers": [c.name for c in cli.containers.list(all=True, filters=label)],
        "networks": [n.name for n in cli.networks.list(filters=label)],
        "volumes": [v.name for v in cli.volumes.list(filters=label)],
        "links": stack_links,
    }


class _Rejoiner:
    """Restarts a node that `up` waits for and that dropped out of the group for good.

    Why: on a loaded machine (CI, a room of labs) a node that has just joined can be suspected
    and partitioned away before its SST starts. MariaDB then disconnects it from the group for
    good ("Non-primary view", "connected -> disconnected") and it waits as Initialized forever,
    so `up` timed out after 300 s (seen in CI and here, under load). A DBA restarts such a node;
    so does `up`, after it stayed disconnected for `after_s`, at most `limit` times per node.
    """

    def __init__(self, lab: Lab, say: Say, after_s: float = 10.0, limit: int = 2):
        self.lab, self.say, self.after_s, self.limit = lab, say, after_s, limit
        self.since: dict[str, float] = {}
        self.restarts: dict[str, int] = {}

    def statuses(self, nodes: list[str]) -> list[NodeStatus]:
        """Each node's status now, after restarting those disconnected for too long."""
        statuses = [self.lab.probe.node(n) for n in nodes]
        now = time.monotonic()
        for s in statuses:
            if s.container != "running" or s.cluster_status != "Disconnected":
                self.since.pop(s.name, None)
                continue
            if now - self.since.setdefault(s.name, now) < self.after_s or self.restarts.get(s.name, 0) >= self.limit:
                continue
            self.say(f"galera: {s.name} dropped out of the group before it joined ({s.state}, disconnected "
                     f"{self.after_s:.0f} s); restarting it")
            self.lab.docker.containers.get(self.lab.spec.container(s.name)).restart(timeout=30)
            self.restarts[s.name] = self.restarts.get(s.name, 0) + 1
            self.since.pop(s.name, None)
        return statuses
