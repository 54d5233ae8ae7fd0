"""The proxy tiers' Docker-free parts: images per source, availability, rendered files, backends."""

from __future__ import annotations

import re
from pathlib import Path

import libconf
import pytest

from lab.errors import SpecError
from lab.plan import choose_proxy
from lab.spec import load_spec
from lab.tiers import TIERS, tier
from lab.tiers.proxysql import SYNCED_MODULES, backends_from_rows, cluster_sync
from tests.conftest import make_plan


def dockerfile_args(path: Path) -> dict[str, str | None]:
    """ARG name → default (None when it has none), across every stage of a Dockerfile."""
    out: dict[str, str | None] = {}
    for m in re.finditer(r"^ARG\s+([A-Z_]+)(?:=(\S*))?", path.read_text(), re.M):
        out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize("source,extra", [
    ("package", []), ("official", []),
    ("deb", [("proxy.proxysql_deb", "/tmp/proxysql_2.7.3-debian12_amd64.deb")]),
])
def test_every_proxysql_build_gets_what_its_dockerfile_needs(source: str, extra: list) -> None:
    """No build argument left for a user to type: each ARG without a default is passed, non-empty."""
    spec = load_spec(None, [("proxy.kind", "proxysql"), ("proxy.proxysql_source", source), *extra])
    image = tier("proxysql", spec).image()
    declared = dockerfile_args(image.context / image.dockerfile)
    assert set(image.buildargs) <= set(declared), "a build argument the Dockerfile does not declare"
    for name in (n for n, default in declared.items() if not default):
        assert image.buildargs.get(name), f"{image.dockerfile}: {name} not passed"
    assert not image.external


def test_package_source_names_the_release_series() -> None:
    image = tier("proxysql", load_spec(None, [("proxy.proxysql_version", "2.7.3")])).image()
    assert image.buildargs["PROXYSQL_VERSION"] == "2.7.3" and image.buildargs["PROXYSQL_SERIES"] == "2.7.x"
    assert "signed-by=" in (image.context / "Dockerfile").read_text()  # apt verifies the repository signature


def test_your_own_image_is_never_built_and_says_how_to_get_it() -> None:
    spec = load_spec(None, [("proxy.proxysql_image", "mycorp/proxysql:2.7.1")])
    assert spec.proxy.proxysql_source == "image"
    image = tier("proxysql", spec).image()
    assert image.external and image.tag == "mycorp/proxysql:2.7.1" and "docker load" in image.missing_hint


def test_source_without_its_input_is_refused() -> None:
    with pytest.raises(SpecError, match="proxysql_image is not set"):
        load_spec(None, [("proxy.proxysql_source", "image")])
    with pytest.raises(SpecError, match="proxysql_version"):
        load_spec(None, [("proxy.proxysql_version", "2.7.3; rm -rf /")])


def test_auto_picks_proxysql_only_when_its_image_is_here() -> None:
    spec = load_spec(None, [("proxy.proxysql_image", "mycorp/proxysql:2.7.1")])
    assert choose_proxy(spec, lambda tag: tag == "mycorp/proxysql:2.7.1").kind == "proxysql"
    fallback = choose_proxy(spec, lambda tag: False)
    assert fallback.kind == "haproxy" and "mycorp/proxysql:2.7.1" in fallback.reason and "docker load" in fallback.reason


@pytest.mark.parametrize("reset,present", [("close", True), ("change-user", False)])
def test_connection_reset_setting_reaches_proxysql_cnf(tmp_path: Path, reset: str, present: bool) -> None:
    from lab.render import rendered_files

    plan = make_plan(load_spec(None, [("proxy.proxysql_connection_reset", reset)]), "proxysql")
    text = rendered_files(plan, {k: "x" for k in ("LAB_ADMIN_PASSWORD", "APP_PASSWORD", "MONITOR_PASSWORD",
                                                  "SST_PASSWORD", "PROXYSQL_ADMIN_PASSWORD",
                                                  "PROXYSQL_CLUSTER_PASSWORD")})["secrets/proxysql.cnf"][0]
    variables = libconf.loads(text)["mysql_variables"]
    assert (variables.get("reset_connection_algorithm") == 1 and variables.get("connpoll_reset_queue_length") == 0) \
        is present


