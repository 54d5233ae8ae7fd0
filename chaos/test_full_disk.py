"""The full disk: a reader's datadir fills up while the cluster writes, then space comes back.

The node moves onto a size-limited datadir (`TmpfsDatadir`: a tmpfs volume of gcache.size +
256 MB; why a tmpfs and not the lab's own volume is said there) and joins it by SST; a filler
file leaves it 4 MB; 256 KB rows go in through the VIP until the node is out. Seen here
(MariaDB 10.11, Galera 26.4): the node still says Synced while its appliers fail to grow a
tablespace ("preallocating … failed with error 28"), so the proxies keep it; a few seconds later
InnoDB aborts the server ("Error (Out of disk space) in rollback"), the proxies take it out and
the other nodes go on. Space comes back as an operator gives it (the filler removed) and
`galera-lab up` starts the node: InnoDB recovers, and `--wsrep-recover`'s position gets it an IST.

The mitigation measured beside it: recovering the node in place once space is back (its datadir
kept: IST) against rebuilding it from an empty datadir (a full SST, measured as it joined the
small datadir).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from chaos import checkers
from chaos import state_transfer as st
from chaos.faults import FaultError, resolve_target
from chaos.node_faults import FillDatadir, TmpfsDatadir
from chaos.report import mitigation_figure
from chaos.scenario import Scenario, backend_status, node_log, rejoined, state_path, state_transfer_in_log, summary
from chaos.workloads import Endpoint, node_vars
from lab.nodelog import why_down

pytestmark = pytest.mark.chaos

LEAVE = 4 * st.MIB
"""Free space the filler leaves: a few tablespace extensions."""

MAX_FILL = 64 * st.MIB
"""The most the scenario writes to fill it; the node is out long before on this lab."""


def test_full_disk(scenario: Scenario) -> None:
    lab, spec = scenario.lab, scenario.spec
    target = resolve_target("reader", lab.status())
    gcache = st.size_bytes(spec.galera.provider_options.get("gcache.size", "128M"))
    size = f"{(gcache + 256 * st.MIB) // st.MIB}M"
    bulk = st.Bulk(Endpoint.vip(lab))
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        small = small_datadir(scenario, target, size)
        sst_s = scenario.wait(lambda: rejoined(lab, target), f"{target} Synced on its {size} datadir",
                              spec.rejoin_deadline_s())
        sst = state_transfer_in_log(node_log(lab, target, small.event.start))
        sst_bytes = st.datadir_bytes(lab, target)
        scenario.wait_healthy()
        states = scenario.sample(lambda: summary(lab, target)["state"], 0.2, "state")
        seen = scenario.sample(lambda: sorted(set().union(*backend_status(lab, target).values())), 0.25, "proxies")
        other = next(n for n in spec.node_names if n != target)
        written_from, paused_from = st.cached_bytes(lab, other), flow_control_paused_s(lab, other)
        fill = scenario.inject(FillDatadir(lab, target, LEAVE))
        t_fill = fill.event.start

        def out() -> bool:
            return lab.probe.container_state(target) != "running" or not lab.probe.node(target).ready

        written = st.fill(bulk, out, MAX_FILL)
        scenario.wait(out, f"{target} out of the cluster with a full disk", 120)
        t_out = time.time()
        proxies_out = scenario.wait_event(seen, t_fill, lambda v: isinstance(v, list) and "UP" not in v,
                                          "the proxies taking it out", spec.proxy_detection_s() + 30)
        paused = flow_control_paused_s(lab, other) - paused_from
        crashed = lab.probe.container_state(target) != "running"
        log = node_log(lab, target, t_fill)
        shown = next(n for n in small.variant.status(details=True).galera if n.name == target)  # `galera-lab status`
        scenario.heal(fill)  # space back: the filler removed, as an operator frees space
        said: list[str] = []
        t_up = time.time()
        ist_bytes = st.cached_bytes(lab, other) - written_from  # at most what it missed: all since the fill
        small.variant.up(say=said.append)  # `galera-lab up` on the lab as it is now
        up_s = time.time() - t_up
        back = checkers.time_to_event(states.snapshot(), t_up, lambda v: v == "Synced")
        recovery = state_transfer_in_log(node_log(lab, target, t_up))
        scenario.heal(small)  # back on its own volume
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 10, since=time.time())
    scenario.stop_samplers()
    st.drop_tables(bulk)
    bulk.close()
    cause = why_down(log)
    told = [line for line in said if target in line and "had stopped" in line]
    scenario.figure(
        target=target, datadir_mb=int(size[:-1]), free_mb_at_fill=round(fill.detail["free_bytes"] / st.MIB, 1),
        written_until_out_mb=round(written / st.MIB, 1), node_out_s=round(t_out - t_fill, 2),
        what_galera_did=("the server aborted" if crashed else "it left the cluster") + f": {shown.note}", galera_log=cause.line if cause else None,
        stuck_synced_s=st.log_span(log, r"error 28|No space left", r"got signal|\[FATAL\]"),
        node_states=state_path([x for x in states.snapshot() if t_fill <= x[0] <= t_up]),
        proxies_view=state_path([x for x in seen.snapshot() if t_fill <= x[0] <= t_up]),
        proxies_out_s=round(proxies_out, 2), flow_control_paused_s=round(paused, 2), status_note=shown.note, up_said=told, up_recovery_s=round(up_s, 2),
        join_sst_s=round(sst_s, 2), recovery_ist_s=round(back, 2) if back is not None else None,
        recovery_transfer=recovery,
        mitigation=mitigation_figure(
            "recover the node in place once space is back (its datadir kept)",
            "rebuild it from an empty datadir (measured as it joined the small datadir)",
            "the filler removed, then `galera-lab up`",
            {"state transfer": (sst, recovery),
             "time to Synced s": (round(sst_s, 2), round(back, 2) if back is not None else None),
             "data sent MB (SST: the datadir; IST: at most the writes since the fill)": (round(sst_bytes / st.MIB, 1),
                                                                       round(ist_bytes / st.MIB, 1))}))
    scenario.check_writes()
    # no deadline: the stall is the time the node hung Synced (flow control) plus its eviction
    scenario.check_downtime("write", None, "downtime_ms", since=t_fill - 1)
    scenario.check_downtime("connect", None, "connect_downtime_ms", since=t_fill - 1)
    scenario.check_downtime("http", None, "http_downtime_ms", since=t_fill - 1)
    assert cause is not None and cause.kind == "disk-full", f"{target}'s log does not say its disk is full: {cause}"
    assert "disk is full" in shown.note, f"`status` says only {shown.note!r}"
    if crashed:
        assert told and "disk is full" in told[0], f"`up` did not say why {target} had stopped: {said}"
    assert recovery == "IST", f"{target} came back by {recovery}: recovering in place should keep its data (IST)"


def flow_control_paused_s(lab: Any, node: str) -> float:
    """Seconds replication has been paused by flow control so far, as `node` counts them: a node
    that can't apply makes the whole cluster wait once its receive queue passes gcs.fc_limit."""
    return int(node_vars(lab, node, timeout=5).get("wsrep_flow_control_paused_ns") or 0) / 1e9


def small_datadir(scenario: Scenario, target: str, size: str) -> TmpfsDatadir:
    """`target` on a datadir of `size`; a skip naming the engine's refusal when it can't mount one."""
    try:
        return scenario.inject(TmpfsDatadir(scenario.lab, target, size))  # type: ignore[return-value]
    except (DockerException, FaultError) as exc:
        text = str(getattr(exc, "stderr", None) or exc)
        if "tmpfs" in text or "mount" in text:
            pytest.skip(f"the engine can't give {target} a {size} tmpfs datadir: {text.strip()[:300]}")
        raise
