"""Where the project's own files are, and where generated stacks go (never into the source tree).

The templates and image build contexts are the checkout's top-level folders compose/, chamilo/
and profiles/. An installed package (a wheel, `pip install galera-ha-lab`) carries the same
folders as data under `galera_lab_data/` beside `lab/` (pyproject.toml maps them), so the CLI
and the pytest plugin work outside the repository; a checkout's own folders win when present.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "compose" / "templates").is_dir()


def data_dir(name: str) -> Path:
    """One of compose/, chamilo/, profiles/: the checkout's, else the installed package's copy
    (a folder on disk: Docker builds need real paths, so a zipped install is not supported)."""
    if CHECKOUT:
        return ROOT / name
    installed = ROOT / "galera_lab_data" / name
    if installed.is_dir():
        return installed
    spec = importlib.util.find_spec(f"galera_lab_data.{name}")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise RuntimeError(f"galera-ha-lab is installed without its {name}/ data folder; reinstall the package")


COMPOSE = data_dir("compose")
TEMPLATES = COMPOSE / "templates"
IMAGES = COMPOSE / "images"
CHAMILO = data_dir("chamilo")
PROFILES = data_dir("profiles")


def stacks_home() -> Path:
    """Folder holding one stack folder per project; LAB_HOME overrides the default: the
    checkout's git-ignored .lab/, or for an installed package $XDG_STATE_HOME/galera-lab
    (~/.local/state/galera-lab), the same wherever the command runs."""
    if os.environ.get("LAB_HOME"):
        return Path(os.environ["LAB_HOME"])
    if CHECKOUT:
        return ROOT / ".lab"
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "galera-lab"


def stack_dir(project: str) -> Path:
    return stacks_home() / project
