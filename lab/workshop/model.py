"""Exercises as data: the YAML files under lab/workshop/exercises/, validated on load.

Why data and not code: a teacher adapts an exercise (its words, its hint, which fault it
starts with) without touching Python, and the checks and actions an exercise may name are a
closed registry (lab/workshop/checks.py, lab/workshop/actions.py), so a file can't run
arbitrary code. A file with a mistake is refused with one line naming the file, the key and
what is accepted, like lab/spec.py does for a lab.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lab.errors import LabError
from lab.grammar import printable, shown

ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


class ExerciseError(LabError):
    """An exercise file is invalid, or a workshop command can't run (the message says why)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Call(_Strict):
    """One named entry of a registry (a check or an action) with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    def validate_in(self, registry: Mapping[str, Any], kind: str) -> None:
        """Refuse an unknown name or parameters its entry's model refuses (ValueError, one line)."""
        entry = registry.get(self.name)
        if entry is None:
            raise ValueError(f"unknown {kind} {shown(self.name, 40)}; known: {', '.join(sorted(registry))}")
        try:
            entry.params.model_validate(self.params)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(x) for x in e["loc"]) or "params"
            raise ValueError(f"{kind} {self.name}: params.{where}: {e['msg'].removeprefix('Value error, ')}") from None


class Action(_Strict):
    """What the student does: a terminal command, a dashboard button, or both (at least one)."""

    command: str | None = None
    dashboard: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        if not (self.command or self.dashboard):
            raise ValueError("an action needs a command, a dashboard button, or both")
        return self


class Step(_Strict):
    """One step: why and what to watch, what to do, how it is checked, a hint, the solution."""

    title: str
    explain: str
    action: Action
    check: Call
    hint: str
    solution: list[Call] = Field(min_length=1)
    answer: str | None = Field(None, description="the question, when the step is answered with `workshop answer`")


class Exercise(_Strict):
    id: str
    title: str
    goal: str
    setup: list[Call] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID.match(value):
            raise ValueError(f"{shown(value, 50)} refused: lower-case letters, digits and '-', at most 48")
        return value

    @model_validator(mode="after")
    def _registries(self) -> Exercise:
        from lab.workshop.actions import ACTIONS
        from lab.workshop.checks import CHECKS

        for call in self.setup:
            call.validate_in(ACTIONS, "action")
        for i, step in enumerate(self.steps, 1):
            try:
                step.check.validate_in(CHECKS, "check")
                for call in step.solution:
                    call.validate_in(ACTIONS, "action")
            except ValueError as exc:
                raise ValueError(f"step {i}: {exc}") from None
        return self


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(x + 1) if isinstance(x, int) else str(x) for x in loc)


def parse_exercise(text: str, source: str) -> Exercise:
    """One exercise from YAML text; ExerciseError with one line naming `source` otherwise."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ExerciseError(printable(f"{source}: not valid YAML{where}: "
                                      f"{getattr(exc, 'problem', None) or exc.__class__.__name__}")) from None
    if not isinstance(raw, dict):
        raise ExerciseError(f"{source}: the top level must be a mapping (id, title, goal, setup, steps)")
    try:
        return Exercise.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key {shown(e['loc'][-1], 40)}"
        elif e["type"] == "missing":
            msg = "missing"
        where = _where(e["loc"])
        raise ExerciseError(printable(f"{source}: {where + ': ' if where else ''}{msg}{more}")) from None


def exercise_files() -> list[tuple[str, str]]:
    """(file name, text) of the shipped exercises, in file-name order (which is course order)."""
    folder = resources.files("lab.workshop") / "exercises"
    return sorted((f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir() if f.name.endswith(".yaml"))


def load_exercises(folder: Path | None = None) -> list[Exercise]:
    """Every exercise, validated, in course order; ExerciseError on the first bad file."""
    files = (sorted((p.name, p.read_text(encoding="utf-8")) for p in folder.glob("*.yaml"))
             if folder is not None else exercise_files())
    out = [parse_exercise(text, name) for name, text in files]
    seen: dict[str, str] = {}
    for (name, _), ex in zip(files, out):
        if ex.id in seen:
            raise ExerciseError(f"{name}: id {ex.id!r} is also the id of {seen[ex.id]}")
        seen[ex.id] = name
    return out


def find(exercises: list[Exercise], key: str) -> Exercise:
    """An exercise by id or by its position (1-based) in the course."""
    for i, ex in enumerate(exercises, 1):
        if key in (ex.id, str(i), f"{i:02d}"):
            return ex
    raise ExerciseError(f"no exercise {shown(key, 40)}; `galera-lab workshop list` shows them")
