"""The topology spec: one validated model of the lab, from defaults, `lab.yaml` and CLI flags.

Everything downstream (templates, runtime, chaos suite) reads this model and nothing else, so a
check made here protects every part, and a bad input is refused before anything is created.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lab.errors import SpecError
from lab.figures import REGRESSION_FIGURES
from lab.grammar import (ArchivePath, ChamiloVersion, DebPath, IfName, ImageRef, Project, ProviderKey, ProviderValue,
                         Sha256, Size, Version, duration_seconds, printable, shown)
from lab.paths import PROFILES
from lab.versions import DEFAULT_VERSION, RELEASES, MariaDBVersion, Release, series_of

IPv4Net = ipaddress.IPv4Network
IPv4Addr = ipaddress.IPv4Address

MAX_NODES = 9  # node i lives at host offset 10+i: keeps the address plan readable
MAX_PROXIES = 9  # proxy j lives at host offset 20+j


LINK_NAME_MAX = 15  # Linux IFNAMSIZ - 1


def link_name(prefix: str, project: str) -> str:
    """A host link name for a project: `prefix+project` when it fits the kernel's 15 characters,
    else a cut of it plus 4 hex digits of the project's hash.

    Why the hash: plain truncation gave `galera-lab-s1` and `galera-lab-s2` (a room's students)
    the same bridge and shim, so the second lab took over the first one's host links."""
    name = prefix + project
    if len(name) <= LINK_NAME_MAX:
        return name
    digest = hashlib.sha1(project.encode()).hexdigest()[:4]
    return name[:LINK_NAME_MAX - 5] + "-" + digest


class _Strict(BaseModel):
    """Base for every section: unknown keys are errors (with a suggestion), not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class GaleraSpec(_Strict):
    """MariaDB Galera nodes: count, where the image comes from, and the replication settings."""

    nodes: int = Field(3, description="Galera node count; 3 or more keeps quorum after one failure")
    version: MariaDBVersion = Field(DEFAULT_VERSION, description="MariaDB series: 10.11 (Debian bookworm) or 11.8 "
                                    "(Debian trixie); lab/versions.py")
    source: Literal["debian", "official"] = Field(
        "debian", description="debian: built offline from Debian packages; official: the mariadb image"
    )
    official_image: ImageRef | None = Field(None, description="official source: the image to build on "
                                            "(default: mariadb:<version>)")
    wsrep_sync_wait: int = Field(0, ge=0, le=15)
    sst_method: Literal["rsync", "mariabackup"] = "rsync"
    provider_options: dict[ProviderKey, ProviderValue] = Field(
        default_factory=lambda: {"gcache.size": "64M", "evs.suspect_timeout": "PT5S"}
    )
    innodb_flush_log_at_trx_commit: Literal[0, 1, 2] = 1
    innodb_buffer_pool_size: Size = "64M"
    datadir_tmpfs: dict[str, Size] = Field(
        default_factory=dict, description="node → size: that node's datadir is a size-limited tmpfs instead of its "
        "named volume, so that it can fill up (the chaos suite's full-disk scenario); it lives in RAM and is "
        "emptied at every stop of the node, which then rejoins by a full SST")
    innodb_snapshot_isolation: bool | None = Field(
        None, description="REPEATABLE READ refuses a write that would lose an update (error 1020); None: the "
        "server's default (OFF on 10.11, ON on 11.8)")

    @field_validator("nodes")
    @classmethod
    def _quorum(cls, v: int) -> int:
        if v < 3:
            raise ValueError(
                f"{v} node(s) can't keep a Primary component after one failure; set galera.nodes to 3 or more"
            )
        if v > MAX_NODES:
            raise ValueError(f"at most {MAX_NODES} nodes fit the address plan; set galera.nodes to {MAX_NODES} or fewer")
        return v

    @model_validator(mode="after")
    def _tmpfs_nodes_exist(self) -> GaleraSpec:
        names = [f"node{i}" for i in range(1, self.nodes + 1)]
        unknown = [n for n in self.datadir_tmpfs if n not in names]
        if unknown:
            raise ValueError(f"datadir_tmpfs names {', '.join(map(repr, unknown))}, not a node of this lab "
                             f"({', '.join(names)})")
        return self

    @field_validator("provider_options")
    @classmethod
    def _timeout_is_a_period(cls, v: dict[str, str]) -> dict[str, str]:
        """The lab derives its eviction deadlines from evs.suspect_timeout, so it must parse."""
        if "evs.suspect_timeout" in v:
            try:
                duration_seconds(v["evs.suspect_timeout"])
            except ValueError as exc:
                raise ValueError(f"evs.suspect_timeout: {exc}") from None
        return v

    @model_validator(mode="after")
    def _official_image_is_the_version(self) -> GaleraSpec:
        """An official image whose tag names another series would run a version the lab did not
        choose the config for (a tag without a series, e.g. a digest or `latest`, is the user's call)."""
        series = series_of(self.official_image) if self.official_image else None
        if series is not None and series != self.version:
            raise ValueError(f"galera.official_image {self.official_image} is MariaDB {series}, but galera.version is "
                             f"{self.version}; set galera.version: \"{series}\" or use mariadb:{self.version}")
        return self

    @property
    def release(self) -> Release:
        """The chosen series with its Debian release and official image."""
        return RELEASES[self.version]

    @property
    def official_ref(self) -> str:
        """The official image the `official` source builds on."""
        return self.official_image or self.release.official_image

    @property
    def suspect_timeout_s(self) -> float:
        """evs.suspect_timeout in seconds (ISO 8601, e.g. PT5S), used to derive eviction deadlines."""
        return duration_seconds(self.provider_options.get("evs.suspect_timeout", "PT5S"))


class ProxySpec(_Strict):
    """The proxy tier in front of Galera; `auto` picks ProxySQL when its image can be had."""

    kind: Literal["auto", "proxysql", "haproxy"] = "auto"
    count: int = Field(2, ge=1, le=MAX_PROXIES)
    proxysql_source: Literal["package", "official", "deb", "image"] = Field(
        "package", description="package: ProxySQL's APT repository (signed); official: the proxysql/proxysql "
        "image; deb: proxysql_deb, a package you downloaded; image: proxysql_image, an image you bring")
    proxysql_version: Version = Field("2.7.3", description="ProxySQL release, e.g. 2.7.3")
    proxysql_image: ImageRef | None = Field(
        None, description="a local image with a proxysql binary on its PATH (bring your own)")
    proxysql_deb: DebPath | None = Field(None, description="a ProxySQL Debian 12 package on this machine (offline)")
    proxysql_connection_reset: Literal["close", "change-user"] = Field(
        "close", description="close: a pooled backend connection that needs a reset is closed and a new one "
        "opened; change-user: ProxySQL's default COM_CHANGE_USER reset, after which MariaDB stops causal reads "
        "on that connection (mariadb-corporation/galera#613), so wsrep_sync_wait no longer holds through ProxySQL")
    proxysql_retry_writes: bool = Field(
        False, description="false: ProxySQL re-executes only plain SELECTs after a backend failure "
        "(query_retries_on_failure=0, retries=1 on the read rule); true: ProxySQL's default, which also "
        "re-executes a write whose commit it could not see, and turns a committed write into an error "
        "(duplicate key) or, without a unique key, into two rows")
    sql_port: int = Field(6033, ge=1, le=65535)
    reader_port: int = Field(6034, ge=1, le=65535, description="HAProxy reader listener")
    admin_port: int = Field(6032, ge=1, le=65535, description="ProxySQL admin interface")
    stats_port: int = Field(8404, ge=1, le=65535, description="HAProxy stats")
    monitor_interval_ms: int = Field(1000, ge=100, le=60000)
    monitor_timeout_ms: int = Field(600, ge=50, le=60000)
    writer_is_reader: bool = False

    @model_validator(mode="after")
    def _ports_distinct(self) -> ProxySpec:
        ports = {"sql_port": self.sql_port, "reader_port": self.reader_port,
                 "admin_port": self.admin_port, "stats_port": self.stats_port}
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"port clash: proxy.{name} and proxy.{seen[port]} are both {port}; give each its own port")
            if port == 9200:
                raise ValueError(f"port clash: proxy.{name} is 9200, the Galera health port; choose another")
            seen[port] = name
        if self.monitor_timeout_ms >= self.monitor_interval_ms:
            raise ValueError("proxy.monitor_timeout_ms must be below proxy.monitor_interval_ms")
        return self

    @model_validator(mode="after")
    def _proxysql_source(self) -> ProxySpec:
        """An image or .deb given without a source means that source; a source needs its input."""
        if "proxysql_source" not in self.model_fields_set:
            if self.proxysql_image is not None:
                object.__setattr__(self, "proxysql_source", "image")
            elif self.proxysql_deb is not None:
                object.__setattr__(self, "proxysql_source", "deb")
        if self.proxysql_source == "image" and self.proxysql_image is None:
            raise ValueError("proxy.proxysql_source is image but proxy.proxysql_image is not set; name a local "
                             "image with a proxysql binary, e.g. proxy.proxysql_image: mycorp/proxysql:2.7.3")
        if self.proxysql_source == "deb" and self.proxysql_deb is None:
            raise ValueError("proxy.proxysql_source is deb but proxy.proxysql_deb is not set; give the path of "
                             "a ProxySQL Debian 12 package, e.g. proxysql_2.7.3-debian12_amd64.deb")
        return self


class KeepalivedSpec(_Strict):
    """VRRP holding the VIP in front of the proxies."""

    vip: IPv4Addr = IPv4Addr("198.18.1.100")
    virtual_router_id: int = Field(51, ge=1, le=255)
    advert_interval: float = Field(1.0, gt=0, le=255)
    vrrp_version: Literal[2, 3] = 2
    unicast: bool = True

    @model_validator(mode="after")
    def _advert_matches_version(self) -> KeepalivedSpec:
        if self.vrrp_version == 2 and self.advert_interval != int(self.advert_interval):
            raise ValueError(
                f"VRRPv2 rounds advert_interval to whole seconds ({self.advert_interval} given); "
                "use keepalived.vrrp_version: 3 for sub-second adverts"
            )
        if self.vrrp_version == 3 and round(self.advert_interval * 100) != self.advert_interval * 100:
            raise ValueError("VRRPv3 advert_interval has centisecond resolution; use e.g. 0.25")
        return self


class FrontendNet(_Strict):
    """The network carrying the VIP, the proxies' client ports and the app: a macvlan on a host
    bridge (the host reaches the VIP through a shim link, as a LAN client would), or a Docker
    bridge network where macvlan can't reach the host (Docker Desktop); lab/frontend.py."""

    driver: Literal["auto", "macvlan", "bridge"] = Field(
        "auto", description="macvlan: on a host bridge with a host shim link (Linux engine); bridge: a Docker "
        "bridge network, the VIP published on 127.0.0.1 by a forwarder; auto: macvlan on a Linux engine, "
        "bridge on Docker Desktop")
    subnet: IPv4Net = IPv4Net("198.18.1.0/24")
    parent: IfName | None = Field(None, description="macvlan only: host bridge used as macvlan parent "
                                  "(default: glb-<project>)")
    shim_address: IPv4Addr | None = Field(None, description="macvlan only: host address on the frontend "
                                          "(default: last usable)")
    forward_port: int = Field(16033, ge=1, le=65535, description="bridge only: port on 127.0.0.1 forwarded to "
                              "the VIP's SQL port")
    forward_reader_port: int = Field(16034, ge=1, le=65535, description="bridge only, HAProxy: port on "
                                     "127.0.0.1 forwarded to the VIP's reader port")
    host_reach: Literal["auto", "direct", "published"] = Field(
        "auto", description="how this host's tools (up's waits, status, chaos) reach nodes, proxies and the VIP: "
        "direct (routed; a Linux engine), published (bridge only: through ports on 127.0.0.1, which a Docker "
        "Desktop host needs); auto: published on Docker Desktop, else direct (lab/reach.py)")
    reach_port_base: int = Field(16100, ge=1, le=65535, description="published reach only: first port on "
                                 "127.0.0.1; each node's SQL and health port, then each proxy's admin/stats "
                                 "port take the next ones in order")

    @model_validator(mode="after")
    def _forward_ports_distinct(self) -> FrontendNet:
        if self.forward_port == self.forward_reader_port:
            raise ValueError(f"port clash: networks.frontend.forward_port and forward_reader_port are both "
                             f"{self.forward_port}; give each its own port")
        return self

    def bridge_refusal(self) -> str | None:
        """Why this section can't describe a bridge frontend, or None.

        Refused rather than ignored: `parent` and `shim_address` place host links that only a
        macvlan frontend makes; a user who set them expects the lab on that parent or at that
        address, and a bridge lab silently elsewhere would be a surprise found much later."""
        for key in ("parent", "shim_address"):
            if getattr(self, key) is not None:
                return (f"networks.frontend.{key} is set, but a bridge frontend has no host "
                        f"{'parent link' if key == 'parent' else 'shim link (the host address is the bridge gateway)'}; "
                        f"remove it, or set networks.frontend.driver: macvlan on a Linux engine")
        return None


class BackendNet(_Strict):
    """The bridge network carrying Galera replication and proxy-to-database traffic."""

    subnet: IPv4Net = IPv4Net("198.18.0.0/24")


class NetworksSpec(_Strict):
    frontend: FrontendNet = FrontendNet()
    backend: BackendNet = BackendNet()


class AppSpec(_Strict):
    """The PHP application in front of the VIP: Chamilo when its release can be had, else the probe app."""

    kind: Literal["auto", "chamilo", "probe"] = "auto"
    http_port: int = Field(8080, ge=1, le=65535)
    bind: IPv4Addr = IPv4Addr("127.0.0.1")
    chamilo_version: ChamiloVersion = Field("1.11.28", description="the release the unattended install is proven on")
    chamilo_archive: ArchivePath | None = Field(None, description="local Chamilo release archive used instead of the download")
    chamilo_sha256: Sha256 = Field("", description="pinned sha256 of the release archive")


class SloSpec(_Strict):
    """Failover deadlines the chaos suite asserts; unset ones derive from the configured timers."""

    vip_failover_s: float | None = Field(None, gt=0)
    write_downtime_s: float | None = Field(None, gt=0)
    evict_s: float | None = Field(None, gt=0)
    rejoin_s: float | None = Field(None, gt=0)


class FigureTolerance(_Strict):
    """One figure's own tolerances (unset: the section's), or `compare: false` to leave it out."""

    compare: bool = True
    tolerance_pct: float | None = Field(None, ge=0, le=10000)
    tolerance_abs_ms: float | None = Field(None, ge=0, le=3_600_000)


class RegressionSpec(_Strict):
    """How much worse than a baseline run a figure may get before `galera-lab chaos --baseline`
    fails: a figure regresses when it exceeds the baseline by more than both the relative and
    the absolute tolerance (the absolute one keeps jitter on small figures from failing a run)."""

    tolerance_pct: float = Field(25.0, ge=0, le=10000, description="allowed increase, % of the baseline value")
    tolerance_abs_ms: float = Field(500.0, ge=0, le=3_600_000,
                                    description="allowed increase in ms (seconds figures: /1000)")
    figures: dict[str, FigureTolerance] = Field(
        default_factory=dict, description=f"per figure overrides; figures: {', '.join(REGRESSION_FIGURES)}")

    @field_validator("figures", mode="before")
    @classmethod
    def _known_figures(cls, v: Any) -> Any:
        """Only figures the comparison knows (a typo would silently compare nothing)."""
        if isinstance(v, dict):
            for name in v:
                if name not in REGRESSION_FIGURES:
                    close = difflib.get_close_matches(str(name), list(REGRESSION_FIGURES), n=1, cutoff=0.5)
                    hint = f"did you mean '{close[0]}'?" if close else f"known figures: {', '.join(REGRESSION_FIGURES)}"
                    raise ValueError(f"unknown figure {shown(name)}; {hint}")
        return v

    def tolerance(self, figure: str) -> tuple[bool, float, float]:
        """(compared?, tolerance %, absolute tolerance in ms) for one figure."""
        own = self.figures.get(figure, FigureTolerance())
        return (own.compare,
                self.tolerance_pct if own.tolerance_pct is None else own.tolerance_pct,
                self.tolerance_abs_ms if own.tolerance_abs_ms is None else own.tolerance_abs_ms)


class LabSpec(_Strict):
    """The whole topology."""

    project: Project = "galera-lab"
    galera: GaleraSpec = GaleraSpec()
    proxy: ProxySpec = ProxySpec()
    keepalived: KeepalivedSpec = KeepalivedSpec()
    networks: NetworksSpec = NetworksSpec()
    app: AppSpec = AppSpec()
    slo: SloSpec = SloSpec()
    regression: RegressionSpec = RegressionSpec()

    @model_validator(mode="after")
    def _address_plan(self) -> LabSpec:
        fe, be = self.networks.frontend.subnet, self.networks.backend.subnet
        for name, net in (("networks.frontend.subnet", fe), ("networks.backend.subnet", be)):
            if net.prefixlen > 24:
                raise ValueError(f"{name} {net} is too small; use a /24 or larger")
        if fe.overlaps(be):
            raise ValueError(f"networks.frontend.subnet {fe} overlaps networks.backend.subnet {be}; give them separate ranges")
        vip = self.keepalived.vip
        if vip not in fe:
            raise ValueError(
                f"keepalived.vip {vip} is outside networks.frontend.subnet {fe}; choose an address inside it, e.g. {fe.network_address + 100}"
            )
        taken = {str(a): n for n, a in self.frontend_addresses().items() if n != "vip"}
        if str(vip) in taken:
            raise ValueError(f"keepalived.vip {vip} is already {taken[str(vip)]}'s address; choose another (e.g. {fe.network_address + 100})")
        if vip in (fe.network_address, fe.broadcast_address):
            raise ValueError(f"keepalived.vip {vip} is the subnet's network or broadcast address; choose a host address")
        shim = self.shim_address
        if shim not in fe or shim in (fe.network_address, fe.broadcast_address):
            raise ValueError(f"networks.frontend.shim_address {shim} must be a host address inside {fe}")
        forward = self.networks.frontend
        for key in ("forward_port", "forward_reader_port"):
            if getattr(forward, key) == self.app.http_port:
                raise ValueError(f"port clash: networks.frontend.{key} and app.http_port are both "
                                 f"{self.app.http_port}; give each its own port")
        if forward.host_reach == "published" and forward.driver == "macvlan":
            raise ValueError("networks.frontend.host_reach: published needs networks.frontend.driver: bridge "
                             "(auto or bridge); on a macvlan frontend this host reaches the lab through its shim link")
        if forward.host_reach != "direct" and forward.driver != "macvlan":
            self._reach_ports_fit()
        if forward.driver == "bridge":
            refusal = self.bridge_refusal()
            if refusal:
                raise ValueError(refusal)
        return self

    def _reach_ports_fit(self) -> None:
        """Published reach's ports (lab/reach.py: one per node SQL and health port, one per proxy)
        must fit below 65536 and miss the forwarder's and the app's ports."""
        fe = self.networks.frontend
        last = fe.reach_port_base + 2 * self.galera.nodes + self.proxy.count - 1
        if last > 65535:
            raise ValueError(f"networks.frontend.reach_port_base {fe.reach_port_base} leaves no room for its "
                             f"{last - fe.reach_port_base + 1} ports below 65536; choose a lower base")
        for key, port in (("networks.frontend.forward_port", fe.forward_port),
                          ("networks.frontend.forward_reader_port", fe.forward_reader_port),
                          ("app.http_port", self.app.http_port)):
            if fe.reach_port_base <= port <= last:
                raise ValueError(f"port clash: {key} {port} is inside the published-reach ports "
                                 f"{fe.reach_port_base}-{last} (networks.frontend.reach_port_base); move one")

    def bridge_refusal(self) -> str | None:
        """Why this spec can't run with a bridge frontend (chosen in the spec, or by `auto` on
        Docker Desktop: lab/plan.py asks again then), or None."""
        refusal = self.networks.frontend.bridge_refusal()
        if refusal:
            return refusal
        if self.keepalived.vip == self.forwarder_address:
            return (f"keepalived.vip {self.keepalived.vip} is the VIP forwarder's address on a bridge frontend; "
                    f"choose another (e.g. {self.networks.frontend.subnet.network_address + 100})")
        return None

    # ---- derived names and addresses (one place, so templates and runtime agree) ----

    @property
    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.galera.nodes + 1)]

    @property
    def proxy_names(self) -> list[str]:
        return [f"proxy{j}" for j in range(1, self.proxy.count + 1)]

    def container(self, service: str) -> str:
        """Container name of a compose service: predictable, so faults can target it by name."""
        return f"{self.project}-{service}"

    def node_address(self, name: str) -> IPv4Addr:
        return self.networks.backend.subnet.network_address + 10 + int(name.removeprefix("node"))

    def proxy_backend_address(self, name: str) -> IPv4Addr:
        return self.networks.backend.subnet.network_address + 20 + int(name.removeprefix("proxy"))

    def proxy_frontend_address(self, name: str) -> IPv4Addr:
        return self.networks.frontend.subnet.network_address + 20 + int(name.removeprefix("proxy"))

    @property
    def app_frontend_address(self) -> IPv4Addr:
        return self.networks.frontend.subnet.network_address + 30

    @property
    def forwarder_address(self) -> IPv4Addr:
        """The VIP forwarder of a bridge frontend (publishes the VIP's ports on 127.0.0.1)."""
        return self.networks.frontend.subnet.network_address + 40

    @property
    def app_backend_address(self) -> IPv4Addr:
        return self.networks.backend.subnet.network_address + 30

    @property
    def shim_address(self) -> IPv4Addr:
        """The host's address on the frontend: the macvlan shim link's, or a bridge's gateway."""
        fe = self.networks.frontend
        return fe.shim_address or (fe.subnet.broadcast_address - 1)

    def frontend_addresses(self) -> dict[str, IPv4Addr]:
        """Every fixed address on the frontend, by owner (for clash checks and docs)."""
        out = {p: self.proxy_frontend_address(p) for p in self.proxy_names}
        out["app"] = self.app_frontend_address
        out["host shim"] = self.shim_address
        out["vip"] = self.keepalived.vip
        return out

    @property
    def parent_bridge(self) -> str:
        return self.networks.frontend.parent or link_name("glb-", self.project)

    @property
    def shim_link(self) -> str:
        return link_name("gls-", self.project)

    # ---- derived deadlines ----

    def vip_failover_deadline_s(self) -> float:
        """VRRP master-down interval (3 adverts + skew) plus a margin for the health script."""
        if self.slo.vip_failover_s is not None:
            return self.slo.vip_failover_s
        return 3 * self.keepalived.advert_interval + 0.5 + 2.0

    def write_downtime_deadline_s(self) -> float:
        """Writer loss is seen by the proxy monitor, then Galera evicts after suspect_timeout."""
        if self.slo.write_downtime_s is not None:
            return self.slo.write_downtime_s
        monitor = 3 * self.proxy.monitor_interval_ms / 1000
        return monitor + self.galera.suspect_timeout_s + 5.0

    def proxy_detection_s(self) -> float:
        """How long a proxy may take to act on a node's new state: up to an interval until the
        next check, then two checks in a row (HAProxy's fall/rise 2), the last one up to its timeout."""
        return (3 * self.proxy.monitor_interval_ms + self.proxy.monitor_timeout_ms) / 1000

    def evict_deadline_s(self) -> float:
        if self.slo.evict_s is not None:
            return self.slo.evict_s
        return self.galera.suspect_timeout_s * 2 + 5.0

    def rejoin_deadline_s(self) -> float:
        if self.slo.rejoin_s is not None:
            return self.slo.rejoin_s
        return 90.0


