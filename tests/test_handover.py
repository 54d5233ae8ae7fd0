"""The graceful handover's pieces off a lab: the wrapper script's signal handling, run for real
under sh, and the compose/keepalived wiring it needs. The VIP move itself is measured on a real
lab by chaos/test_proxies.py (`vip_holder_down[graceful]`)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import yaml

from lab import handover
from lab.render import _environment, rendered_files
from lab.spec import LabSpec
from tests.conftest import make_plan
from tests.test_hostile_spec import SECRETS


def _script(mount: Path) -> Path:
    text = _environment().get_template("proxy-run.j2").render(mount=str(mount), flag=handover.FLAG)
    (mount / "state").mkdir(parents=True)
    path = mount / "proxy-run"
    path.write_text(text)
    return path


def _flag(mount: Path) -> str:
    return (mount / "state" / handover.FLAG).read_text().strip()


def test_stop_signal_raises_the_flag_before_the_proxy_hears_it(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    # the "proxy": notes the flag's value when its TERM arrives, then exits 7
    proxy = f"trap 'cat {tmp_path}/state/{handover.FLAG} >> {marks}; exit 7' TERM; echo up >> {marks}; " \
            "while :; do sleep 0.05; done"
    proc = subprocess.Popen(["sh", str(_script(tmp_path)), "0.5", "sh", "-c", proxy])
    deadline = time.monotonic() + 5
    while not (marks.exists() and "up" in marks.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _flag(tmp_path) == "0", "a starting proxy clears the flag"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert _flag(tmp_path) == "1" and marks.read_text().splitlines() == ["up"], "flag first, proxy still serving"
    assert proc.wait(timeout=5) == 7, "the wrapper exits with the proxy's status"
    assert time.monotonic() - sent >= 0.5, "the proxy heard the signal only after the delay"
    assert marks.read_text().splitlines() == ["up", "1"]


def test_the_proxys_own_exit_passes_through_and_leaves_the_flag_down(tmp_path: Path) -> None:
    proc = subprocess.run(["sh", str(_script(tmp_path)), "0.5", "sh", "-c", "exit 3"], timeout=10)
    assert proc.returncode == 3 and _flag(tmp_path) == "0"


def test_every_proxy_runs_its_launch_line_under_the_wrapper(tmp_path: Path) -> None:
    spec = LabSpec.model_validate({"proxy": {"kind": "haproxy"}, "keepalived": {"advert_interval": 1.0}})
    plan = make_plan(spec, "haproxy", "probe")
    files = rendered_files(plan, SECRETS)
    compose = yaml.safe_load(files["compose.yaml"][0])
    for proxy in spec.proxy_names:
        service = compose["services"][proxy]
        assert service["init"] is True
        assert service["entrypoint"][:3] == ["sh", f"{handover.MOUNT}/proxy-run", "1.25"]
        assert service["entrypoint"][3:] == list(plan.tier.service().launch)
        sidecar = compose["services"]["keepalived" + proxy.removeprefix("proxy")]
        assert f"./handover/{proxy}:{handover.MOUNT}/state:ro" in sidecar["volumes"]
        assert f'file "{handover.MOUNT}/state/{handover.FLAG}"' in files[f"keepalived/{proxy}.conf"][0]


def test_prepare_makes_a_writable_flag_per_proxy_and_keeps_a_raised_one(tmp_path: Path) -> None:
    handover.prepare(tmp_path, ["proxy1", "proxy2"])
    for proxy in ("proxy1", "proxy2"):
        folder = handover.state_dir(tmp_path, proxy)
        assert folder.stat().st_mode & 0o777 == 0o777 and not handover.raised(tmp_path, proxy)
    (handover.state_dir(tmp_path, "proxy1") / handover.FLAG).write_text("1\n")
    handover.prepare(tmp_path, ["proxy1", "proxy2"])
    assert handover.raised(tmp_path, "proxy1"), "a stopped proxy's flag stays up until it starts again"
