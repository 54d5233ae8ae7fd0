"""Every workshop exercise against a real lab of its own (project `ws-lab`), both ways.

For each exercise: start it (its setup runs), then for every step assert the check says NOT
done with a reason (an answer step also refuses a wrong answer), run the step's solution, and
assert the check says done. One lab is shared by the exercises, in course order; each one must
leave it healthy for the next, which the test asserts too. Runs on the user's topology
(`make chaos SPEC=…`) and whichever proxy tier it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import faults
from lab.browser import chromium_binary
from lab.isolation import missing_part, suite_spec
from lab.runtime import Lab
from lab.workshop import ledger
from lab.workshop.actions import run_action
from lab.workshop.checks import HealthyParams, lab_healthy
from lab.workshop.context import truths
from lab.workshop.model import Exercise, load_exercises
from lab.workshop.progress import load_progress
from lab.workshop.session import Workshop
from tests.docker_check import docker_skip_reason
from tests.test_dashboard_e2e import free_port, stop_dashboard, wait_for_state

pytestmark = [pytest.mark.chaos, pytest.mark.workshop, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

EXERCISES = load_exercises()
TIMES: dict[str, float] = {}


def say(msg: str) -> None:
    print(f"[workshop {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    spec = suite_spec("workshop")
    missing = missing_part(spec)
    if missing:
        pytest.skip(missing)
    lab = Lab.create(spec)
    lab.up(say=say)
    try:
        yield lab
    finally:
        say(f"times: {TIMES}")
        faults.heal_all()
        lab.down(volumes=True)


@pytest.fixture(scope="module")
def workshop(lab: Lab) -> Workshop:
    ws = Workshop(lab, EXERCISES, say=say)
    ws.reset()
    return ws


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_both_ways(lab: Lab, workshop: Workshop, exercise: Exercise) -> None:
    started = time.monotonic()
    ws = workshop
    try:
        ws.start(exercise.id)
        for index, step in enumerate(exercise.steps):
            assert ws.current() is not None and ws.current()[1] == index  # type: ignore[index]
            if step.answer is not None:
                solution = next(c for c in step.solution if c.name == "answer")
                run_action(ws.ctx(), "answer", {**solution.params, "wrong": True})
                ws.save()
            before = ws.check()
            say(f"{exercise.id} step {index + 1} before: {before}")
            assert not before.done and before.reason, f"{exercise.id} step {index + 1} done before its solution"
            after = ws.solve(timeout=150)
            say(f"{exercise.id} step {index + 1} after: {after}")
            assert after.done, f"{exercise.id} step {index + 1}: {after.reason}"
        assert ws.current() is None and exercise.id in ws.progress.completed
    finally:
        TIMES[exercise.id] = round(time.monotonic() - started, 1)
        _leave_healthy(lab, ws)


def _leave_healthy(lab: Lab, ws: Workshop) -> None:
    """The next exercise needs a whole lab: heal whatever a failed one left, and say so."""
    ctx = ws.ctx()
    verdict = lab_healthy(ctx, HealthyParams())
    if verdict.done:
        return
    say(f"lab not healthy after the exercise ({verdict.reason}): healing")
    faults.heal_all()
    run_action(ctx, "heal", {})
    lab.up(say=say)
    deadline = time.monotonic() + 60
    while not (verdict := lab_healthy(ctx, HealthyParams())).done and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict.done, verdict.reason


def test_dashboard_check_button_runs_the_same_check(lab: Lab, workshop: Workshop) -> None:
    """The dashboard's Check button (`Dashboard.workshop_check`, POST /api/workshop/check) on the
    real lab: it sees the exercise the terminal started, says not done with the check's reason,
    and reads the progress file the terminal writes."""
    from lab.dashboard.service import Dashboard

    completed = list(workshop.progress.completed)
    dash = Dashboard(lab, clients=False)  # not started: no poller, no clients; only the workshop part
    workshop.start(EXERCISES[0].id)
    try:
        state = dash.workshop_state()
        assert state is not None and state["exercise"]["id"] == EXERCISES[0].id and state["step"]["index"] == 1
        verdict = dash.workshop_check()
        assert verdict["done"] is False and verdict["reason"], verdict
        assert verdict["workshop"]["step"]["index"] == 1
    finally:
        workshop.progress.exercise, workshop.progress.completed = None, completed
        workshop.save()


# ---- the dashboard on the real lab: the answer box, one fault registry with the terminal ----


@pytest.fixture(scope="module")
def dashboard(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`galera-lab dashboard` on the lab, as a student starts it (its own process); its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cwd = tmp_path_factory.mktemp("dash")  # no lab.yaml of the user's is read for the project's spec
    log = (cwd / "dashboard.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "dashboard", "--project", lab.spec.project,
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        wait_for_state(url, proc)
        yield url
    finally:
        stop_dashboard(proc)
        say(f"dashboard log: {(cwd / 'dashboard.log').read_text()[-2000:]}")


def post(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-Galera-Lab": "1"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def get_state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "api/state", timeout=30) as r:
        return json.loads(r.read())


def cli(lab: Lab, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`galera-lab workshop …` from the terminal: a process of its own, like the student's."""
    return subprocess.run([sys.executable, "-m", "lab.cli", "workshop", *args, "--project", lab.spec.project],
                          capture_output=True, text=True, timeout=600, cwd=cwd, env={**os.environ, "COLUMNS": "300"})


