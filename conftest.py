"""Options every test folder shares: which topology the real-lab tests run on.

`--lab-spec lab.yaml` and `--lab-profile fast` reach the suites through the environment
(lab/isolation.py), the same channel `make chaos SPEC=… PROFILE=…` uses, so the chaos suite,
the stale-read test and the end-to-end test all run on the user's topology.
"""

from __future__ import annotations

import os

import pytest

from lab.isolation import PROFILE_ENV, SPEC_ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("galera-lab")
    group.addoption("--lab-spec", default=None, help="lab.yaml the real-lab tests run on (default: the defaults)")
    group.addoption("--lab-profile", default=None, help="profile layered under the spec, e.g. fast")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--lab-spec"):
        os.environ[SPEC_ENV] = str(config.getoption("--lab-spec"))
    if config.getoption("--lab-profile"):
        os.environ[PROFILE_ENV] = str(config.getoption("--lab-profile"))
