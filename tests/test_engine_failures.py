"""The engine's failures during `up` end it at once with one message naming the part and its logs.

The Docker ones (marked e2e) provoke each failure for real on a lab of their own (project
`input-fail`, 198.18.60.0/23), then check that `down --volumes` leaves nothing behind. The
engine stopping mid-way can't be provoked on a shared engine, so it runs against a stand-in.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests.exceptions

from lab import images, preflight
from lab.errors import LabError
from lab.runtime import Lab, leftover_resources
from lab.spec import LabSpec, load_spec
from tests.docker_check import docker_skip_reason

ISOLATION = [("project", "input-fail"), ("networks.backend.subnet", "198.18.60.0/24"),
             ("networks.frontend.subnet", "198.18.61.0/24"), ("keepalived.vip", "198.18.61.100"),
             ("keepalived.virtual_router_id", 161), ("app.http_port", 18160), ("proxy.kind", "haproxy"),
             ("app.kind", "probe")]
needs_docker = pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")


def _spec(*extra: tuple[str, Any]) -> LabSpec:
    return load_spec(None, [*ISOLATION, *extra])


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A lab built from the test's spec; removed with its volumes whatever happens."""
    made: list[Lab] = []

    def make(spec: LabSpec) -> Lab:
        made.append(Lab.create(spec, tmp_path / "stack"))
        return made[-1]
    yield make
    for one in made:
        one.down(volumes=True)
        assert not any(leftover_resources(one.spec).values()), leftover_resources(one.spec)


@pytest.mark.e2e
@needs_docker
def test_a_galera_node_that_exits_ends_up_with_its_logs(lab: Any) -> None:
    """A provider option Galera does not know (the grammar can't know every option) makes
    mariadbd exit at start: `up` says so at once, with the node's last log lines."""
    one = lab(_spec(("galera.provider_options", {"lab.no_such_option": "1"})))
    with pytest.raises(LabError) as exc:
        one.up(timeout=120)
    msg = str(exc.value)
    print(msg)
    assert msg.startswith("node1 failed while waiting for node1 Synced and Primary: input-fail-node1 exited")
    assert "its last log lines:" in msg and "no_such_option" in msg and "galera-lab down" in msg


@pytest.mark.e2e
@needs_docker
def test_a_port_taken_after_the_preflight_ends_up(lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone takes the app's port between the preflight check and the app's start."""
    spec = _spec()
    holder = socket.socket()
    real_check = preflight.check

    def check_then_take_the_port(s: LabSpec) -> list[str]:
        notes = real_check(s)
        holder.bind((str(s.app.bind), s.app.http_port))
        holder.listen()
        return notes
    monkeypatch.setattr(preflight, "check", check_then_take_the_port)
    one = lab(spec)
    try:
        with pytest.raises(LabError) as exc:
            one.up(timeout=240)
    finally:
        holder.close()
    msg = str(exc.value)
    print(msg)
    # the probe app starts in the proxies' compose call (lab/runtime.py): the message names it there
    assert msg.startswith("starting ") and " app failed:" in msg.split("\n")[0], msg
    assert "18160" in msg and "free it or choose another (app.http_port)" in msg


@pytest.mark.e2e
@needs_docker
def test_a_failing_image_build_names_the_image_and_its_output(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {images.base_image()}\nRUN echo disk full, say && exit 3\n")
    broken = images.ImageDef("app", "input-lab/broken:test", tmp_path)
    with pytest.raises(LabError) as exc:
        images.ensure([broken], lambda _: None)
    msg = str(exc.value)
    print(msg)
    assert msg.startswith("building input-lab/broken:test failed:") and "disk full, say" in msg
    assert not images.image_present("input-lab/broken:test")


class _GoneEngine:
    """A Docker client whose engine stopped: every call fails as requests fails on a dead socket."""

    class containers:  # noqa: N801 - mirrors docker.DockerClient.containers
        @staticmethod
        def get(name: str) -> None:
            raise requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file'))")


def test_the_engine_stopping_mid_wait_ends_up_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """node1 started, then the engine goes away while `up` waits for it: one message, at once."""
    def started_node1_then_wait(self: Lab, say: Any, timeout: float) -> None:
        self._watching.append("node1")  # type: ignore[union-attr] # as _service_up(["node1"]) does
        self.wait(lambda: False, "node1 Synced and Primary", time.monotonic() + 60, say)
    monkeypatch.setattr(Lab, "_up", started_node1_then_wait)
    one = Lab.create(_spec(), tmp_path / "stack")
    one._docker = _GoneEngine()  # type: ignore[assignment]
    began = time.monotonic()
    with pytest.raises(LabError) as exc:
        one.up()
    assert time.monotonic() - began < 5, "at once, not at the deadline"
    msg = str(exc.value)
    assert msg.startswith("galera-lab up: the Docker engine stopped answering (ConnectionError)")
    assert "`galera-lab down` removes what was started" in msg
