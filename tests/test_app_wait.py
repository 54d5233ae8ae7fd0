"""`up`'s wait for the application: an app container that stopped fails the wait at once.

Before, `galera-lab up` waited out its whole timeout (five minutes) for a Chamilo container
that had exited in its first seconds, then said nothing of why. No Docker here: the probe and
the engine client are stand-ins.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.errors import LabError
from lab.runtime import Lab
from lab.spec import load_spec


class FakeProbe:
    def __init__(self, states: list[str]):
        self.states = states
        self.http_calls = 0

    def container_state(self, service: str) -> str:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def app(self) -> SimpleNamespace:
        self.http_calls += 1
        return SimpleNamespace(http_status=None)

    def app_url(self) -> str:
        return "http://127.0.0.1:8080/"


def make_lab(tmp_path: Path, probe: FakeProbe, monkeypatch: pytest.MonkeyPatch) -> Lab:
    lab = Lab.create(load_spec(None, [("proxy.kind", "haproxy"), ("app.kind", "probe")]), tmp_path / "stack")
    monkeypatch.setattr(Lab, "probe", property(lambda self: probe))
    logs = b"lab-install: PHP Fatal error: Call to undefined function api_underscore_to_camel_case()\n"
    lab._docker = SimpleNamespace(containers=SimpleNamespace(get=lambda name: SimpleNamespace(logs=lambda tail: logs)))
    return lab


def test_an_exited_app_fails_the_wait_at_once_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = FakeProbe(["running", "running", "exited"])
    lab = make_lab(tmp_path, probe, monkeypatch)
    started = time.monotonic()
    with pytest.raises(LabError, match=r"(?s)galera-lab-app is exited; its last log lines:.*api_underscore_to_camel_case"):
        lab.wait_app(print, time.monotonic() + 300)
    assert time.monotonic() - started < 5
    assert probe.http_calls == 2


def test_a_restarting_app_fails_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = make_lab(tmp_path, FakeProbe(["restarting"]), monkeypatch)
    with pytest.raises(LabError, match="is restarting"):
        lab.wait_app(print, time.monotonic() + 300)
