"""Docker-free parts of `galera-lab workshop`: the shipped exercise files, their validation (one
line per error), the registries, the progress file and how a student's progress advances.

The real-lab side (every check both ways) is chaos/test_workshop.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from chaos import faults
from lab import cli
from lab.dashboard import app as dash_app
from lab.runtime import Lab
from lab.spec import load_spec
from lab.workshop import session as session_mod
from lab.workshop import heartbeat, ledger
from lab.workshop.actions import ACTIONS, BackupLock, fault_keys
from lab.workshop.checks import CHECKS, Verdict, docker_time, downtimes, rolling_verdict, seconds_in, with_last_restarts
from lab.workshop.model import Exercise, ExerciseError, exercise_files, find, load_exercises, parse_exercise
from lab.workshop.progress import Progress, load_progress, progress_path, save_progress
from lab.workshop.session import Workshop, render_text

GOOD = """
id: demo
title: Demo
goal: a goal
setup:
  - name: remember
    params: {fact: writer}
steps:
  - title: one
    explain: why
    action: {command: galera-lab workshop fault kill-writer}
    check: {name: node_down, params: {fact: writer}}
    hint: a hint
    solution: [{name: fault, params: {key: kill-writer}}]
  - title: two
    explain: why
    answer: which node?
    action: {command: galera-lab workshop answer nodeN}
    check: {name: answer, params: {fact: writer}}
    hint: a hint
    solution: [{name: answer, params: {fact: writer}}]
