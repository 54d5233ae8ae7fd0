"""Host reach (lab/reach.py): which way this host's tools reach a lab, the ports published for
it, and that a connection to a lab address really goes to its published port on 127.0.0.1."""

from __future__ import annotations

import socket
import threading

import pymysql
import pytest
import yaml

from lab import db, reach
from lab.errors import SpecError
from lab.plan import resolve
from lab.render import SECRET_NAMES, rendered_files
from lab.spec import load_spec

BRIDGE = [("networks.frontend.driver", "bridge")]
PUBLISHED = BRIDGE + [("networks.frontend.host_reach", "published")]
LINUX, DESKTOP = "Debian GNU/Linux 12 (bookworm)", "Docker Desktop"


@pytest.fixture(autouse=True)
def no_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no lab registered, and leaves none for the next."""
    monkeypatch.setattr(reach, "_ROUTES", {})


def plan_for(sets: list[tuple[str, object]], os_name: str = LINUX, kind: str = "haproxy"):  # type: ignore[no-untyped-def]
    spec = load_spec(None, sets + [("proxy.kind", kind), ("app.kind", "probe")])
    return resolve(spec, present=lambda tag: True, os_name=lambda: os_name)


@pytest.mark.parametrize(("sets", "os_name", "expected"), [
    (BRIDGE, LINUX, "direct"), (BRIDGE, DESKTOP, "published"), ([], DESKTOP, "published"),
    (PUBLISHED, LINUX, "published"), (BRIDGE + [("networks.frontend.host_reach", "direct")], DESKTOP, "direct"),
    ([], LINUX, "direct"),
])
def test_auto_reach_follows_the_engine(sets: list[tuple[str, object]], os_name: str, expected: str) -> None:
    plan, choices = plan_for(sets, os_name)
    assert plan.host_reach == expected
    assert len(choices) == (4 if plan.bridge else 3), "a macvlan lab says nothing new"


def test_published_reach_needs_a_bridge() -> None:
    with pytest.raises(SpecError, match="host_reach: published needs networks.frontend.driver: bridge"):
        load_spec(None, [("networks.frontend.driver", "macvlan"), ("networks.frontend.host_reach", "published")])
    with pytest.raises(SpecError, match="published needs"):  # auto picked macvlan on Linux
        plan_for([("networks.frontend.host_reach", "published")], LINUX)


def test_reach_ports_must_fit_and_miss_the_other_ports() -> None:
    with pytest.raises(SpecError, match="no room"):
        load_spec(None, PUBLISHED + [("networks.frontend.reach_port_base", 65530)])
    with pytest.raises(SpecError, match="app.http_port 16103 is inside the published-reach ports 16100-16107"):
        load_spec(None, PUBLISHED + [("app.http_port", 16103)])
    load_spec(None, [("networks.frontend.driver", "macvlan"), ("app.http_port", 16103)])  # macvlan: no such ports


@pytest.mark.parametrize(("kind", "proxy_port"), [("haproxy", 8404), ("proxysql", 6032)])
def test_published_ports_are_derived_in_order(kind: str, proxy_port: int) -> None:
    plan, _ = plan_for(PUBLISHED, kind=kind)
    assert reach.published(plan) == {
        "node1": [(16100, 3306), (16101, 9200)], "node2": [(16102, 3306), (16103, 9200)],
        "node3": [(16104, 3306), (16105, 9200)], "proxy1": [(16106, proxy_port)], "proxy2": [(16107, proxy_port)]}
    routes = reach.routes(plan)
    assert routes[("198.18.0.12", 3306)] == ("127.0.0.1", 16102)
    assert routes[("198.18.0.22", proxy_port)] == ("127.0.0.1", 16107)
    assert routes[("198.18.1.100", plan.tier.write_port)] == ("127.0.0.1", 16033)
    assert len(routes) == 8 + (2 if kind == "haproxy" else 1)  # the VIP's reader port: HAProxy's only


def test_compose_publishes_only_with_published_reach() -> None:
    secrets = {n: "x" for n in SECRET_NAMES}
    direct, _ = plan_for(BRIDGE)
    published, _ = plan_for(PUBLISHED)
    services = yaml.safe_load(rendered_files(published, secrets)["compose.yaml"][0])["services"]
    assert services["node2"]["ports"] == ["127.0.0.1:16102:3306", "127.0.0.1:16103:9200"]
    assert services["proxy1"]["ports"] == ["127.0.0.1:16106:8404"]
    plain = yaml.safe_load(rendered_files(direct, secrets)["compose.yaml"][0])["services"]
    assert not any("ports" in plain[s] for s in ("node1", "node2", "node3", "proxy1", "proxy2"))
    assert plain["vipfwd"]["ports"] == services["vipfwd"]["ports"]


def test_direct_reach_translates_nothing() -> None:
    plan, _ = plan_for(BRIDGE)
    reach.register(plan)
    assert reach.endpoint("198.18.0.11", 3306) == ("198.18.0.11", 3306)
    assert reach.url("198.18.0.21", 8404, "/;csv") == "http://198.18.0.21:8404/;csv"


def test_a_connection_to_a_lab_address_goes_to_its_published_port() -> None:
    """A real listener on a free loopback port stands for node2's published SQL port: db.connect
    to node2's lab address reaches it (and fails as a non-MySQL peer), and nothing else does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        base = listener.getsockname()[1] - 2  # node2's SQL port is the base's third slot
        plan, _ = plan_for(PUBLISHED + [("networks.frontend.reach_port_base", base)])
        reach.register(plan)
        accepted: list[str] = []

        def accept() -> None:
            conn, peer = listener.accept()
            accepted.append(peer[0])
            conn.sendall(b"not a MySQL greeting\n")
            conn.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with pytest.raises(pymysql.MySQLError):
            db.connect(str(plan.spec.node_address("node2")), 3306, "u", "p", timeout=2)
        thread.join(5)
        assert accepted == ["127.0.0.1"]


def test_a_lab_planned_again_with_direct_reach_drops_its_published_routes() -> None:
    """One process plans a published lab, then a direct one on the same subnets (the e2e tests
    do): the second must reach its own addresses, not the first lab's dead loopback ports."""
    published, _ = plan_for(PUBLISHED)
    reach.register(published)
    node1 = str(published.spec.node_address("node1"))
    assert reach.endpoint(node1, 3306)[0] == "127.0.0.1"
    direct, _ = plan_for(BRIDGE)
    reach.register(direct)
    assert reach.endpoint(node1, 3306) == (node1, 3306)
    assert reach.endpoint(str(direct.spec.keepalived.vip), 6033) == (str(direct.spec.keepalived.vip), 6033)
