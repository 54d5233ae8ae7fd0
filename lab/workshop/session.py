"""A student's workshop on one lab: start an exercise, check a step, answer, solve, reset.

The CLI (lab/workshop/cli.py), the dashboard's Check button and the real-lab test all go
through `Workshop`, so a step is decided by the same code whoever asks. Progress lives in the
lab's stack folder (lab/workshop/progress.py), read again at every call: the terminal and the
dashboard are separate processes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from lab.runtime import Lab
from lab.workshop.actions import run_action
from lab.workshop.checks import Verdict, run_check
from lab.workshop.context import Ctx
from lab.workshop.model import Exercise, ExerciseError, Step, find, load_exercises
from lab.workshop.progress import Progress, load_progress, save_progress


class _Keep(dict[str, str]):
    """format_map helper: an unknown {name} stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def text_values(lab: Lab) -> dict[str, str]:
    """What an exercise's words may name: `{vip}`, `{project}`, `{stack}`, … of this lab."""
    spec, tier = lab.spec, lab.plan.tier
    return {
        "project": spec.project, "vip": str(spec.keepalived.vip), "write_port": str(tier.write_port),
        "read_port": str(tier.read_port), "tier": tier.title, "stack": str(lab.stack),
        "mariadb_image": lab.plan.images.get("mariadb", "galera-lab/mariadb"),
        "node1": str(spec.node_address(spec.node_names[0])),
        "nodes": " ".join(str(spec.node_address(n)) for n in spec.node_names),
        "node_containers": " ".join(spec.container(n) for n in spec.node_names),
        "tier_pooling": ("pools backend connections: a pooled connection keeps the value it was opened with, so "
                         "close the pooled connections after the change (KILL them on the nodes, or restart the "
                         "proxies one at a time)") if tier.pools_connections else
                        "opens one backend connection per client connection: new connections take the new value",
    }


def render_text(text: str, lab: Lab) -> str:
    """An exercise's words for this lab: placeholders filled, a YAML block's line breaks inside a
    paragraph joined (the terminal and the page wrap it themselves), blank lines kept."""
    joined = re.sub(r"(?<!\n)\n(?!\n)", " ", text.strip())
    return joined.format_map(_Keep(text_values(lab)))


class Workshop:
    def __init__(self, lab: Lab, exercises: list[Exercise] | None = None, say: Callable[[str], None] = lambda _: None):
        self.lab = lab
        self.exercises = exercises if exercises is not None else load_exercises()
        self.say = say
        self.progress = load_progress(lab.stack)
        self.progress.total = len(self.exercises)

    # ---- where the student stands ----

    def current(self) -> tuple[Exercise, int, Step] | None:
        if self.progress.exercise is None:
            return None
        ex = find(self.exercises, self.progress.exercise)
        index = min(self.progress.step, len(ex.steps) - 1)
        return ex, index, ex.steps[index]

    def require_current(self) -> tuple[Exercise, int, Step]:
        cur = self.current()
        if cur is None:
            raise ExerciseError("no exercise under way: `galera-lab workshop start [ID]` starts one")
        return cur

    def next_exercise(self) -> Exercise | None:
        return next((ex for ex in self.exercises if ex.id not in self.progress.completed), None)

    def ctx(self) -> Ctx:
        return Ctx(self.lab, self.progress, self.say)

    def save(self) -> None:
        self.progress.total = len(self.exercises)
        save_progress(self.lab.stack, self.progress)

    # ---- commands ----

    def start(self, key: str | None = None) -> Exercise:
        """Start an exercise (default: the first not done yet): run its setup, step 1."""
        ex = find(self.exercises, key) if key else self.next_exercise()
        if ex is None:
            raise ExerciseError("every exercise is done; `galera-lab workshop start ID` repeats one")
        self.progress.exercise, self.progress.step, self.progress.answer = ex.id, 0, None
        self.progress.facts, self.progress.started = {}, time.time()
        self.save()  # first: a setup's detached helper (the heartbeat) reads which exercise is under way
        ctx = self.ctx()
        try:
            for call in ex.setup:
                self.say(run_action(ctx, call.name, call.params))
        finally:
            self.save()
        return ex

    def check(self) -> Verdict:
        """Run the current step's check; on done, go to the next step (or finish the exercise)."""
        ex, index, step = self.require_current()
        try:
            verdict = run_check(self.ctx(), step.check.name, step.check.params)
            if verdict.done:
                self._advance(ex, index)
        finally:
            self.save()
        return verdict

    def _advance(self, ex: Exercise, index: int) -> None:
        self.progress.answer = None
        if index + 1 < len(ex.steps):
            self.progress.step = index + 1
            return
        if ex.id not in self.progress.completed:
            self.progress.completed.append(ex.id)
        self.progress.exercise, self.progress.step = None, 0

    def answer(self, text: str) -> Verdict:
        """Record the student's answer to the current step, then check it against the lab."""
        _, _, step = self.require_current()
        if step.answer is None:
            raise ExerciseError("this step asks no question; `galera-lab workshop check` decides it")
        self.progress.answer = text.strip()[:200]
        self.save()
        return self.check()

    def solve(self, timeout: float = 120.0) -> Verdict:
        """The teacher's way through the current step: run its solution, then check until done
        (a failover takes seconds) or `timeout`."""
        ex, index, step = self.require_current()
        ctx = self.ctx()
        try:
            for call in step.solution:
                self.say(run_action(ctx, call.name, call.params))
        finally:
            self.save()
        return self.wait_done(timeout)

    def wait_done(self, timeout: float) -> Verdict:
        """Check until the step is done or `timeout` passes; the last verdict."""
        deadline = time.monotonic() + timeout
        start = self.progress.exercise, self.progress.step
        while True:
            verdict = self.check()
            if verdict.done or time.monotonic() > deadline:
                return verdict
            if (self.progress.exercise, self.progress.step) != start:
                return verdict
            time.sleep(1.0)

    def reset(self) -> None:
        """Forget every exercise's progress (the lab is left as it is)."""
        self.progress = Progress(total=len(self.exercises))
        self.save()

    def state_json(self) -> dict[str, Any]:
        """The current exercise and step as the dashboard shows them."""
        cur = self.current()
        base: dict[str, Any] = {"completed": list(self.progress.completed), "total": len(self.exercises)}
        if cur is None:
            nxt = self.next_exercise()
            return {**base, "exercise": None, "next": nxt.id if nxt else None}
        ex, index, step = cur
        return {**base, "exercise": {"id": ex.id, "title": ex.title, "goal": render_text(ex.goal, self.lab)},
                "step": {"index": index + 1, "count": len(ex.steps), "title": step.title,
                         "explain": render_text(step.explain, self.lab),
                         "command": render_text(step.action.command, self.lab) if step.action.command else None,
                         "dashboard": step.action.dashboard, "question": step.answer}}
