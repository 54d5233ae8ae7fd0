"""A student's progress through the exercises, kept beside their lab's stack.

Why a file: the student's terminal (`galera-lab workshop check`), their dashboard and the
teacher's overview of the room are separate processes, and the overview must read every
student's progress without reaching into their sessions. One small JSON file per lab, written
by a rename so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILE = "workshop-progress.json"


@dataclass
class Progress:
    """Where one lab's student stands: the exercise under way (None before the first or after
    the last), its step, and the exercises done. `total` is the count of the sequence."""

    exercise: str | None = None
    step: int = 0
    completed: list[str] = field(default_factory=list)
    total: int = 0
    updated: float = 0.0
    # what the exercise remembered at its start (the writer then, the acknowledged writes, …),
    # so that a later check compares with the lab as it was, not with what the student says
    facts: dict[str, Any] = field(default_factory=dict)
    answer: str | None = None  # the student's last `workshop answer`, for the current step
    started: float = 0.0  # when the current exercise started

    @property
    def done(self) -> bool:
        return self.total > 0 and len(self.completed) >= self.total


def progress_path(stack: Path) -> Path:
    return stack / FILE


def load_progress(stack: Path) -> Progress:
    """The saved progress, or a fresh one (nothing started) when there is none yet."""
    try:
        raw = json.loads(progress_path(stack).read_text())
    except FileNotFoundError:
        return Progress()
    return Progress(exercise=raw.get("exercise"), step=int(raw.get("step", 0)),
                    completed=[str(x) for x in raw.get("completed", [])], total=int(raw.get("total", 0)),
                    updated=float(raw.get("updated", 0.0)), facts=dict(raw.get("facts") or {}),
                    answer=raw.get("answer"), started=float(raw.get("started", 0.0)))


def save_progress(stack: Path, progress: Progress) -> None:
    """Write atomically (temp file + rename), stamping the time of the change."""
    progress.updated = time.time()
    stack.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=stack, prefix=".progress-")
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(progress), fh, indent=2)
    os.replace(tmp, progress_path(stack))
