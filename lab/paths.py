"""Where the project's own files are, and where generated stacks go (never into the source tree)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "compose" / "templates"
IMAGES = ROOT / "compose" / "images"
CHAMILO = ROOT / "chamilo"
PROFILES = ROOT / "profiles"


def stacks_home() -> Path:
    """Folder holding one stack folder per project; LAB_HOME overrides the git-ignored default."""
    return Path(os.environ.get("LAB_HOME", ROOT / ".lab"))


def stack_dir(project: str) -> Path:
    return stacks_home() / project
