"""A user's own test folder, outside the repository, using only the installed package.

What it proves: the wheel (templates, build contexts and profiles as package data, the pytest
plugin as an entry point) is all a user needs. The package is built as a wheel and installed
into a fresh virtual environment (its dependencies come from this one's site-packages, so no
registry is needed); a copy of examples/ runs there with that environment's pytest: the plugin
brings a lab up from the example's lab.yaml on its own project and subnets (plugin-lab,
198.18.80.0/23), kills the writer, asserts on the application's HTTP downtime, and removes the
lab. Nothing of the checkout is importable in that run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab.docker_check import docker_skip_reason
from lab.runtime import leftover_resources
from lab.spec import load_spec
from tests.test_packaging import build_wheel

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

REPO = Path(__file__).resolve().parents[1]
PROJECT, SUBNET, HTTP_PORT, ROUTER_ID = "plugin-lab", "198.18.80.0/23", 18180, 101


def installed_venv(tmp: Path) -> Path:
    """A fresh venv with the wheel of this checkout installed; its python."""
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    # the dependencies (docker, pydantic, pymysql, pytest, …) from this environment; a path line
    # in a .pth file adds the folder but runs none of its own .pth files, so this checkout's
    # editable install stays out
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "zz-galera-lab-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_a_users_folder_runs_the_example_with_the_installed_plugin(tmp_path: Path) -> None:
    python = installed_venv(tmp_path)
    project = tmp_path / "user-repo"
    project.mkdir()
    for name in ("test_failover.py", "lab.yaml", "pytest.ini"):
        shutil.copy(REPO / "examples" / name, project / name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GALERA_LAB_SPEC", "GALERA_LAB_PROFILE", "LAB_HOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{python.parent}:{env.get('PATH', '')}"
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the installed package keeps its stacks there

    where = subprocess.run([str(python), "-c", "import lab.paths, chaos.plugin; print(lab.paths.TEMPLATES); "
                            "print(chaos.plugin.__file__); print(lab.paths.stacks_home())"],
                           cwd=project, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(str(tmp_path / "venv") in p for p in where[:2]), where  # not the checkout's
    assert where[2] == str(tmp_path / "state" / "galera-lab")

    junit = tmp_path / "junit.xml"
    proc = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-s", "--junitxml", str(junit),
                           "--lab-project", PROJECT, "--lab-subnet", SUBNET, "--lab-http-port", str(HTTP_PORT),
                           "--lab-router-id", str(ROUTER_ID), "--lab-timeout", "900"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    print(out[-6000:])
    spec = load_spec(project / "lab.yaml", [("project", PROJECT)])
    assert not any(leftover_resources(spec).values()), f"the plugin left {leftover_resources(spec)}"
    assert proc.returncode == 0, out[-4000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", 0)) == 3 and int(suite.get("skipped", 0)) == 0, out[-2000:]
    assert "longest outage" in out and f"bringing {PROJECT} up" in out
