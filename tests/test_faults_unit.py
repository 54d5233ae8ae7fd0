"""Docker-free parts of the chaos suite: target resolution, iptables/tc command construction,
the heal registry, write outcome classification."""

from __future__ import annotations

import time
from typing import Any

import pymysql
import pytest

from chaos import faults
from chaos.faults import (Fault, FaultError, chain_hook_commands, chain_unhook_commands, drop_rules, heal_all,
                          interface_of, iptables, netem_error, partition_peers, resolve_target)
from chaos.workloads import classify_statement_error, served_node
from lab.spec import load_spec
from lab.status import AppStatus, LabStatus, NodeStatus, ProxyStatus, VipStatus


def node(name: str, ready: bool = True) -> NodeStatus:
    return NodeStatus(name, "running", "Synced" if ready else "Joining", 3, "Primary", ready)


def backends(writers: dict[str, str], readers: dict[str, str]) -> list[dict[str, str]]:
    return ([{"name": n, "role": "writer", "status": s} for n, s in writers.items()]
            + [{"name": n, "role": "reader", "status": s} for n, s in readers.items()])


def status(writer_up: dict[str, str] | None = None, reader_up: dict[str, str] | None = None,
           holder: str = "proxy1", proxy2_backends: list[dict[str, str]] | None = None) -> LabStatus:
    w = writer_up or {"node1": "UP", "node2": "UP", "node3": "UP"}
    r = reader_up or {"node1": "UP", "node2": "UP", "node3": "UP"}
    b = backends(w, r)
    proxies = [ProxyStatus("proxy1", "haproxy", "running", holder == "proxy1", b),
               ProxyStatus("proxy2", "haproxy", "running", holder == "proxy2", proxy2_backends or b)]
    return LabStatus("t", [node("node1"), node("node2"), node("node3")], proxies,
                     VipStatus("198.18.21.100", 6033, holder, True), AppStatus("probe", "http://x/", 200))


def test_writer_is_first_up_server_in_node_order() -> None:
    assert resolve_target("writer", status()) == "node1"
    assert resolve_target("writer", status({"node1": "DOWN", "node3": "UP", "node2": "UP"})) == "node2"


def test_writer_read_from_the_vip_holder() -> None:
    other = backends({"node1": "DOWN", "node2": "UP", "node3": "UP"}, {"node2": "UP", "node3": "UP"})
    assert resolve_target("writer", status(holder="proxy2", proxy2_backends=other)) == "node2"


def test_proxysql_writer_hostgroup_shape() -> None:
    # ProxySQL's runtime_mysql_servers as Probe.proxysql_backends maps them: only hg 10 is "writer"
    b = [{"name": "node2", "role": "writer", "status": "UP"},
         {"name": "node1", "role": "backup-writer", "status": "UP"},
         {"name": "node3", "role": "reader", "status": "UP"},
         {"name": "node1", "role": "reader", "status": "UP"}]
    st = status()
    st.proxies[0].backends = b
    assert resolve_target("writer", st) == "node2"
    assert resolve_target("reader", st) == "node1"


def test_reader_excludes_writer_and_down_nodes() -> None:
    st = status(reader_up={"node1": "UP", "node2": "DOWN", "node3": "UP"})
    assert resolve_target("reader", st) == "node3"
    assert resolve_target("node", st) == "node2"  # any ready node, preferring a non-writer
    with pytest.raises(FaultError):
        resolve_target("reader", st, exclude=["node3"])


def test_proxy_roles() -> None:
    assert resolve_target("vip-holder", status()) == "proxy1"
    assert resolve_target("standby-proxy", status()) == "proxy2"
    assert resolve_target("vip-holder", status(holder="proxy2")) == "proxy2"
    assert resolve_target("node3", status()) == "node3"
    with pytest.raises(ValueError, match="unknown target role"):
        resolve_target("leader", status())


def test_no_vip_holder_is_an_error() -> None:
    st = status()
    st.proxies[0].holds_vip = False
    with pytest.raises(FaultError):
        resolve_target("vip-holder", st)


def test_iptables_commands_undo_exactly_what_they_add() -> None:
    hook = chain_hook_commands("LABCHAOS-3")
    assert hook == [["-N", "LABCHAOS-3"], ["-I", "INPUT", "1", "-j", "LABCHAOS-3"],
                    ["-I", "OUTPUT", "1", "-j", "LABCHAOS-3"]]
    assert chain_unhook_commands("LABCHAOS-3") == [["-D", "INPUT", "-j", "LABCHAOS-3"],
                                                    ["-D", "OUTPUT", "-j", "LABCHAOS-3"],
                                                    ["-F", "LABCHAOS-3"], ["-X", "LABCHAOS-3"]]
    assert iptables(42, ["-S"]) == ["nsenter", "-t", "42", "-n", "iptables", "-w", "5", "-S"]


