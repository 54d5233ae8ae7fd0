"""The proxy tier behind one small interface: everything that differs between HAProxy and
ProxySQL (and would differ for a third tier, MariaDB MaxScale say) lives in one module each.

Why: the lab, the status probe, the chaos suite and the stale-read study all ask the same few
questions of the tier (which image, which files, where do reads and writes go, how does it see
its backends, does it pin a session to one backend). Asking them here, instead of branching on
the tier's name in every file, keeps each tier's facts in one place and makes a new tier one
new file registered in `lab/tiers/__init__.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import jinja2

    from lab.images import ImageDef
    from lab.spec import LabSpec

Files = dict[str, tuple[str, bool]]  # relative path in the stack folder → (content, is_secret)


@dataclass(frozen=True)
class Backend:
    """One Galera node as one proxy sees it, in one role.

    `role` is writer | backup-writer | reader | offline; `status` is UP when the proxy would
    send traffic of that role to the node now, else the proxy's own word for it (DOWN,
    SHUNNED, OFFLINE_SOFT, MAINT, …). A node parked in an offline group is never UP.
    """

    name: str
    role: str
    status: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role, "status": self.status}


@dataclass(frozen=True)
class ServiceShape:
    """How the proxy's compose service runs: mounts, command and scratch space.

    `launch` is the proxy's whole command line, run in the foreground under the lab's handover
    wrapper (lab/handover.py), which replaces the image's entrypoint and command."""

    volumes: tuple[str, ...]
    launch: tuple[str, ...]
    tmpfs: tuple[str, ...] = ()
    user: str | None = None  # the image's own USER when None
    restart: str | None = None  # compose restart policy; None: the lab's faults decide what runs


@dataclass(frozen=True)
class Availability:
    """Whether `auto` may pick this tier on this machine, and why (printed by `up`)."""

    ok: bool
    reason: str


@dataclass
class ProxyDetails:
    """Tier-specific facts for `status`: e.g. ProxySQL's hostgroups and cluster sync."""

    hostgroups: dict[str, list[str]] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)


class ProxyTier(ABC):
    """One proxy tier for one spec. Subclasses set the class facts and implement the methods."""

    kind: ClassVar[str]  # the spec's proxy.kind value
    title: ClassVar[str]  # how people name it
    routes_by_statement: ClassVar[bool]  # one port, the proxy reads each statement (ProxySQL)
    pins_sessions: ClassVar[bool]  # a client session stays on one backend connection
    pools_connections: ClassVar[bool]  # backend connections outlive client sessions (a pool)
    # the proxy checks a client's password itself (one per user) instead of passing the login on
    # to MariaDB: during `secrets rotate` its clients must switch at once (lab/rotate.py)
    checks_client_passwords: ClassVar[bool]
    serves_desynced_reader: ClassVar[bool]  # keeps reading from a node desynced by FTWRL (a backup)
    pinning_reference: ClassVar[str]  # where that fact is documented
    rendered_paths: ClassVar[tuple[str, ...]]  # every file this tier may render (for cleanup)

    def __init__(self, spec: LabSpec):
        self.spec = spec

    # ---- images and files ----

    @abstractmethod
    def image(self) -> ImageDef:
        """The image the proxies run (built, pulled or brought by the user)."""

    def prepare_build(self) -> None:
        """Put what the user supplied into the build context (nothing by default)."""

    def availability(self, present: Callable[[str], bool]) -> Availability:
        """May `auto` pick this tier here? Decided from local images only (no download)."""
        return Availability(True, f"{self.title} builds from Debian packages")

    @abstractmethod
    def files(self, env: jinja2.Environment, ctx: dict[str, Any]) -> Files:
        """The tier's rendered configuration files."""

    @abstractmethod
    def service(self) -> ServiceShape:
        """Mounts and command of the proxy's compose service."""

    # ---- endpoints and routing ----

    @property
    def write_port(self) -> int:
        """Where clients send writes (the VIP's SQL port)."""
        return self.spec.proxy.sql_port

    @property
    def read_port(self) -> int:
        """Where clients send reads that may go to the readers."""
        return self.spec.proxy.sql_port

    @property
    @abstractmethod
    def route_classes(self) -> dict[str, str]:
        """Statement class the routing probe sends → role that must serve it (writer | readers)."""

    def endpoints_text(self) -> str:
        """One line for the `up` summary: where to send what."""
        vip = self.spec.keepalived.vip
        if self.read_port == self.write_port:
            return f"{vip}:{self.write_port} (reads split from writes by statement)"
        return f"{vip}:{self.write_port} writes, {vip}:{self.read_port} reads"

    # ---- the running proxy ----

    @abstractmethod
    def backends(self, proxy: str, secrets: dict[str, str]) -> list[Backend]:
        """How `proxy` sees every node in every role, read from the proxy itself."""

    def settled(self, backends: list[Backend]) -> bool:
        """A proxy's view once every node is healthy and failovers are over: every row UP."""
        return bool(backends) and all(b.status == "UP" for b in backends)

    def details(self, proxy: str, secrets: dict[str, str]) -> ProxyDetails:
        """Tier-specific status facts (none by default)."""
        return ProxyDetails()

    @abstractmethod
    def rotate_credentials(self, proxies: list[str], old: dict[str, str], new: dict[str, str],
                           say: Callable[[str], None]) -> None:
        """Switch the running `proxies` (the VIP holder last) from the `old` secrets to the `new`.

        Called by lab/rotate.py while MariaDB accepts both the old and the new password of every
        lab account, so the tier may switch its backend logins in any order; what it must get
        right is its own clients' logins and its peers (see each tier). A tier that checks
        clients' passwords itself switches that last and returns at once: lab/rotate.py switches
        the clients (secrets.env, the app) right after. Idempotent: an interrupted rotation calls
        it again with the same values."""

    @property
    @abstractmethod
    def version_command(self) -> list[str]:
        """Command run inside the proxy container that prints its version on the first line."""
