"""The labs the test suites and the bench bring up, each apart from the user's own lab.

Why: the chaos suite, the stale-read test, the end-to-end test and the bench must run on the
user's topology (their proxy tier, application, timers, Galera settings), yet never touch the
lab the user has running. So each suite takes the user's spec and overrides only what keeps
its lab apart: project name, subnets, VIP, VRRP router id and published HTTP port.

The user's spec reaches every suite the same way: `GALERA_LAB_SPEC` (a lab.yaml) and
`GALERA_LAB_PROFILE` (a profile name), set by `make … SPEC=… PROFILE=…` or by the pytest
options `--lab-spec` and `--lab-profile`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.spec import LabSpec, load_spec

SPEC_ENV = "GALERA_LAB_SPEC"
PROFILE_ENV = "GALERA_LAB_PROFILE"


@dataclass(frozen=True)
class Isolation:
    """What keeps one suite's lab apart: its own /23 (backend, then frontend), router id, port."""

    project: str
    base: str  # a /23 inside 198.18.0.0/15: backend is its first /24, frontend its second
    router_id: int
    http_port: int
    # a /24 for the frontend outside `base`, for a suite given two separate ranges
    frontend: str | None = None

    def overrides(self) -> list[tuple[str, Any]]:
        net = ipaddress.IPv4Network(self.base)
        backend, frontend = net.subnets(new_prefix=24)
        if self.frontend is not None:
            frontend = ipaddress.IPv4Network(self.frontend)
        return [
            ("project", self.project),
            ("networks.backend.subnet", str(backend)),
            ("networks.frontend.subnet", str(frontend)),
            ("keepalived.vip", str(frontend.network_address + 100)),
            ("keepalived.virtual_router_id", self.router_id),
            ("app.http_port", self.http_port),
            # derived from the subnet again: the user's own would fall outside the suite's
            ("networks.frontend.shim_address", None),
            ("networks.frontend.parent", None),
            # a bridge frontend's forwarder ports, apart from every other suite's (unused by macvlan)
            ("networks.frontend.forward_port", _shifted(self.http_port, 10000)),
            ("networks.frontend.forward_reader_port", _shifted(self.http_port, 20000)),
        ]


def _shifted(port: int, by: int) -> int:
    """A port `by` above `port`, or below when that would pass 65535: distinct suites' HTTP ports
    give distinct forwarder ports."""
    return port + by if port + by <= 65535 else port - by


SUITES: dict[str, Isolation] = {
    "e2e": Isolation("e2e-lab", "198.18.10.0/23", 61, 18080),
    "chaos": Isolation("chaos-lab", "198.18.20.0/23", 71, 18081),
    "bench": Isolation("bench-lab", "198.18.40.0/23", 91, 18090),
    # the pytest plugin's lab for tests in a user's own repository (chaos/plugin.py)
    "plugin": Isolation("plugin-lab", "198.18.80.0/23", 101, 18180),
    # the dashboard's browser test (tests/test_dashboard_e2e.py)
    "dash": Isolation("dash-lab", "198.18.100.0/23", 121, 18100),
    # the workshop exercises' checks, both ways, on a real lab (chaos/test_workshop.py)
    "workshop": Isolation("ws-lab", "198.18.110.0/23", 131, 18110),
    # secrets rotation under load (tests/test_secrets_rotate.py): backend in 198.18.70.0/23,
    # frontend in 198.18.72.0/23
    "rotate": Isolation("rotate-lab", "198.18.70.0/23", 111, 18083, frontend="198.18.72.0/24"),
    # the bridge frontend's real-lab test (tests/test_bridge_e2e.py)
    "bridge": Isolation("br-lab", "198.18.120.0/23", 141, 18120),
}


def isolate(suite: str, project: str | None = None, base: str | None = None, router_id: int | None = None,
            http_port: int | None = None) -> Isolation:
    """Give a suite another project, /23, router id or HTTP port (pytest's `--lab-project`,
    `--lab-subnet`, …; `galera-lab chaos --project`), so that two runs on one machine stay apart.

    Why a refusal here: the address plan needs a /23 inside 198.18.0.0/15 (backend, frontend)."""
    from lab.errors import SpecError
    from lab.grammar import PROJECT

    old = SUITES[suite]
    if base is not None:
        try:
            net = ipaddress.IPv4Network(base)
        except ValueError as exc:
            raise SpecError(f"subnet {base!r} refused: {exc}; give a /23 such as 198.18.80.0/23") from None
        if net.prefixlen != 23:
            raise SpecError(f"subnet {base!r} refused: expected a /23 (its first /24 is the backend, "
                            "its second the frontend), e.g. 198.18.80.0/23")
    if project is not None:
        try:
            PROJECT.check(project)
        except ValueError as exc:
            raise SpecError(f"project: {exc}") from None
    new = Isolation(project or old.project, base or old.base, router_id or old.router_id, http_port or old.http_port,
                    frontend=old.frontend if base is None else None)
    SUITES[suite] = new
    return new


USER_OVERRIDES: list[tuple[str, Any]] = []
"""`--lab-set` values of a pytest run (chaos/plugin.py), for every suite's lab: set once at
configure time, like `isolate`, since the suites build their specs in many places."""


def set_user_overrides(overrides: list[tuple[str, Any]]) -> None:
    USER_OVERRIDES[:] = list(overrides)


def user_spec_path() -> Path | None:
    """The user's lab.yaml for the suites, if one was given."""
    raw = os.environ.get(SPEC_ENV, "").strip()
    return Path(raw) if raw else None


def user_profile() -> str | None:
    raw = os.environ.get(PROFILE_ENV, "").strip()
    return raw or None


def suite_spec(suite: str, extra: list[tuple[str, Any]] | None = None, profile: str | None = None) -> LabSpec:
    """The user's spec (or the defaults) with the user's `--lab-set` values, then the suite's
    isolation settings (so that no override can put a suite's lab onto another's), then `extra`.

    `profile` (e.g. "fast" for a bench section) wins over the user's profile."""
    overrides = USER_OVERRIDES + SUITES[suite].overrides() + list(extra or [])
    return load_spec(user_spec_path(), overrides, profile=profile or user_profile())


def describe_user_spec() -> str:
    """Where the suites' topology comes from, for their first line of output."""
    parts = [f"spec {user_spec_path()}" if user_spec_path() else "default spec"]
    if user_profile():
        parts.append(f"profile {user_profile()}")
    return ", ".join(parts)


def missing_part(spec: LabSpec) -> str | None:
    """Why a lab of this spec can't run on this machine (a part the spec names explicitly is not
    here and can't be built offline), or None. Suites skip with this reason, naming the part and
    how to get it; `auto` never needs it, since it picks what is here."""
    from lab import images
    from lab.tiers import tier

    if spec.proxy.kind == "auto":
        return None
    found = tier(spec.proxy.kind, spec).availability(images.image_present)
    if found.ok:
        return None
    return f"the spec asks for the {tier(spec.proxy.kind, spec).title} tier, and {found.reason}"