def test_drop_rules_both_directions_and_statistic() -> None:
    assert drop_rules("C", ["10.0.0.2"]) == [["-A", "C", "-s", "10.0.0.2", "-j", "DROP"],
                                             ["-A", "C", "-d", "10.0.0.2", "-j", "DROP"]]
    lossy = drop_rules("C", ["10.0.0.2"], 0.25)
    assert lossy[0] == ["-A", "C", "-s", "10.0.0.2", "-m", "statistic", "--mode", "random",
                        "--probability", "0.25", "-j", "DROP"]
    with pytest.raises(ValueError):
        drop_rules("C", ["10.0.0.2"], 1.5)


def test_partition_peers() -> None:
    spec = load_spec(None, [("networks.backend.subnet", "198.18.20.0/24"),
                            ("networks.frontend.subnet", "198.18.21.0/24"), ("keepalived.vip", "198.18.21.100")])
    addr = lambda n: str(spec.node_address(n))  # noqa: E731
    assert partition_peers([["node1"], ["node2", "node3"]], addr) == {
        "node1": ["198.18.20.12", "198.18.20.13"],
        "node2": ["198.18.20.11"], "node3": ["198.18.20.11"]}
    three = partition_peers([["node1"], ["node2"], ["node3"]], addr)
    assert three["node2"] == ["198.18.20.11", "198.18.20.13"]
    with pytest.raises(ValueError):
        partition_peers([["node1"], ["node1", "node2"]], addr)
    with pytest.raises(ValueError):
        partition_peers([["node1", "node2"]], addr)


def test_interface_of() -> None:
    out = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
           "104: eth0    inet 198.18.20.13/24 brd 198.18.20.255 scope global eth0\\       valid_lft forever\n"
           "7: eth1@if8    inet 198.18.21.21/24 scope global eth1\n")
    assert interface_of(out, "198.18.20.13") == "eth0"
    assert interface_of(out, "198.18.21.21") == "eth1"
    assert interface_of(out, "198.18.20.99") is None


def test_netem_missing_reason_names_sch_netem() -> None:
    assert netem_error(0, "") is None
    reason = netem_error(2, "Error: Specified qdisc kind is unknown.\n")
    assert reason is not None and "sch_netem" in reason and "qdisc kind is unknown" in reason


class Recorder(Fault):
    name = "recorder"
    log: list[str] = []

    def _inject(self) -> None:
        self.log.append(f"inject {self.target}")
        if self.detail.get("explode"):
            raise RuntimeError("half-way")

    def _restore(self) -> None:
        self.log.append(f"restore {self.target}")


class FakeLab:
    spec = load_spec()
    docker: Any = None


def test_context_manager_heals_and_records_event() -> None:
    Recorder.log = []
    with Recorder(FakeLab(), "node2") as f:
        assert f in faults.active_faults()
        assert f.event.healed is None
    assert f not in faults.active_faults()
    assert Recorder.log == ["inject node2", "restore node2"]
    ev = f.event
    assert ev.name == "recorder" and ev.target == "node2" and ev.healed is not None and ev.healed >= ev.start
    f.heal()  # idempotent
    assert Recorder.log == ["inject node2", "restore node2"]


def test_heal_all_heals_leftovers_newest_first() -> None:
    Recorder.log = []
    a, b = Recorder(FakeLab(), "a"), Recorder(FakeLab(), "b")
    a.apply()
    b.apply()
    assert heal_all() == []
    assert Recorder.log == ["inject a", "inject b", "restore b", "restore a"]
    assert not faults.active_faults()


def test_failed_injection_is_rolled_back_and_unregistered() -> None:
    Recorder.log = []
    f = Recorder(FakeLab(), "x", explode=True)
    with pytest.raises(RuntimeError):
        f.apply()
    assert Recorder.log == ["inject x", "restore x"]
    assert not faults.active_faults()


def test_heal_survives_keyboard_interrupt_in_body() -> None:
    Recorder.log = []
    with pytest.raises(KeyboardInterrupt):
        with Recorder(FakeLab(), "n"):
            raise KeyboardInterrupt
    assert Recorder.log[-1] == "restore n"


