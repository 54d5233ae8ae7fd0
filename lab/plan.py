"""The plan: a spec with its `auto` choices made and its images named.

`auto` means ProxySQL (or Chamilo) when its image is on this machine, else HAProxy (or the probe
app). Only a local look-up decides: deciding by trying a download would send traffic off the
machine and, offline, wait on time-outs. The choice and its reason are printed before anything
starts, and kept in the stack's plan.json so that status, down and the chaos suite see the
same lab that up started.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from lab import images as img
from lab.spec import LabSpec


@dataclass(frozen=True)
class Plan:
    spec: LabSpec
    proxy_kind: str  # "proxysql" | "haproxy"
    app_kind: str  # "chamilo" | "probe"
    images: dict[str, str]  # role → image reference (mariadb, proxy, keepalived, app)

    def to_json(self) -> str:
        return json.dumps(
            {"spec": self.spec.model_dump(mode="json"), "proxy_kind": self.proxy_kind,
             "app_kind": self.app_kind, "images": self.images},
            indent=2, sort_keys=True,
        ) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(LabSpec.model_validate(data["spec"]), data["proxy_kind"], data["app_kind"], data["images"])


@dataclass(frozen=True)
class Choice:
    kind: str
    reason: str


def choose_proxy(spec: LabSpec, present: Callable[[str], bool]) -> Choice:
    if spec.proxy.kind != "auto":
        return Choice(spec.proxy.kind, "set in the spec")
    tag = img.proxysql_image(spec).tag
    if present(tag):
        return Choice("proxysql", f"image {tag} is on this machine")
    return Choice("haproxy", f"no ProxySQL image ({tag}) on this machine; `galera-lab images --set proxy.kind=proxysql` builds one where ProxySQL's packages can be downloaded")


def choose_app(spec: LabSpec, present: Callable[[str], bool]) -> Choice:
    if spec.app.kind != "auto":
        return Choice(spec.app.kind, "set in the spec")
    tag = img.chamilo_image(spec).tag
    if present(tag):
        return Choice("chamilo", f"image {tag} is on this machine")
    return Choice("probe", f"no Chamilo image ({tag}) on this machine; `galera-lab images --set app.kind=chamilo` builds one where the release can be downloaded (or from app.chamilo_archive)")


def image_defs(spec: LabSpec, proxy_kind: str, app_kind: str) -> list[img.ImageDef]:
    """Images this plan runs, in build order."""
    proxy = img.proxysql_image(spec) if proxy_kind == "proxysql" else img.haproxy_image()
    app = img.chamilo_image(spec) if app_kind == "chamilo" else img.probe_image()
    return [img.mariadb_image(spec), proxy, img.keepalived_image(), app]


def resolve(spec: LabSpec, present: Callable[[str], bool] | None = None) -> tuple[Plan, list[Choice]]:
    """Make the `auto` choices; `present` says whether an image tag is on this machine."""
    present = present or img.image_present
    proxy = choose_proxy(spec, present)
    app = choose_app(spec, present)
    defs = image_defs(spec, proxy.kind, app.kind)
    return Plan(spec, proxy.kind, app.kind, {d.role: d.tag for d in defs}), [proxy, app]
