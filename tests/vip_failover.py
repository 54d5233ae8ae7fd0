"""The VIP-holder SIGKILL that the frontend e2e tests (bridge, published reach) both make,
measured one way: clients working first, the kill, the VIP on the standby, clients through
again, the lab healthy once the killed proxy is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos import checkers
from chaos.faults import Kill, resolve_target
from chaos.history import History
from chaos.workloads import Sampler
from lab.runtime import Lab
from lab.status import LabStatus


def wait_until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def ok_since(history: History, process: str, since: float) -> int:
    return sum(1 for op in history.ops() if op.process == process and op.outcome == "ok" and op.start >= since)


@dataclass(frozen=True)
class VipKill:
    t0: float  # when the kill was sent
    moved: float | None  # seconds until the VIP was on the standby alone
    standby: str  # the proxy that holds the VIP now


def kill_vip_holder(lab: Lab, status: LabStatus, history: History, vip: Sampler,
                    processes: tuple[str, ...]) -> VipKill:
    """SIGKILL the VIP holder while the workloads named `processes` and the `vip` sampler run;
    return when all of them got through again after the move and the lab is healthy again."""
    holder, standby = resolve_target("vip-holder", status), resolve_target("standby-proxy", status)
    deadline = lab.spec.vip_failover_deadline_s()

    def on_standby() -> float | None:
        return checkers.time_to_event(vip.snapshot(), t0, lambda v: v == (standby,))

    before = time.time()
    wait_until(lambda: all(ok_since(history, p, before) >= 5 for p in processes), "every client working before the fault", 30)
    with Kill(lab, holder) as kill:
        t0 = kill.event.start
        wait_until(lambda: on_standby() is not None, f"the VIP on {standby}", deadline + 10)
        moved = on_standby()
        after = time.time()
        wait_until(lambda: all(ok_since(history, p, after) >= 5 for p in processes),
                   "every client through again after the VIP moved", 30)
    wait_until(lambda: lab.status().healthy, "the lab healthy after the killed proxy is back", 120)
    return VipKill(t0, moved, standby)
