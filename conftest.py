"""Options every test folder shares come from the package's pytest plugin (chaos/plugin.py,
entry point `galera_lab`): `--lab-spec lab.yaml` and `--lab-profile fast` reach the suites
through the environment (lab/isolation.py), the same channel `make chaos SPEC=… PROFILE=…` uses.

Loaded here too when the package is not installed (a bare checkout on PYTHONPATH)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, entry_points

try:
    _INSTALLED = any(ep.name == "galera_lab" for ep in entry_points(group="pytest11"))
except PackageNotFoundError:  # pragma: no cover
    _INSTALLED = False

pytest_plugins = [] if _INSTALLED else ["chaos.plugin"]
