"""Shared fixtures for the fast tests: a plan rendered into a temporary stack, no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.plan import Plan, image_defs
from lab.render import render
from lab.spec import LabSpec, load_spec


def make_plan(spec: LabSpec, proxy_kind: str = "haproxy", app_kind: str = "probe",
              frontend_driver: str | None = None) -> Plan:
    """A plan without asking this machine; the frontend as the spec says (`auto`: macvlan)."""
    defs = image_defs(spec, proxy_kind, app_kind)
    driver = frontend_driver or {"auto": "macvlan"}.get(spec.networks.frontend.driver, spec.networks.frontend.driver)
    return Plan(spec, proxy_kind, app_kind, {d.role: d.tag for d in defs}, driver)


@pytest.fixture
def default_spec() -> LabSpec:
    return load_spec()


@pytest.fixture(params=["haproxy", "proxysql"])
def rendered(request: pytest.FixtureRequest, tmp_path: Path, default_spec: LabSpec) -> tuple[Plan, Path]:
    plan = make_plan(default_spec, request.param)
    render(plan, tmp_path / "stack")
    return plan, tmp_path / "stack"
