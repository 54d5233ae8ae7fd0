"""Every workshop exercise against a real lab of its own (project `ws-lab`), both ways.

For each exercise: start it (its setup runs), then for every step assert the check says NOT
done with a reason (an answer step also refuses a wrong answer), run the step's solution, and
assert the check says done. One lab is shared by the exercises, in course order; each one must
leave it healthy for the next, which the test asserts too. Runs on the user's topology
(`make chaos SPEC=…`) and whichever proxy tier it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chaos import faults
from lab.isolation import missing_part, suite_spec
from lab.runtime import Lab
from lab.workshop.actions import run_action
from lab.workshop.checks import HealthyParams, lab_healthy
from lab.workshop.model import Exercise, load_exercises
from lab.workshop.session import Workshop
from tests.docker_check import docker_skip_reason

pytestmark = [pytest.mark.chaos, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

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


def test_all_exercises_left_the_lab_healthy(lab: Lab, workshop: Workshop) -> None:
    """After the course: the lab whole and every exercise completed."""
    deadline = time.monotonic() + 60
    while not (verdict := lab_healthy(workshop.ctx(), HealthyParams())).done and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict.done, verdict.reason
    assert sorted(workshop.progress.completed) == sorted(e.id for e in EXERCISES)
