"""A graceful proxy stop hands the VIP over before the proxy stops serving.

Why: keepalived shares the proxy's network namespace. `docker stop` of the VIP holder used to
close the proxy's listeners at once; keepalived noticed only through its health check (every
second, two failures), or lost its interface with the proxy's namespace and sent no priority-0
advert, so the standby waited a full master-down interval. Either way SQL through the VIP was
refused for 1-2 s on a planned stop, longer than the fast profile's whole VIP deadline.

How: the proxy runs under a small wrapper (`proxy-run`, with docker-init as PID 1 passing the
stop signal on). On the stop signal the wrapper writes 1 into a flag file that the proxy's
keepalived tracks (`track_file`, weight 0: a non-zero value is a fault, seen through
inotify at once). keepalived leaves MASTER with a priority-0 advert and the standby takes the
VIP within its skew time, while this proxy still serves; after `delay` the wrapper passes the
signal on and the proxy stops as it always did. A SIGKILL skips all of this, as it should.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.spec import LabSpec

SCRIPT = "handover/proxy-run"  # rendered into the stack folder, mounted into every proxy
MOUNT = "/lab-handover"  # the script and the proxy's own state folder, inside both containers
FLAG = "stopping"  # in handover/<proxy>/: 0 while the proxy serves, 1 once it was told to stop
TRACK_NAME = "proxy_stopping"  # the track_file's name in keepalived.conf


def delay_s(spec: LabSpec) -> float:
    """How long the stopping proxy keeps serving after raising its flag: once the priority-0
    advert arrives the standby takes the VIP after its skew time, under one advert interval;
    a quarter second more (at least 0.5 s in all) leaves room for a loaded machine."""
    return round(max(0.5, spec.keepalived.advert_interval + 0.25), 2)


def state_dir(stack: Path, proxy: str) -> Path:
    return stack / "handover" / proxy


def prepare(stack: Path, proxies: list[str]) -> None:
    """A flag per proxy, 0 when new. World-writable: the proxy may run as its image's own user
    (the official HAProxy image's `haproxy`), and the folder holds nothing but that flag."""
    for proxy in proxies:
        folder = state_dir(stack, proxy)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o777)
        flag = folder / FLAG
        if not flag.exists():
            flag.write_text("0\n")
        os.chmod(flag, 0o666)


def raised(stack: Path, proxy: str) -> bool:
    """Whether `proxy` was told to stop and has not started again since."""
    try:
        return (state_dir(stack, proxy) / FLAG).read_text().strip() not in ("", "0")
    except OSError:
        return False
