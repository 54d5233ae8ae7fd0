"""An installed package works outside the repository: its wheel carries the templates, image
build contexts and profiles (compose/, chamilo/, profiles/ stay top-level in the checkout), and
the pytest plugin's entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lab import paths

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("compose", "chamilo", "profiles")


def source_files() -> set[str]:
    """Every file of the data folders that git tracks (what a fresh clone has)."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", *SHIPPED], capture_output=True, text=True, check=True)
    return {line for line in out.stdout.splitlines() if line}


def build_wheel(tmp: Path) -> Path:
    """A wheel of the working tree's files as git sees them (tracked and new, not ignored), built
    from a copy: no stale build/ folder of the checkout and no hand-supplied download rides along."""
    src = tmp / "src"
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    out = tmp / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("galera_ha_lab-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return zipfile.ZipFile(build_wheel(tmp_path_factory.mktemp("wheel")))


def test_wheel_carries_every_template_and_build_context_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {f"galera_lab_data/{name}" for name in source_files()}
    assert expected <= names, sorted(expected - names)
    assert "galera_lab_data/compose/templates/compose.yaml.j2" in names
    assert "galera_lab_data/profiles/fast.yaml" in names
    # the workshop's exercises are package data of lab.workshop (read with importlib.resources)
    shipped = {f"lab/workshop/exercises/{p.name}" for p in (REPO / "lab/workshop/exercises").glob("*.yaml")}
    assert len(shipped) >= 8 and shipped <= names, sorted(shipped - names)
    # nothing hand-supplied (a Chamilo release, a ProxySQL .deb) rides along
    assert not [n for n in names if n.endswith((".tar.gz", ".zip")) or n.endswith(".deb") and "/deb/" in n]
    # entrypoints keep their exec bit (the images chmod them too, but a context hash must match)
    info = wheel.getinfo("galera_lab_data/compose/images/galera/galera-entrypoint")
    assert (info.external_attr >> 16) & 0o111


def test_wheel_carries_every_python_module_of_the_checkout(wheel: zipfile.ZipFile) -> None:
    """A package missing from pyproject's list is missing from the wheel, and an installed
    plugin fails at its first import of it (chaos.transactional once nearly was)."""
    names = set(wheel.namelist())
    modules = {str(p.relative_to(REPO)) for top in ("lab", "chaos") for p in (REPO / top).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules <= names, sorted(modules - names)


def test_wheel_registers_the_pytest_plugin_and_the_cli(wheel: zipfile.ZipFile) -> None:
    (ep,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(ep).decode()
    assert "[pytest11]\ngalera_lab = chaos.plugin" in text
    assert "galera-lab = lab.cli:main" in text


def test_installed_layout_is_found_without_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "galera_lab_data" / "compose" / "templates").mkdir(parents=True)
    monkeypatch.setattr(paths, "CHECKOUT", False)
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.delenv("LAB_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.data_dir("compose") == tmp_path / "galera_lab_data" / "compose"
    assert paths.stack_dir("x") == tmp_path / "state" / "galera-lab" / "x"


def test_checkout_uses_its_own_folders() -> None:
    assert paths.CHECKOUT and paths.TEMPLATES == REPO / "compose" / "templates"