def test_heal_all_reports_errors_and_goes_on() -> None:
    class Broken(Recorder):
        def _restore(self) -> None:
            raise FaultError("nope")
    Recorder.log = []
    ok, bad = Recorder(FakeLab(), "ok"), Broken(FakeLab(), "bad")
    ok.apply()
    bad.apply()
    errors = heal_all()
    assert errors == ["recorder bad: nope"]
    assert Recorder.log[-1] == "restore ok" and not faults.active_faults()


@pytest.mark.parametrize("exc,outcome", [
    (pymysql.err.OperationalError(1047, "WSREP has not yet prepared node for application use"), "fail"),
    (pymysql.err.OperationalError(1213, "Deadlock found"), "fail"),
    (pymysql.err.IntegrityError(1062, "Duplicate entry"), "fail"),
    (pymysql.err.OperationalError(1180, "Error while appending streaming replication fragment"), "unknown"),
    (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), "unknown"),
    (pymysql.err.OperationalError(2006, "MySQL server has gone away"), "unknown"),
    (pymysql.err.InterfaceError(0, ""), "fail"),
    (pymysql.err.OperationalError(9001, "Max connect timeout reached while reaching hostgroup 10"), "fail"),
    (TimeoutError("timed out"), "unknown"),
])
def test_classify_statement_error(exc: BaseException, outcome: str) -> None:
    assert classify_statement_error(exc) == outcome


def test_served_node() -> None:
    assert served_node(b'{"ok":true,"served_by":{"rw":"node1/node1","ro":"node3/node3"}}') == "node1"
    assert served_node(b"not json") is None
    assert served_node(b'{"served_by": []}') is None


def test_event_timestamps_are_wall_clock() -> None:
    with Recorder(FakeLab(), "t") as f:
        pass
    assert abs(f.event.start - time.time()) < 5


def test_report_command_uses_latest_results(tmp_path) -> None:
    from chaos.history import FaultEvent, History, Op
    from chaos.report import ResultsFile
    from chaos.report_cli import report_command
    from lab.errors import LabError

    with pytest.raises(LabError, match="no chaos results"):
        report_command(None, tmp_path)
    h = History([Op("avail", "connect", None, None, 1.0, 1.1, "ok"), Op("avail", "connect", None, None, 2.0, 3.0, "fail"),
                 Op("avail", "connect", None, None, 3.0, 3.1, "ok")])
    for run in ("20260101-000000", "20260102-000000"):
        r = ResultsFile(run_id=run, started=1.0, spec={"tier": "haproxy"}, versions={"mariadb": "10.11"})
        r.add_scenario("kill_writer", "pass", figures={"downtime_ms": 1000.0},
                       faults=[FaultEvent("kill", "node1", 1.5, 2.5)], history=h)
        r.save(tmp_path / "results" / run / "results.json")
    md = report_command(None, tmp_path)
    assert md == tmp_path / "results" / "20260102-000000" / "report.md"
    assert "kill_writer" in md.read_text() and list(md.parent.glob("*.png"))
    assert report_command(tmp_path / "results" / "20260101-000000", tmp_path).parent.name == "20260101-000000"


def test_longest_ack_gap_counts_a_stalled_commit_to_its_end() -> None:
    from chaos.history import Op
    from chaos.scenario import longest_ack_gap
    ops = [Op("w", "write", "a", 1, 0.0, 0.1, "ok"),
           Op("w", "write", "b", 2, 0.2, 0.3, "unknown"),
           Op("w", "write", "c", 3, 0.4, 6.4, "ok"),  # held while Galera evicted a node
           Op("w", "write", "d", 4, 6.5, 6.6, "ok")]
    assert longest_ack_gap(ops, 0.0) == pytest.approx(6.3)
    assert longest_ack_gap([], 0.0) == float("inf")


def test_state_path_collapses_repeats_and_errors() -> None:
    from chaos.scenario import state_path, state_transfer_in_log
    samples = [(1, "Synced"), (2, "unreachable (2003: refused)"), (3, "error: x"), (4, "Joined"), (5, "Synced")]
    assert state_path(samples) == ["Synced", "unreachable", "Joined", "Synced"]
    full = "WSREP_SST: [INFO] rsync SST completed on joiner\nWSREP: SST received: u:2\nReceiving IST... 100.0% (1/1 events)"
    assert state_transfer_in_log(full) == "SST"
    # an IST still runs the SST script and logs "SST received/succeeded" (MariaDB 10.11, seen here)
    ist = ("WSREP_SST: [INFO] rsync IST completed on joiner\nWSREP: SST received: u:12\n"
           "WSREP: SST succeeded for position u:12\nWSREP: Receiving IST: 2 writesets, seqnos 13-14")
    assert state_transfer_in_log(ist) == "IST"
    assert state_transfer_in_log("WSREP: Receiving IST: 10 writesets\nIST received: u:9") == "IST"
    assert state_transfer_in_log("nothing") == "none"