"""


# ---- the shipped exercises ----------------------------------------------------------------------


def test_every_shipped_exercise_loads_and_they_are_at_least_eight() -> None:
    files = exercise_files()
    exercises = load_exercises()
    assert len(exercises) == len(files) >= 8
    assert len({e.id for e in exercises}) == len(exercises)
    assert [name for name, _ in files] == sorted(name for name, _ in files)


@pytest.mark.parametrize("exercise", load_exercises(), ids=lambda e: e.id)
def test_every_check_and_action_exists_and_its_params_validate(exercise: Exercise) -> None:
    calls = [(c, ACTIONS) for c in exercise.setup]
    for step in exercise.steps:
        calls.append((step.check, CHECKS))
        calls += [(c, ACTIONS) for c in step.solution]
        assert step.explain.strip() and step.hint.strip() and (step.action.command or step.action.dashboard)
        if step.check.name == "answer":
            assert step.answer, f"{exercise.id}/{step.title}: an answer check needs the question"
            assert any(c.name == "answer" for c in step.solution), "the teacher's solution must answer"
    for call, registry in calls:
        registry[call.name].params.model_validate(call.params)


def test_the_course_covers_the_catalog_and_the_stale_read_study() -> None:
    """The issue's list: writer, VIP, reader/IST, isolation, majority, crash-all, backup,
    read-your-writes, rolling restart."""
    checks = {s.check.name for e in load_exercises() for s in e.steps}
    assert {"writer_failed_over", "vip_moved", "node_synced", "node_isolated", "no_primary", "reads_wait",
            "rolling_restart", "answer", "lab_healthy"} <= checks
    injected = {c.params.get("key") for e in load_exercises() for s in e.steps for c in [*e.setup, *s.solution]
                if c.name == "fault"}
    assert {"kill-writer", "kill-reader", "vip-sigkill", "isolate-node", "crash-all", "partition-all",
            "backup-lock"} <= injected


def test_a_dashboard_button_named_by_an_exercise_exists() -> None:
    from lab.dashboard.catalog import CATALOG
    labels = {b.label for b in CATALOG}
    named = {s.action.dashboard for e in load_exercises() for s in e.steps if s.action.dashboard}
    assert named <= labels, named - labels


def test_fault_keys_cover_the_dashboard_catalog() -> None:
    from lab.dashboard.catalog import BY_KEY
    assert set(BY_KEY) < set(fault_keys())


# ---- validation: one clear line per error ----------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("id: [unclosed", "bad.yaml: not valid YAML at line 1"),
    ("- a list", "the top level must be a mapping"),
    (GOOD.replace("name: node_down", "name: node_gone"), "steps.1.check: Value error"),
    (GOOD.replace("{fact: writer}}\n    hint", "{fact: nobody}}\n    hint"), "step 1: check node_down: params.fact"),
    (GOOD.replace("key: kill-writer", "key: kill-everything"), "unknown fault 'kill-everything'"),
    (GOOD.replace("goal: a goal\n", ""), "bad.yaml: goal: missing"),
    (GOOD.replace("goal: a goal", "goal: a goal\ncolour: red"), "unknown key 'colour'"),
    (GOOD.replace("id: demo", "id: Demo Exercise"), "bad.yaml: id: Value error, 'Demo Exercise' refused"),
    (GOOD.replace("    action: {command: galera-lab workshop answer nodeN}", "    action: {}"),
     "an action needs a command, a dashboard button, or both"),
])
def test_a_bad_file_is_one_clear_line(text: str, expected: str) -> None:
    with pytest.raises(ExerciseError) as err:
        parse_exercise(text, "bad.yaml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("bad.yaml:"), message
    if expected.startswith("steps.1.check"):
        assert "unknown check 'node_gone'" in message and "known:" in message, message
    else:
        assert expected.replace("Value error, ", "") in message.replace("Value error, ", ""), message


def test_duplicate_ids_and_a_folder_of_your_own(tmp_path: Path) -> None:
    (tmp_path / "01-a.yaml").write_text(GOOD)
    assert [e.id for e in load_exercises(tmp_path)] == ["demo"]
    (tmp_path / "02-b.yaml").write_text(GOOD)
    with pytest.raises(ExerciseError, match="02-b.yaml: id 'demo' is also the id of 01-a.yaml"):
        load_exercises(tmp_path)


def test_find_by_id_or_number() -> None:
    exercises = load_exercises()
    assert find(exercises, "2") is exercises[1] and find(exercises, exercises[0].id) is exercises[0]
    with pytest.raises(ExerciseError, match="no exercise 'nope'"):
        find(exercises, "nope")


# ---- progress ------------------------------------------------------------------------------------


def test_progress_round_trip_and_an_older_file(tmp_path: Path) -> None:
    p = Progress(exercise="demo", step=1, completed=["x"], total=3, facts={"writer": "node1", "acked": [1, 2]},
                 answer="node2", started=5.0)
    save_progress(tmp_path, p)
    again = load_progress(tmp_path)
    assert again == p and again.updated > 0
    # a file of the first version (no facts, answer, started) still loads
    progress_path(tmp_path).write_text(json.dumps({"exercise": None, "step": 0, "completed": ["a"], "total": 9}))
    old = load_progress(tmp_path)
    assert old.completed == ["a"] and old.facts == {} and old.answer is None


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    """A lab object (nothing started): the workshop reads its spec, plan and stack folder."""
    spec = load_spec(None, [("proxy.kind", "haproxy"), ("app.kind", "probe"), ("project", "ws-unit")])
    return Lab.create(spec, tmp_path / "stack")


def test_progress_advances_step_by_step_and_completes(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    verdicts = iter([Verdict(False, "node1 still running"), Verdict(True, "node1 down"), Verdict(True, "right")])
    seen: list[str] = []

    def fake_check(ctx: Any, name: str, params: dict[str, Any]) -> Verdict:
        seen.append(name)
        return next(verdicts)

    monkeypatch.setattr(session_mod, "run_check", fake_check)
    exercise = parse_exercise(GOOD.replace("setup:\n  - name: remember\n    params: {fact: writer}\n", ""), "demo")
    ws = Workshop(lab, [exercise])
    ws.start()
    assert (ws.progress.exercise, ws.progress.step) == ("demo", 0)
    with pytest.raises(ExerciseError, match="asks no question"):
        ws.answer("node2")
    assert not ws.check().done and ws.progress.step == 0
    assert ws.check().done and ws.progress.step == 1
    assert load_progress(lab.stack).step == 1  # saved for the dashboard and the room overview
    assert ws.answer("node2").done
    saved = load_progress(lab.stack)
    assert saved.exercise is None and saved.completed == ["demo"] and saved.done and saved.total == 1
    assert seen == ["node_down", "node_down", "answer"]
    with pytest.raises(ExerciseError, match="every exercise is done"):
        ws.start()
    with pytest.raises(ExerciseError, match="no exercise under way"):
        ws.check()
    ws.reset()
    assert load_progress(lab.stack).completed == []


def test_state_for_the_dashboard_and_placeholders(lab: Lab) -> None:
    ws = Workshop(lab, load_exercises())
    assert ws.state_json()["exercise"] is None and ws.state_json()["next"] == load_exercises()[0].id
    text = render_text("VIP {vip}:{write_port} on {project}\nnext line\n\n{unknown} stays", lab)
    assert text == f"VIP {lab.spec.keepalived.vip}:{lab.plan.tier.write_port} on ws-unit next line\n\n{{unknown}} stays"


def test_cli_without_a_lab_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["workshop", "check", "--project", "ws-no-such-lab"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no lab 'ws-no-such-lab'") and "\n" not in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["workshop", "fault", "unplug-everything"])
    assert exc.value.code == 2


# ---- the dashboard's Check button -------------------------------------------------------------------


class FakeDashboard:
    def __init__(self) -> None:
        self.checked = 0
        self.answers: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def catalog(self) -> list[dict[str, str]]:
        return []

    def inject(self, key: str, auto_heal_s: float | None = None) -> dict[str, Any]:
        return {}

    def heal(self, fault_id: str | None = None) -> list[dict[str, Any]]:
        return []

    def workshop_check(self) -> dict[str, Any]:
        self.checked += 1
        return {"done": False, "reason": "node1 still running", "workshop": None}

    def workshop_answer(self, text: str) -> dict[str, Any]:
        self.answers.append(text)
        return {"done": text == "node2", "reason": f"{text!r} checked", "workshop": None}


def test_check_button_endpoint_needs_the_header_and_runs_the_check() -> None:
    fake = FakeDashboard()
    client = TestClient(dash_app.create_app(fake))
    assert client.post("/api/workshop/check").status_code == 403 and fake.checked == 0
    r = client.post("/api/workshop/check", headers={"X-Galera-Lab": "1"})
    assert r.status_code == 200 and r.json()["reason"] == "node1 still running" and fake.checked == 1
    page = client.get("/").text
    assert 'id="workshop-check"' in page


@pytest.mark.parametrize("body, why", [
    (None, "non-empty answer"), ({"answer": "  "}, "non-empty answer"), ({"answer": 2}, "non-empty answer"),
    ({"answer": "x" * 201}, "at most 200"), ({"answer": "node2\n<script>"}, "one line of printable text"),
])
def test_answer_endpoint_refuses_what_is_not_one_short_line(body: dict[str, Any] | None, why: str) -> None:
    fake = FakeDashboard()
    client = TestClient(dash_app.create_app(fake))
    r = client.post("/api/workshop/answer", json=body, headers={"X-Galera-Lab": "1"})
    assert r.status_code == 400 and why in r.json()["error"] and fake.answers == []


def test_answer_endpoint_needs_the_header_and_runs_the_answer() -> None:
    fake = FakeDashboard()
    client = TestClient(dash_app.create_app(fake))
    assert client.post("/api/workshop/answer", json={"answer": "node2"}).status_code == 403 and fake.answers == []
    hostile = '<img src=x onerror="alert(1)">'
    r = client.post("/api/workshop/answer", json={"answer": hostile}, headers={"X-Galera-Lab": "1"})
    assert r.status_code == 200 and r.json()["done"] is False and fake.answers == [hostile]
    assert client.post("/api/workshop/answer", json={"answer": "node2"}, headers={"X-Galera-Lab": "1"}).json()["done"]
    assert 'id="workshop-answer-text"' in client.get("/").text
    script = client.get("/static/dashboard.js").text
    assert "innerHTML" not in script  # every text the page shows goes through textContent


def test_seconds_in_an_answer() -> None:
    assert [seconds_in(x) for x in ("4", "about 4.5 s", "3,8s", "4000 ms", "no idea")] == [4, 4.5, 3.8, 4, None]


# ---- the fault ledger: one registry for the terminal and the dashboard ---------------------------


def test_ledger_records_are_private_unique_and_removable(lab: Lab) -> None:
    fault = faults.Pause(lab, "node2")
    fault.start = 100.0
    a = ledger.add(lab.stack, "pause-node", fault, "terminal")
    b = ledger.add(lab.stack, "pause-node", fault, "dashboard")
    assert a != b and [r["origin"] for r in ledger.read(lab.stack)] == ["terminal", "dashboard"]
    assert ledger.ledger_path(lab.stack).stat().st_mode & 0o777 == 0o600
    assert ledger.remove(lab.stack, a) and not ledger.remove(lab.stack, a)
    assert ledger.ids(lab.stack) == {b}
    ledger.ledger_path(lab.stack).write_text("{half")
    assert ledger.read(lab.stack) == []


def test_a_record_revives_the_fault_with_what_its_heal_needs(lab: Lab) -> None:
    iso = faults.Isolate(lab, "node1")
    assert str(os.getpid()) in iso.chain  # two processes never share a chain name
    iso.start, iso._pids = 100.0, {"node1": 11, "node2": 12, "node3": 13}
    back = faults.revive(lab, json.loads(json.dumps(iso.to_record())))
    assert type(back) is faults.Isolate and back.active and back.target == "node1"
    assert (back.chain, back._pids, back.detail) == (iso.chain, iso._pids, iso.detail)
    assert back not in faults.active_faults()
    lat = faults.Latency(lab, "node2", 200)
    lat.start, lat._pid, lat._iface = 5.0, 42, "eth0"
    again = faults.revive(lab, lat.to_record())
    assert (again._pid, again._iface, again.detail["delay_ms"]) == (42, "eth0", 200)
    assert type(faults.revive(lab, {"kind": "BackupLock", "target": "node3", "start": 1.0})) is BackupLock
    with pytest.raises(ValueError, match="no fault kind 'Unplug'"):
        faults.revive(lab, {"kind": "Unplug", "target": "x", "start": 1.0})
    with pytest.raises(faults.FaultError, match="not been applied"):
        faults.Kill(lab, "node1").to_record()


def test_the_dashboard_follows_the_ledger(lab: Lab) -> None:
    """Without Docker: the page lists a fault the terminal recorded, and a fault of its own whose
    record another process removed (it healed it) is no longer active on the page."""
    from lab.dashboard.service import Dashboard, Injected

    dash = Dashboard(lab, clients=False)  # not started: no poller
    theirs = faults.Pause(lab, "node2")
    theirs.start = 10.0
    rid = ledger.add(lab.stack, "pause-node", theirs, "terminal")
    mine = faults.Pause(lab, "node3")
    mine.start = 20.0
    dash.injected.append(Injected("pause-node", mine, record=ledger.add(lab.stack, "pause-node", mine, "dashboard")))
    dash._sync_ledger(30.0)
    listed = {f["id"]: f for f in dash.snapshot()["faults"]}
    assert listed[rid]["origin"] == "terminal" and listed[rid]["active"] and listed[rid]["target"] == "node2"
    assert listed[mine.id]["origin"] == "dashboard" and listed[mine.id]["active"]
    ledger.remove(lab.stack, dash.injected[0].record or "")  # `workshop heal` healed it
    dash._sync_ledger(31.0)
    listed = {f["id"]: f for f in dash.snapshot()["faults"]}
    assert not listed[mine.id]["active"] and listed[rid]["active"]
    assert any("healed from another process" in e["text"] for e in dash.events)


def test_stopping_the_heartbeat_never_signals_a_recycled_pid(tmp_path: Path) -> None:
    """A pid file naming a process that is not a heartbeat (here: this test) is dropped, not killed."""
    (tmp_path / heartbeat.PID_FILE).write_text(f"{os.getpid()}\n")
    assert heartbeat.stop(tmp_path) is False and not (tmp_path / heartbeat.PID_FILE).exists()
    assert heartbeat.stop(tmp_path) is False  # no pid file: nothing to stop


# ---- the rolling-restart rule (Docker events → down spans → verdict) --------------------------------


def ev(name: str, action: str, at: float) -> dict[str, Any]:
    return {"Action": action, "timeNano": int(at * 1e9), "Actor": {"Attributes": {"name": name}}}


NAMES = {"ws-node1": "node1", "ws-node2": "node2"}


def test_rolling_restart_one_at_a_time_is_done() -> None:
    events = [ev("ws-node1", "die", 10), ev("ws-node1", "start", 12), ev("ws-node2", "die", 20),
              ev("ws-node2", "start", 21), ev("ws-app", "die", 11), ev("ws-node1", "die", 1)]
    spans = downtimes(events, NAMES, since=5)
    assert spans == {"node1": [(10, 12)], "node2": [(20, 21)]}
    assert rolling_verdict(spans).done


def test_two_down_at_once_or_one_never_restarted_is_not_done() -> None:
    both = downtimes([ev("ws-node1", "die", 10), ev("ws-node2", "die", 11), ev("ws-node1", "start", 12),
                      ev("ws-node2", "start", 13)], NAMES, since=0)
    verdict = rolling_verdict(both)
    assert not verdict.done and "node2 went down while node1 was still down" in verdict.reason
    one = rolling_verdict(downtimes([ev("ws-node1", "die", 10), ev("ws-node1", "start", 12),
                                     ev("ws-node2", "die", 20)], NAMES, since=0))
    assert not one.done and "node2" in one.reason


def test_restarts_the_engine_forgot_are_read_from_the_containers_state() -> None:
    """The engine keeps its last 256 events: node2's die/start gone, its State still says it."""
    t0 = docker_time("2026-12-02T08:26:00Z")
    assert docker_time("2026-12-02T08:26:08.123456789Z") == pytest.approx(t0 + 8.123456)
    assert docker_time("0001-01-01T00:00:00Z") == 0.0
    spans = downtimes([ev("ws-node1", "die", t0 + 4), ev("ws-node1", "start", t0 + 8)], NAMES, since=t0)
    states = {"node1": {"FinishedAt": "2026-12-02T08:26:04.2Z", "StartedAt": "2026-12-02T08:26:08Z"},
              "node2": {"FinishedAt": "2026-12-02T08:26:15.5Z", "StartedAt": "2026-12-02T08:26:19Z"}}
    merged = with_last_restarts(spans, states, since=t0)
    assert merged["node1"] == [(t0 + 4, t0 + 8)]  # already known from the events: not twice
    assert merged["node2"] == [(pytest.approx(t0 + 15.5), t0 + 19)]
    assert rolling_verdict(merged).done
    # a stop before the exercise began, or a node still down, proves nothing
    stale = {"node2": {"FinishedAt": "2026-12-02T08:25:00Z", "StartedAt": "2026-12-02T08:25:05Z"}}
    assert not rolling_verdict(with_last_restarts(spans, stale, since=t0)).done
    down = {"node2": {"FinishedAt": "2026-12-02T08:26:15Z", "StartedAt": "2026-12-02T08:20:00Z"}}
    assert not rolling_verdict(with_last_restarts(spans, down, since=t0)).done


def test_every_placeholder_in_the_shipped_texts_is_known(lab: Lab) -> None:
    import re
    for ex in load_exercises():
        texts = [ex.goal] + [t for s in ex.steps for t in (s.explain, s.hint, s.action.command or "")]
        for text in texts:
            left = re.findall(r"\{[a-z_0-9]+\}", render_text(text, lab))
            assert not left, f"{ex.id}: unknown placeholder(s) {left}"