def wait_until(what: str, test: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := test()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)
    return value


def test_dashboard_answer_box_both_ways(lab: Lab, workshop: Workshop, dashboard: str) -> None:
    """The answer box on the page, in headless Chromium: a wrong answer (with markup in it) is
    refused and shown as text, never as markup; the lab's truth is accepted and the step moves
    on, in the progress file the terminal reads."""
    if chromium_binary() is None:
        pytest.skip("no system Chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    from tests.chamilo_ui import chromium

    completed = list(workshop.progress.completed)
    ex = EXERCISES[0]  # find-the-writer: step 2 asks which node writes now
    question = next(i for i, st in enumerate(ex.steps) if st.answer is not None)
    try:
        workshop.start(ex.id)
        for _ in range(question):
            assert workshop.solve(timeout=150).done
        hostile = '<img src=x onerror="window.pwned=1">node99'
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(dashboard)
            page.wait_for_selector("#workshop-answer:not([hidden])")
            assert page.inner_text("#workshop-question") == ex.steps[question].answer
            page.fill("#workshop-answer-text", hostile)
            page.click("#workshop-answer-submit")
            page.wait_for_function("document.getElementById('workshop-result').textContent.startsWith('not done')")
            result = page.inner_text("#workshop-result")
            assert hostile in result, result  # shown as the text typed ...
            assert page.locator("#workshop img").count() == 0  # ... never as markup
            assert page.evaluate("window.pwned") is None
            assert load_progress(lab.stack).step == question  # not moved on
            right = sorted(truths(workshop.ctx(), "writer"))[0]
            page.fill("#workshop-answer-text", f"  {right.upper()} ")
            page.click("#workshop-answer-submit")
            page.wait_for_function("document.getElementById('workshop-result').textContent.startsWith('done')")
            say(f"answer box: {page.inner_text('#workshop-result')}")
            shots = lab.stack / "results"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "workshop-answer.png"), full_page=True)
        saved = load_progress(lab.stack)
        assert saved.exercise == ex.id and saved.step == question + 1 and saved.answer is None
    finally:
        workshop.progress = load_progress(lab.stack)
        workshop.progress.exercise, workshop.progress.completed = None, completed
        workshop.save()
        _leave_healthy(lab, workshop)


def test_one_fault_registry_for_the_terminal_and_the_dashboard(lab: Lab, workshop: Workshop, dashboard: str,
                                                               tmp_path: Path) -> None:
    """A fault injected from the terminal is listed on the page and healed by its "heal all";
    a fault injected from the page is healed by `galera-lab workshop heal`, and the page sees it."""
    ledger.prune(lab)  # kills and crashes of the exercises before, undone by their `up`
    assert not ledger.read(lab.stack), f"faults the exercises left: {ledger.read(lab.stack)}"
    # terminal → dashboard
    done = cli(lab, tmp_path, "fault", "pause-node")
    assert done.returncode == 0, done.stdout + done.stderr
    [rec] = ledger.read(lab.stack)
    assert rec["origin"] == "terminal" and rec["kind"] == "Pause"
    assert (ledger.ledger_path(lab.stack).stat().st_mode & 0o777) == 0o600
    paused = lab.docker.containers.get(lab.spec.container(rec["target"]))
    paused.reload()
    assert paused.status == "paused"
    listed = wait_until("the page lists the terminal's fault", lambda: [
        f for f in get_state(dashboard)["faults"] if f["id"] == rec["id"] and f["active"]])
    assert listed[0]["origin"] == "terminal"
    post(dashboard + "api/heal")  # the page's "heal all"
    wait_until("the terminal's pause healed by the page", lambda: (paused.reload(), paused.status == "running")[1])
    wait_until("its record gone", lambda: not ledger.read(lab.stack))
    wait_until("the page no longer lists it", lambda: not [f for f in get_state(dashboard)["faults"] if f["active"]])
    _leave_healthy(lab, workshop)

    # dashboard → terminal
    injected = post(dashboard + "api/faults/isolate-node")
    node = injected["target"]
    [rec] = ledger.read(lab.stack)
    assert rec["origin"] == "dashboard" and rec["kind"] == "Isolate" and rec["target"] == node
    wait_until(f"{node} out of the Primary component", lambda: any(
        g.name == node and g.cluster_status != "Primary" for g in lab.status().galera))
    healed = cli(lab, tmp_path, "heal")
    assert healed.returncode == 0 and f"healed isolate {node}" in healed.stdout, healed.stdout + healed.stderr
    assert "removed" not in healed.stdout, healed.stdout  # its own heal removed its chain, not the sweep
    assert not ledger.read(lab.stack)
    wait_until("the page sees its fault healed", lambda: not [
        f for f in get_state(dashboard)["faults"] if f["active"]])
    wait_until(f"{node} back in the Primary component", lambda: all(
        g.cluster_status == "Primary" for g in lab.status().galera), timeout=120)
    _leave_healthy(lab, workshop)


def test_all_exercises_left_the_lab_healthy(lab: Lab, workshop: Workshop) -> None:
    """After the course: the lab whole and every exercise completed."""
    deadline = time.monotonic() + 60
    while not (verdict := lab_healthy(workshop.ctx(), HealthyParams())).done and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict.done, verdict.reason
    assert sorted(workshop.progress.completed) == sorted(e.id for e in EXERCISES)