class FakeNode:
    """A running node container whose server variables are a dict."""

    def __init__(self, values: dict[str, int]):
        self.values = values
        self.attrs = {"State": {"Status": "running", "Pid": 42}}

    def sql(self, sql: str) -> list[tuple[Any, ...]]:
        """SELECT @@global.x, … or SET GLOBAL x = 1, …, as `faults.node_sql` sends them."""
        if sql.startswith("SELECT "):
            names = [part.strip().removeprefix("@@global.") for part in sql.removeprefix("SELECT ").split(",")]
            return [tuple(self.values[n] for n in names)]
        for part in sql.removeprefix("SET GLOBAL ").split(","):
            name, value = (x.strip() for x in part.split("="))
            self.values[name] = int(value)
        return []


class SqlLab:
    """A lab whose nodes are `FakeNode`s, for Docker (is it running?) and SQL alike."""

    def __init__(self) -> None:
        self.spec = load_spec(None, [("proxy.kind", "haproxy"), ("app.kind", "probe"), ("project", "wl")])
        self.nodes = {self.spec.container(n): FakeNode({"wsrep_max_ws_size": 2147483647 - i,
                                                         "wsrep_max_ws_rows": 0})
                      for i, n in enumerate(self.spec.node_names)}
        self.docker = self
        self.containers = self

    def get(self, name: str) -> FakeNode:
        return self.nodes[name]


@pytest.fixture
def sql_lab(monkeypatch: pytest.MonkeyPatch) -> SqlLab:
    lab = SqlLab()
    monkeypatch.setattr(faults, "node_sql", lambda lab, node, sql: lab.get(lab.spec.container(node)).sql(sql))
    return lab


def test_writeset_limit_sets_every_node_and_heals_each_to_its_own_value(sql_lab: SqlLab) -> None:
    lab = sql_lab
    before = {name: dict(node.values) for name, node in lab.nodes.items()}
    fault = faults.WritesetLimit(lab, max_ws_size=4096)  # type: ignore[arg-type]
    with fault:
        assert {node.values["wsrep_max_ws_size"] for node in lab.nodes.values()} == {4096}
        assert {node.values["wsrep_max_ws_rows"] for node in lab.nodes.values()} == {0}
        record = fault.to_record()
    assert {name: node.values for name, node in lab.nodes.items()} == before
    assert fault.event.detail == {"wsrep_max_ws_size": 4096}
    # another process heals it from its record (the workshop's ledger)
    again = faults.WritesetLimit(lab, max_ws_rows=10)  # type: ignore[arg-type]
    again.apply()
    revived = faults.revive(lab, again.to_record())  # type: ignore[arg-type]
    revived.heal()
    again.healed_elsewhere()
    assert {name: node.values for name, node in lab.nodes.items()} == before
    assert record["state"]["previous"]["node1"] == {"wsrep_max_ws_size": 2147483647}


def test_writeset_limit_refuses_values_out_of_range_before_running(sql_lab: SqlLab) -> None:
    lab = sql_lab
    with pytest.raises(ValueError, match="wsrep_max_ws_size = 10: use an integer from 1024"):
        faults.WritesetLimit(lab, max_ws_size=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs max_ws_size or max_ws_rows"):
        faults.WritesetLimit(lab)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a writeset limit"):
        faults.set_global_sql({"wsrep_on": 0})
    assert faults.set_global_sql({"wsrep_max_ws_size": 2048, "wsrep_max_ws_rows": 5}) == \
        "SET GLOBAL wsrep_max_ws_size = 2048, wsrep_max_ws_rows = 5"


def test_on_every_node_runs_all_and_names_every_failure() -> None:
    seen: list[str] = []

    def fn(node: str) -> None:
        seen.append(node)
        if node == "node2":
            raise FaultError("node2: 'SET GLOBAL …' failed: refused")
        if node == "node3":
            raise OSError("gone")
    with pytest.raises(FaultError, match=r"^node2: 'SET GLOBAL …' failed: refused; node3: OSError\('gone'\)$"):
        faults.on_every_node(["node1", "node2", "node3"], fn)
    assert sorted(seen) == ["node1", "node2", "node3"]