@pytest.mark.parametrize("retry_writes", [False, True])
def test_only_plain_selects_are_retried_unless_asked(retry_writes: bool) -> None:
    """A write re-executed after a backend failure may already have committed (the isolate
    scenario saw a client get "Duplicate entry" for its own key): by default only the read rule
    retries."""
    from lab.render import rendered_files

    plan = make_plan(load_spec(None, [("proxy.proxysql_retry_writes", retry_writes)]), "proxysql")
    text = rendered_files(plan, {k: "x" for k in ("LAB_ADMIN_PASSWORD", "APP_PASSWORD", "MONITOR_PASSWORD",
                                                  "SST_PASSWORD", "PROXYSQL_ADMIN_PASSWORD",
                                                  "PROXYSQL_CLUSTER_PASSWORD")})["secrets/proxysql.cnf"][0]
    cnf = libconf.loads(text)
    rules = {r["match_digest"]: r for r in cnf["mysql_query_rules"]}
    if retry_writes:
        assert "query_retries_on_failure" not in cnf["mysql_variables"] and "retries" not in rules["^SELECT"]
    else:
        assert cnf["mysql_variables"]["query_retries_on_failure"] == 0
        assert rules["^SELECT"]["retries"] == 1 and "retries" not in rules["^SELECT.*FOR UPDATE"]


def test_offline_hostgroup_is_never_up() -> None:
    names = {"10.0.0.11": "node1", "10.0.0.12": "node2"}
    rows = [(10, "10.0.0.11", "ONLINE"), (30, "10.0.0.12", "ONLINE"), (9999, "10.0.0.11", "ONLINE"),
            (20, "10.0.0.12", "SHUNNED")]
    got = [(b.name, b.role, b.status) for b in backends_from_rows(rows, names)]
    assert got == [("node1", "writer", "UP"), ("node2", "reader", "UP"), ("node1", "offline", "OFFLINE"),
                   ("node2", "backup-writer", "SHUNNED")]


def test_cluster_sync_needs_every_peer_on_the_same_checksums() -> None:
    spec = load_spec()
    a, b = (str(spec.proxy_backend_address(p)) for p in spec.proxy_names)
    same = [(h, m, 3, "0xAB") for h in (a, b) for m in SYNCED_MODULES]
    assert cluster_sync(same, spec)["in_sync"] is True
    differ = same[:-1] + [(b, SYNCED_MODULES[-1], 3, "0xCD")]
    assert cluster_sync(differ, spec)["in_sync"] is False
    assert cluster_sync(same[: len(SYNCED_MODULES)], spec)["in_sync"] is False  # one peer not seen


def test_tiers_answer_the_same_questions() -> None:
    spec = load_spec()
    for kind, cls in TIERS.items():
        t = cls(spec)
        assert t.kind == kind and t.route_classes["select"] == "readers"
        assert all(role == "writer" for c, role in t.route_classes.items() if c != "select")
        assert t.service().volumes and t.version_command
    assert TIERS["haproxy"](spec).read_port == spec.proxy.reader_port
    assert TIERS["proxysql"](spec).read_port == spec.proxy.sql_port


def test_status_prints_proxysql_facts_and_nothing_for_haproxy() -> None:
    from lab.cli import _details_line

    assert _details_line({"hostgroups": {}, "cluster": {}}) == ""
    text = _details_line({"hostgroups": {"writer": ["node1"], "reader": ["node2", "node3"]},
                          "cluster": {"in_sync": False, "peers": ["proxy1", "proxy2"]}})
    assert "writer [node1]" in text and "reader [node2 node3]" in text and "NOT in sync" in text


def test_settled_is_the_tiers_own_idea_of_healthy() -> None:
    from lab.tiers import Backend

    spec = load_spec()
    px = TIERS["proxysql"](spec)
    rows = [Backend("node1", "writer", "UP"), Backend("node2", "writer", "SHUNNED"), Backend("node2", "reader", "UP"),
            Backend("node3", "reader", "UP"), Backend("node2", "backup-writer", "UP")]
    assert px.settled(rows) is True
    assert px.settled(rows + [Backend("node3", "offline", "OFFLINE")]) is False
    assert TIERS["haproxy"](spec).settled(rows) is False  # HAProxy: every listener row UP