# ---------------------------------------------------------------------------------------------
# Loading: YAML file + CLI overrides → LabSpec, with one clear line per error


def _suggest(loc: tuple[Any, ...]) -> str:
    """Closest valid key for an unknown one, found by walking the model along the error's path."""
    model: type[BaseModel] | None = LabSpec
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model else None
        ann = field.annotation if field else None
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(model.model_fields)}"


def _where(loc: tuple[Any, ...]) -> str:
    """An error's location as a dotted key; a refused mapping key reads `… key 'x'`."""
    if loc and loc[-1] == "[key]":
        return f"{_where(loc[:-2])} key" if len(loc) > 2 else "key"
    return ".".join(str(p) for p in loc)


def _format_error(err: ValidationError, source: str) -> str:
    """First validation error as one line: the key, the refused value (shown safely), what is accepted.

    Our own checks already say all three; pydantic's built-in ones (types, ranges, choices)
    name what is accepted, so the refused value is added in front of their words.
    """
    errors = err.errors()
    e = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if e["type"] == "extra_forbidden":
        return printable(f"{source}: unknown key {shown(_where(e['loc']), 60)}{_suggest(e['loc'])}{more}")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] not in ("value_error", "assertion_error"):
        msg = f"{shown(e['input'])} refused: {msg[0].lower()}{msg[1:]}"
    where = f"{_where(e['loc'])}: " if e["loc"] else ""
    return printable(f"{source}: {where}{msg}{more}")


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply one `a.b.c=value` override onto nested dicts (the CLI's --set)."""
    keys = dotted.split(".")
    cur = data
    for k in keys[:-1]:
        nxt = cur.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise SpecError(printable(f"--set {shown(dotted, 60)}: {shown(k)} is a value, not a section"))
        cur = nxt
    cur[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key.path=value` with the value read as YAML, so numbers and booleans keep their types."""
    if "=" not in text:
        raise SpecError(f"--set {shown(text, 60)}: expected KEY=VALUE, e.g. --set galera.nodes=5")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise SpecError(f"--set {shown(text, 60)}: the value is not valid YAML; quote it, "
                        "e.g. --set 'galera.innodb_buffer_pool_size=\"128M\"'") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    name = printable(str(path))
    if not path.exists():
        raise SpecError(f"{name}: no such file; pass an existing lab.yaml or leave --spec out for the defaults")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = printable(str(getattr(exc, "problem", None) or exc.__class__.__name__))
        raise SpecError(f"{name}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{name}: not a UTF-8 text file; a spec is YAML text") from None
    except OSError as exc:
        raise SpecError(f"{name}: can't be read ({exc.strerror or exc.__class__.__name__})") from None
    if not isinstance(loaded, dict):
        raise SpecError(f"{name}: the top level must be a mapping of sections (project, galera, proxy, …)")
    return loaded


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of spec layers: sections merge key by key, values of `top` win."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def profile_path(name: str) -> Path:
    """A named profile shipped with the project (profiles/NAME.yaml), e.g. `fast`."""
    path = PROFILES / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise SpecError(f"no profile '{name}'; known profiles: {known}")
    return path


def load_spec(path: Path | None = None, overrides: list[tuple[str, Any]] | None = None,
              profile: str | None = None) -> LabSpec:
    """Build the spec: defaults, a named profile, the YAML file, CLI overrides; then validate.

    Provider options given by a later layer are merged into the earlier ones, so a lab.yaml
    that sets one option keeps the profile's others.
    """
    data: dict[str, Any] = {}
    sources = []
    for layer in ([profile_path(profile)] if profile else []) + ([path] if path is not None else []):
        data = _merge(data, _read_yaml(layer))
        sources.append(str(layer))
    if overrides:
        for key, value in overrides:
            set_path(data, key, value)
        sources.append("command line")
    source = " + ".join(sources) or "defaults"
    galera = data.get("galera")
    if isinstance(galera, dict) and isinstance(galera.get("provider_options"), dict):
        defaults = GaleraSpec.model_fields["provider_options"].default_factory()  # type: ignore[misc]
        galera["provider_options"] = {**defaults, **galera["provider_options"]}
    try:
        return LabSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_error(exc, source)) from None
