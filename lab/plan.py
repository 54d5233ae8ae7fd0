"""The plan: a spec with its `auto` choices made and its images named.

`auto` means ProxySQL (or Chamilo) when its image is on this machine, else HAProxy (or the probe
app), and a macvlan frontend on a Linux engine, else a bridge (lab/frontend.py). Only a local
look-up decides: deciding by trying a download would send traffic off the
machine and, offline, wait on time-outs. The choice and its reason are printed before anything
starts, and kept in the stack's plan.json so that status, down and the chaos suite see the
same lab that up started.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from lab import frontend, reach
from lab import images as img
from lab.chamilo_layer import release_archive
from lab.errors import SpecError
from lab.spec import LabSpec
from lab.tiers import AUTO_ORDER, ProxyTier, tier


@dataclass(frozen=True)
class Plan:
    spec: LabSpec
    proxy_kind: str  # "proxysql" | "haproxy"
    app_kind: str  # "chamilo" | "probe"
    images: dict[str, str]  # role → image reference (mariadb, proxy, keepalived, app)
    frontend_driver: str = "macvlan"  # "macvlan" | "bridge" (a plan.json from before the choice: macvlan)
    host_reach: str = "direct"  # "direct" | "published": how this host's tools reach the lab (lab/reach.py)

    @property
    def bridge(self) -> bool:
        """A bridge frontend: no host links, the VIP published on 127.0.0.1 by a forwarder."""
        return self.frontend_driver == "bridge"

    @cached_property
    def tier(self) -> ProxyTier:
        """The proxy tier this lab runs: everything tier-specific is asked of it (made once: status
        polls ask it many times a second)."""
        return tier(self.proxy_kind, self.spec)

    def to_json(self) -> str:
        return json.dumps(
            {"spec": self.spec.model_dump(mode="json"), "proxy_kind": self.proxy_kind,
             "app_kind": self.app_kind, "images": self.images, "frontend_driver": self.frontend_driver,
             "host_reach": self.host_reach},
            indent=2, sort_keys=True,
        ) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(LabSpec.model_validate(data["spec"]), data["proxy_kind"], data["app_kind"], data["images"],
                   data.get("frontend_driver", "macvlan"), data.get("host_reach", "direct"))


@dataclass(frozen=True)
class Choice:
    kind: str
    reason: str


def choose_proxy(spec: LabSpec, present: Callable[[str], bool]) -> Choice:
    """The tier set in the spec, or for `auto` the first tier whose image can be had here."""
    if spec.proxy.kind != "auto":
        return Choice(spec.proxy.kind, "set in the spec")
    reasons = []
    for kind in AUTO_ORDER:
        found = tier(kind, spec).availability(present)
        if found.ok:
            return Choice(kind, found.reason + (f" ({'; '.join(reasons)})" if reasons else ""))
        reasons.append(found.reason)
    return Choice(AUTO_ORDER[-1], "; ".join(reasons))


def choose_app(spec: LabSpec, present: Callable[[str], bool]) -> Choice:
    if spec.app.kind != "auto":
        return Choice(spec.app.kind, "set in the spec")
    tag = img.chamilo_image(spec).tag
    if present(tag):
        return Choice("chamilo", f"image {tag} is on this machine")
    archive = release_archive(spec)
    if archive is not None:
        return Choice("chamilo", f"the release archive {archive} is at hand (the image builds from it)")
    return Choice("probe", f"no Chamilo image ({tag}) on this machine and no release archive in chamilo/archive/; "
                           "`galera-lab images --set app.kind=chamilo` builds one where the release can be "
                           "downloaded (or from app.chamilo_archive)")


def choose_frontend(spec: LabSpec, os_name: Callable[[], str | None] = frontend.engine_os) -> Choice:
    """The frontend's driver; a bridge picked by `auto` must suit the spec too (lab/spec.py
    refuses macvlan-only settings with an explicit bridge already)."""
    driver, reason = frontend.choose_driver(spec, os_name)
    if driver == "bridge":
        refusal = spec.bridge_refusal()
        if refusal:
            raise SpecError(f"networks.frontend.driver auto picked bridge ({reason}), and {refusal}")
    return Choice(driver, reason)


def image_defs(spec: LabSpec, proxy_kind: str, app_kind: str) -> list[img.ImageDef]:
    """Images this plan runs, in build order."""
    proxy = tier(proxy_kind, spec).image()
    app = img.chamilo_image(spec) if app_kind == "chamilo" else img.probe_image()
    return [img.mariadb_image(spec), proxy, img.keepalived_image(), app]


def choose_reach(spec: LabSpec, driver: str, os_name: Callable[[], str | None] = frontend.engine_os) -> Choice:
    """How this host's tools reach the lab: directly, or through ports on 127.0.0.1 (lab/reach.py).
    Said only for a bridge frontend (`resolve`): a macvlan lab is always reached directly."""
    try:
        kind, reason = reach.choose(spec, driver, os_name)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return Choice(kind, reason)


CHOICE_ROLES = ("proxy tier", "application", "frontend network", "host reach")
"""What each of `resolve`'s choices is about, in order (for the lines `up` and `generate` print)."""


def resolve(spec: LabSpec, present: Callable[[str], bool] | None = None,
            os_name: Callable[[], str | None] = frontend.engine_os) -> tuple[Plan, list[Choice]]:
    """Make the `auto` choices; `present` says whether an image tag is on this machine, `os_name`
    what the engine runs on."""
    present = present or img.image_present
    proxy = choose_proxy(spec, present)
    app = choose_app(spec, present)
    net = choose_frontend(spec, os_name)
    hosted = choose_reach(spec, net.kind, os_name)
    defs = image_defs(spec, proxy.kind, app.kind)
    return (Plan(spec, proxy.kind, app.kind, {d.role: d.tag for d in defs}, net.kind, hosted.kind),
            [proxy, app, net] + ([hosted] if net.kind == "bridge" else []))
