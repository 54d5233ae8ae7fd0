"""The proxy tiers the lab can run, by the spec's `proxy.kind`; see `lab/tiers/base.py`."""

from __future__ import annotations

from lab.spec import LabSpec
from lab.tiers.base import Backend, ProxyTier
from lab.tiers.haproxy import HAProxyTier
from lab.tiers.proxysql import ProxySQLTier

TIERS: dict[str, type[ProxyTier]] = {t.kind: t for t in (ProxySQLTier, HAProxyTier)}
# `auto` tries these in order and takes the first available one
AUTO_ORDER: tuple[str, ...] = ("proxysql", "haproxy")


def tier(kind: str, spec: LabSpec) -> ProxyTier:
    """The tier `kind` for this spec (`kind` as resolved: never `auto`)."""
    try:
        return TIERS[kind](spec)
    except KeyError:
        raise ValueError(f"unknown proxy tier {kind!r}; known: {', '.join(TIERS)}") from None


__all__ = ["AUTO_ORDER", "TIERS", "Backend", "ProxyTier", "tier"]
