"""What the lab looks like right now: Galera nodes, proxies and their backends, the VIP, the app.

Read from the real parts (SQL to each node and through the VIP, HAProxy's stats, ProxySQL's
admin tables, the addresses inside the proxies' network namespace, HTTP to the app), never from
what `up` believes it started. The same probes serve the health waits of `up`, `status --json`
and the chaos suite's target resolution (who is the writer, who holds the VIP).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

import docker
import docker.errors
import pymysql

from lab import db, nodelog, reach
from lab.frontend import FORWARD_BIND
from lab.plan import Plan


@dataclass
class NodeStatus:
    name: str
    container: str  # running | exited | paused | missing
    state: str  # wsrep_local_state_comment, or why it can't be read
    cluster_size: int
    cluster_status: str
    ready: bool  # Synced in a Primary component
    last_committed: int = -1
    note: str = ""  # why it is not ready, from its exit code and log (`node_note`; status --details)


@dataclass
class ProxyStatus:
    name: str
    kind: str
    container: str
    holds_vip: bool
    backends: list[dict[str, str]] = field(default_factory=list)  # {name, role, status}
    details: dict[str, Any] = field(default_factory=dict)  # the tier's own facts (status command)

    @property
    def ready(self) -> bool:
        return self.container == "running" and any(b["status"] == "UP" for b in self.backends)


@dataclass
class VipStatus:
    address: str
    port: int
    holder: str | None
    sql_ok: bool
    served_by: str | None = None
    error: str | None = None


@dataclass
class ForwardStatus:
    """A bridge frontend's VIP forwarder, tried as a host client would: SQL to its published port."""

    address: str
    port: int
    sql_ok: bool
    served_by: str | None = None
    error: str | None = None


APP_WORKS: dict[str, bytes] = {"probe": b"Database reachable", "chamilo": b'name="login"'}
"""What each application's home page shows when it works (the probe app's database check,
Chamilo's login form). Why not the status code alone: Chamilo answers HTTP 200 with its own
"Database is unavailable" page while it can't reach the database."""


def page_title(body: bytes) -> str:
    """A page's <title> on one line (at most 100 characters), "" without one: how Chamilo's
    error pages say what went wrong (e.g. "Database is unavailable", with HTTP 200)."""
    title = re.search(rb"<title[^>]*>(.*?)</title>", body[:200000], re.S | re.I)
    return " ".join(title.group(1).decode(errors="replace").split())[:100] if title else ""


@dataclass
class AppStatus:
    kind: str
    url: str
    http_status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.error is None


@dataclass
class LabStatus:
    project: str
    galera: list[NodeStatus]
    proxies: list[ProxyStatus]
    vip: VipStatus
    app: AppStatus
    forward: ForwardStatus | None = None  # a bridge frontend's forwarder (None: macvlan, no forwarder)
    frontend: str = "macvlan"  # the frontend network's driver

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for p, obj in zip(d["proxies"], self.proxies):
            p["ready"] = obj.ready
        return d

    @property
    def healthy(self) -> bool:
        return not self.unhealthy_parts()

    def unhealthy_parts(self) -> list[str]:
        """The parts not ready, by name (a node outside the full cluster counts), for messages."""
        n = len(self.galera)
        bad = [x.name for x in self.galera if not (x.ready and x.cluster_size == n)]
        bad += [p.name for p in self.proxies if not p.ready]
        if not self.vip.sql_ok:
            bad.append("VIP")
        if not self.app.ok:
            bad.append("app")
        if self.forward is not None and not self.forward.sql_ok:
            bad.append("forwarder")
        return bad


