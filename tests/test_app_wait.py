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
        return SimpleNamespace(http_status=None, ok=False)

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


def test_a_proxy_that_exits_at_start_is_named_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine only says the keepalived sidecar "cannot join network of a non running
    container"; the message names the proxy that exited and shows its log (seen with a brought
    ProxySQL image whose USER could not read the 0600 config)."""
    from python_on_whales.exceptions import DockerException

    lab = Lab.create(load_spec(None, [("proxy.kind", "haproxy"), ("app.kind", "probe")]), tmp_path / "stack")
    log = b"[ERROR] Unable to open config file /etc/proxysql.cnf specified in the command line. Aborting!\n"
    exited = SimpleNamespace(name="galera-lab-proxy1", attrs={"State": {"Status": "exited", "ExitCode": 1}},
                             logs=lambda tail: log)
    running = SimpleNamespace(name="galera-lab-keepalived1", attrs={"State": {"Status": "created"}}, logs=lambda tail: b"")
    lab._docker = SimpleNamespace(containers=SimpleNamespace(
        get=lambda name: exited if name.endswith("proxy1") else running))

    def up(**kwargs: object) -> None:
        raise DockerException(["docker", "compose", "up"], 1, stderr=b"cannot join network of a non running container")
    lab.compose = SimpleNamespace(compose=SimpleNamespace(up=up))  # type: ignore[assignment]
    with pytest.raises(LabError, match=r"(?s)galera-lab-proxy1 exited with code 1; its last log lines:.*Unable to open config"):
        lab._service_up(["proxy1", "keepalived1"])


def test_one_restart_by_policy_is_waited_through_but_not_a_loop() -> None:
    """ProxySQL restarted once by its on-failure policy after a crash at start is not broken;
    a container that keeps restarting, or restarts without such a policy, is."""
    from lab.engine import container_trouble

    def container(restarts: int, policy: str) -> SimpleNamespace:
        return SimpleNamespace(name="galera-lab-proxy2", logs=lambda tail: b"Error: signal 11\n",
                               attrs={"State": {"Status": "restarting", "Restarting": True, "ExitCode": 139},
                                      "RestartCount": restarts, "HostConfig": {"RestartPolicy": {"Name": policy}}})
    assert container_trouble(container(1, "on-failure")) is None  # type: ignore[arg-type]
    assert "keeps restarting (exit code 139, 2 restarts)" in str(container_trouble(container(2, "on-failure")))  # type: ignore[arg-type]
    assert "keeps restarting" in str(container_trouble(container(0, "always")))  # type: ignore[arg-type]
