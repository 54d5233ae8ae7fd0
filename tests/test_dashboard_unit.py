"""Docker-free parts of `galera-lab dashboard`: status → topology JSON, failover events, chart
series, the bounded history, the event-stream framing, the fault buttons, and the web app's
routes and guards over a fake dashboard."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from chaos import faults
from chaos.history import Op
from lab.dashboard import app as dash_app
from lab.dashboard import catalog, sse, state
from lab.spec import load_spec
from lab.status import AppStatus, LabStatus, NodeStatus, ProxyStatus, VipStatus


def lab_status(writer_down: bool = False, holder: str = "proxy1") -> LabStatus:
    first = "DOWN" if writer_down else "UP"
    b = ([{"name": "node1", "role": "writer", "status": first}, {"name": "node2", "role": "writer", "status": "UP"},
          {"name": "node3", "role": "writer", "status": "UP"}]
         + [{"name": n, "role": "reader", "status": s} for n, s in (("node1", first), ("node2", "UP"), ("node3", "UP"))])
    n1 = (NodeStatus("node1", "exited", "exited", 0, "-", False) if writer_down
          else NodeStatus("node1", "running", "Synced", 3, "Primary", True, 41))
    size = 2 if writer_down else 3
    nodes = [n1, NodeStatus("node2", "running", "Synced", size, "Primary", True, 42),
             NodeStatus("node3", "running", "Synced", size, "Primary", True, 42)]
    proxies = [ProxyStatus("proxy1", "haproxy", "running", holder == "proxy1", b),
               ProxyStatus("proxy2", "haproxy", "running", holder == "proxy2", b,
                           details={"hostgroups": {"writer": ["node2"]}, "cluster": {}})]
    return LabStatus("dash-lab", nodes, proxies, VipStatus("198.18.101.100", 6033, holder, True, "node2"),
                     AppStatus("probe", "http://127.0.0.1:18100/", 200))


def op(kind: str, start: float, end: float, outcome: str = "ok", value: Any = None, node: str | None = None) -> Op:
    return Op("p", kind, None, value, start, end, outcome, node)  # type: ignore[arg-type]


# ---- topology and events ------------------------------------------------------------------------


def test_topology_names_writer_readers_roles_and_vip() -> None:
    topo = state.topology(lab_status())
    assert topo["writer"] == "node1" and topo["readers"] == ["node2", "node3"]
    assert [(n["name"], n["role"], n["seqno"]) for n in topo["nodes"]] == [
        ("node1", "writer", 41), ("node2", "reader", 42), ("node3", "reader", 42)]
    assert [p["holds_vip"] for p in topo["proxies"]] == [True, False]
    assert topo["proxies"][1]["hostgroups"] == {"writer": ["node2"]}
    assert topo["vip"]["holder"] == "proxy1" and topo["app"]["ok"] is True
    json.dumps(topo, allow_nan=False)


def test_topology_after_the_writer_died() -> None:
    topo = state.topology(lab_status(writer_down=True))
    assert topo["writer"] == "node2"
    assert {n["name"]: n["role"] for n in topo["nodes"]} == {"node1": "down", "node2": "writer", "node3": "reader"}
    assert topo["healthy"] is False


def test_transitions_report_writer_vip_and_node_changes() -> None:
    before = state.topology(lab_status())
    after = state.topology(lab_status(writer_down=True, holder="proxy2"))
    assert state.transitions(None, before, 1.0) == []
    assert state.transitions(before, before, 1.0) == []
    texts = [(e["kind"], e["text"]) for e in state.transitions(before, after, 5.0)]
    assert ("writer", "writer node1 → node2") in texts
    assert ("vip", "VIP proxy1 → proxy2") in texts
    assert ("node", "node1 left (exited)") in texts
    back = [e["text"] for e in state.transitions(after, before, 9.0)]
    assert "node1 Synced again" in back


def test_node_role_standby_when_synced_but_unused() -> None:
    assert state.node_role("node3", True, "node1", ["node2"]) == "standby"
    assert state.node_role("node3", False, "node1", ["node2"]) == "down"


# ---- chart series -------------------------------------------------------------------------------


def test_bucket_edges_are_aligned_and_cover_the_window() -> None:
    edges = state.bucket_edges(100.7, window_s=5, bucket_s=1)
    assert edges == [96.0, 97.0, 98.0, 99.0, 100.0]


def test_stale_rate_counts_answered_reads_only() -> None:
    edges = [0.0, 1.0]
    ops = [op("read", 0.1, 0.2, value={"stale": True}), op("read", 0.3, 0.4, value={"stale": False}),
           op("read", 0.5, 0.6, "fail", value={"stale": None}), op("read", 1.2, 1.3, value={"stale": False})]
    assert state.stale_rate(ops, edges) == [0.5, 0.0]


def test_bounded_history_forgets_what_left_the_window() -> None:
    now = [1000.0]
    h = state.BoundedHistory(window_s=10, prune_every=3, clock=lambda: now[0])
    h.append(op("write", 980.0, 981.0))
    h.append(op("write", 995.0, 995.5))
    h.append(op("write", 999.0, 999.5))  # third append prunes: the first ended 19 s ago
    assert [o.start for o in h.ops()] == [995.0, 999.0]
    now[0] = 1007.0
    assert h.prune() == 1 and len(h) == 1


def test_snapshot_is_json_and_names_the_last_serving_node() -> None:
    h = state.BoundedHistory(window_s=10, clock=lambda: 100.0)
    h.append(op("write", 95.0, 95.1, node="node1"))
    h.append(op("write", 96.0, 96.1, node="node2"))
    h.append(op("write", 97.0, 97.1, "fail"))
    snap = state.snapshot(state.topology(lab_status()), h, [{"at": 96.0, "kind": "writer", "text": "x"}], [],
                          now=100.0, window_s=10)
    text = json.dumps(snap, allow_nan=False)
    assert json.loads(text)["series"]["writes_served_by"] == "node2"
    series = snap["series"]
    assert series["t"][0] == 91.0 and len(series["t"]) == 10
    by_second = dict(zip(series["t"], series["write_availability"]))
    assert [by_second[s] for s in (94.0, 95.0, 96.0, 97.0, 98.0)] == [None, 1.0, 1.0, 0.0, None]


# ---- event stream framing -----------------------------------------------------------------------


def test_format_event_fields_and_compact_json() -> None:
    text = sse.format_event({"a": [1, None]}, event="state", event_id=7, retry_ms=2000)
    assert text == 'event: state\nid: 7\nretry: 2000\ndata: {"a":[1,null]}\n\n'


def test_format_event_prefixes_every_line_of_multiline_data() -> None:
    assert sse.format_event("one\ntwo") == "data: one\ndata: two\n\n"
    assert sse.format_event("") == "data: \n\n"


def test_format_event_refuses_line_breaks_in_fields_and_nan() -> None:
    with pytest.raises(ValueError):
        sse.format_event({}, event="a\nb")
    with pytest.raises(ValueError):
        sse.format_event({"x": float("nan")})


def test_comment_is_ignored_by_event_source() -> None:
    assert sse.comment("keep\nalive") == ": keep\n: alive\n\n"


# ---- fault buttons ------------------------------------------------------------------------------


def test_catalog_has_the_issues_buttons_with_unique_keys() -> None:
    keys = [b.key for b in catalog.CATALOG]
    assert len(keys) == len(set(keys))
    for wanted in ("kill-writer", "kill-reader", "pause-node", "vip-sigkill", "isolate-node", "crash-all"):
        assert wanted in keys
    assert all(set(b) == {"key", "label", "help", "group"} for b in catalog.catalog_json())
    with pytest.raises(KeyError, match="known: kill-writer"):
        catalog.button("kill-everything")


@pytest.mark.parametrize(("key", "cls", "target"), [
    ("kill-writer", faults.Kill, "node1"), ("kill-reader", faults.Kill, "node2"),
    ("stop-writer", faults.Stop, "node1"), ("pause-node", faults.Pause, "node2"),
    ("isolate-node", faults.Isolate, "node2"), ("isolate-writer", faults.Isolate, "node1"),
    ("vip-sigkill", faults.Kill, "proxy1"), ("vip-stop", faults.Stop, "proxy1"),
    ("packet-loss", faults.PacketLoss, "node2"), ("latency", faults.Latency, "node2"),
    ("crash-all", faults.CrashAll, "node1,node2,node3"),
])
def test_buttons_build_the_catalog_fault_on_the_lab_as_it_is_now(key: str, cls: type, target: str) -> None:
    fake_lab = SimpleNamespace(spec=load_spec(), docker=None)
    fault = catalog.button(key).build(fake_lab, lab_status())
    assert type(fault) is cls and fault.target == target and not fault.active
    assert fault not in faults.active_faults()  # built, not applied: nothing to heal yet


def test_kill_writer_targets_the_new_writer_after_a_failover() -> None:
    fake_lab = SimpleNamespace(spec=load_spec(), docker=None)
    assert catalog.button("kill-writer").build(fake_lab, lab_status(writer_down=True)).target == "node2"


# ---- the web app --------------------------------------------------------------------------------


class FakeDashboard:
    def __init__(self) -> None:
        self.injected: list[tuple[str, float | None]] = []
        self.healed: list[str | None] = []

    def snapshot(self) -> dict[str, Any]:
        h = state.BoundedHistory(window_s=5, clock=lambda: 10.0)
        snap = state.snapshot(state.topology(lab_status()), h, [], [], now=10.0, window_s=5)
        return {**snap, "version": 3}

    def catalog(self) -> list[dict[str, str]]:
        return catalog.catalog_json()

    def inject(self, key: str, auto_heal_s: float | None = None) -> dict[str, Any]:
        if key == "latency":
            raise faults.FaultUnsupported("no sch_netem here")
        catalog.button(key)
        self.injected.append((key, auto_heal_s))
        return {"id": 1, "key": key}

    def heal(self, fault_id: str | None = None) -> list[dict[str, Any]]:
        self.healed.append(fault_id)
        return []


@pytest.fixture
def client() -> tuple[TestClient, FakeDashboard]:
    fake = FakeDashboard()
    return TestClient(dash_app.create_app(fake, interval=0.01, stream_limit=2)), fake


POST = {dash_app.POST_HEADER: "1"}


def test_page_and_assets_are_served_from_the_package(client: tuple[TestClient, FakeDashboard]) -> None:
    c, _ = client
    page = c.get("/")
    assert page.status_code == 200 and 'data-testid="topology"' in page.text
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        assert c.get(asset).status_code == 200


def test_nothing_is_fetched_from_another_site() -> None:
    for f in dash_app.STATIC.iterdir():
        text = f.read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f.name
        assert "cdn" not in text.lower(), f.name


def test_state_and_catalog(client: tuple[TestClient, FakeDashboard]) -> None:
    c, _ = client
    assert c.get("/api/state").json()["topology"]["writer"] == "node1"
    assert [b["key"] for b in c.get("/api/catalog").json()][0] == "kill-writer"


def test_inject_needs_the_page_header(client: tuple[TestClient, FakeDashboard]) -> None:
    c, fake = client
    assert c.post("/api/faults/kill-writer").status_code == 403
    assert c.post("/api/heal").status_code == 403
    assert fake.injected == [] and fake.healed == []


def test_inject_heal_and_their_errors(client: tuple[TestClient, FakeDashboard]) -> None:
    c, fake = client
    assert c.post("/api/faults/kill-writer", json={"auto_heal_s": 30}, headers=POST).json()["key"] == "kill-writer"
    assert fake.injected == [("kill-writer", 30.0)]
    assert c.post("/api/faults/nope", headers=POST).status_code == 404
    r = c.post("/api/faults/latency", headers=POST)
    assert r.status_code == 409 and "sch_netem" in r.json()["error"]
    assert c.post("/api/faults/kill-reader", json={"auto_heal_s": "soon"}, headers=POST).status_code == 400
    c.post("/api/heal", json={"id": 4}, headers=POST)
    c.post("/api/heal", headers=POST)
    assert fake.healed == ["4", None]


def test_event_stream_sends_snapshots(client: tuple[TestClient, FakeDashboard]) -> None:
    c, _ = client
    with c.stream("GET", "/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = [e for e in body.split("\n\n") if e]
    assert events[0].startswith("event: hello") and "retry: 2000" in events[0]
    states = [e for e in events if e.startswith("event: state")]
    assert len(states) == 2 and "id: 3" in states[0]
    data = json.loads(states[0].split("data: ", 1)[1])
    assert data["topology"]["vip"]["holder"] == "proxy1"


def test_foreign_host_header_is_refused(client: tuple[TestClient, FakeDashboard]) -> None:
    c, _ = client
    assert c.get("/api/state", headers={"host": "evil.example:8765"}).status_code == 400


def test_allowed_hosts_open_only_when_bound_to_every_address() -> None:
    assert "localhost" in dash_app.allowed_hosts("127.0.0.1")
    assert dash_app.allowed_hosts("0.0.0.0") == ["*"]