class Probe:
    """Reads the state of one lab; cheap enough to call in a polling loop."""

    def __init__(self, plan: Plan, secrets: dict[str, str], docker_client: docker.DockerClient | None = None):
        self.plan = plan
        self.spec = plan.spec
        self.secrets = secrets
        reach.register(plan)  # a Probe made without a Lab (tests, the dashboard) reaches the lab as `up` did
        self.docker = docker_client or docker.from_env(timeout=30)

    # ---- containers ----

    def container_state(self, service: str) -> str:
        try:
            c = self.docker.containers.get(self.spec.container(service))
        except docker.errors.NotFound:
            return "missing"
        return "paused" if c.status == "paused" else c.status

    # ---- Galera ----

    def admin_sql(self, host: str, port: int = 3306, timeout: float = 2.0) -> pymysql.connections.Connection:
        return db.connect(host, port, "lab_admin", self.secrets["LAB_ADMIN_PASSWORD"], timeout=timeout)

    def node(self, name: str) -> NodeStatus:
        container = self.container_state(name)
        if container != "running":
            return NodeStatus(name, container, container, 0, "-", False)
        try:
            with self.admin_sql(str(self.spec.node_address(name))) as conn:
                v = db.status_vars(conn)
        except pymysql.MySQLError as exc:
            return NodeStatus(name, container, f"unreachable ({exc.args[0] if exc.args else exc})", 0, "-", False)
        state = v.get("wsrep_local_state_comment", "?")
        size = int(v.get("wsrep_cluster_size", "0") or 0)
        cstatus = v.get("wsrep_cluster_status", "?")
        return NodeStatus(name, container, state, size, cstatus, state == "Synced" and cstatus == "Primary",
                          int(v.get("wsrep_last_committed", "-1") or -1))

    def node_note(self, status: NodeStatus) -> str:
        """Why a node is not ready, in one line: an exited container's exit code and the cause its
        log gives (lab/nodelog.py); for a running node only a cause of that list (a joining node's
        log has errors that mean nothing)."""
        if status.ready or status.container == "missing":
            return ""
        try:
            c = self.docker.containers.get(self.spec.container(status.name))
            cause = nodelog.why_down(c.logs(tail=600).decode(errors="replace"))
        except (docker.errors.NotFound, docker.errors.APIError):
            return ""
        if status.container == "running":
            return cause.text() if cause is not None and cause.kind != "error" else ""
        code = int(c.attrs["State"].get("ExitCode") or 0)
        return f"{status.container} ({nodelog.exit_text(code)})" + (f"; {cause.text()}" if cause is not None else "")

    # ---- proxies ----

    def vip_holder_of(self, proxy: str) -> bool:
        """Whether the VIP is on the proxy's interfaces (read inside its keepalived sidecar)."""
        sidecar = "keepalived" + proxy.removeprefix("proxy")
        try:
            c = self.docker.containers.get(self.spec.container(sidecar))
            if c.status != "running":
                return False
            code, out = c.exec_run(["ip", "-o", "-4", "addr", "show"])
        except (docker.errors.NotFound, docker.errors.APIError):
            return False
        return code == 0 and f" {self.spec.keepalived.vip}/" in out.decode()

    def proxy(self, name: str) -> ProxyStatus:
        tier = self.plan.tier
        container = self.container_state(name)
        status = ProxyStatus(name, self.plan.proxy_kind, container, False)
        if container != "running":
            return status
        status.holds_vip = self.vip_holder_of(name)
        try:
            status.backends = [b.as_dict() for b in tier.backends(name, self.secrets)]
        except (OSError, urllib.error.URLError, pymysql.MySQLError, ValueError):
            status.backends = []
        return status

    def proxy_details(self, name: str) -> dict[str, Any]:
        """The tier's own facts about a running proxy (ProxySQL: hostgroups, cluster sync)."""
        if self.container_state(name) != "running":
            return {}
        try:
            return asdict(self.plan.tier.details(name, self.secrets))
        except (OSError, urllib.error.URLError, pymysql.MySQLError, ValueError) as exc:
            return {"error": str(exc)}

    # ---- VIP and app ----

    def vip(self, holder: str | None) -> VipStatus:
        address, port = str(self.spec.keepalived.vip), self.spec.proxy.sql_port
        try:
            with self.admin_sql(address, port, timeout=2) as conn:
                served_by = db.query(conn, "SELECT @@wsrep_node_name")[0][0]
            return VipStatus(address, port, holder, True, served_by)
        except pymysql.MySQLError as exc:
            return VipStatus(address, port, holder, False, error=str(exc.args[-1] if exc.args else exc))

    def forward(self) -> ForwardStatus:
        """SQL through the forwarder's published SQL port (only a bridge frontend has one)."""
        port = self.spec.networks.frontend.forward_port
        try:
            with self.admin_sql(FORWARD_BIND, port, timeout=2) as conn:
                served_by = db.query(conn, "SELECT @@wsrep_node_name")[0][0]
            return ForwardStatus(FORWARD_BIND, port, True, served_by)
        except pymysql.MySQLError as exc:
            return ForwardStatus(FORWARD_BIND, port, False, error=str(exc.args[-1] if exc.args else exc))

    def app_url(self) -> str:
        return f"http://{self.spec.app.bind}:{self.spec.app.http_port}/"

    def app(self) -> AppStatus:
        url = self.app_url()
        # the probe app answers JSON unless asked for HTML, and only its HTML page says
        # "Database reachable"; Chamilo serves HTML either way
        request = urllib.request.Request(url, headers={"Accept": "text/html"})
        try:
            with urllib.request.urlopen(request, timeout=3) as resp:
                body = resp.read()
                if resp.status == 200 and APP_WORKS[self.plan.app_kind] not in body:
                    return AppStatus(self.plan.app_kind, url, resp.status,
                                     f"a page other than its home page: {page_title(body) or '?'}")
                return AppStatus(self.plan.app_kind, url, resp.status)
        except urllib.error.HTTPError as exc:
            return AppStatus(self.plan.app_kind, url, exc.code, str(exc.reason))
        except (urllib.error.URLError, OSError) as exc:
            return AppStatus(self.plan.app_kind, url, None, str(getattr(exc, "reason", exc)))

    def all(self, details: bool = False) -> LabStatus:
        """Everything; `details` adds the tier's own facts per proxy (one more query each) and
        why each node that is not ready is not (its log)."""
        nodes = [self.node(n) for n in self.spec.node_names]
        if details:
            for n in nodes:
                n.note = self.node_note(n)
        proxies = [self.proxy(p) for p in self.spec.proxy_names]
        if details:
            for p in proxies:
                p.details = self.proxy_details(p.name)
        holders = [p.name for p in proxies if p.holds_vip]
        holder = holders[0] if len(holders) == 1 else (",".join(holders) if holders else None)
        forward = self.forward() if self.plan.bridge else None
        return LabStatus(self.spec.project, nodes, proxies, self.vip(holder), self.app(), forward,
                         self.plan.frontend_driver)
