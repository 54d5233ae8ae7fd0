"""Stale reads by wsrep_sync_wait, small, on the chaos session's lab (the user's topology,
`make chaos SPEC=…`, whichever proxy tier it runs).

Asserts what the study exists for: with the READ bit set no read is stale and the nodes
counted a causal read for every answered read; with 0 the held-back reader certainly serves
stale reads (else the probe is blind); the tier pins sessions or not as its module says; the
lab is left as found. On ProxySQL also: the guide as written (pooled connections reset with
COM_CHANGE_USER) gives stale reads at 1, and the fix (`proxy.proxysql_connection_reset: close`)
gives none; a test fails if the fix is removed from the rendered config.

Why on the session's lab and not one of its own: a second lab cost a whole `up` and `down`
per run; the study leaves the lab as found (checked below), so the scenarios share it.

One study per module serves every check, sized by what the run selected: the small study when
any check beyond `stale_reads_at_0_and_1` runs, else (the smoke selection) `AT_0_AND_1`, the
cells that check needs and nothing more. The small study holds those cells too.
"""

from __future__ import annotations

import pytest

from chaos import stale_reads as sr
from chaos.scenario import ChaosLab, chaos_spec
from lab.runtime import Lab
from tests.docker_check import docker_skip_reason

pytestmark = [pytest.mark.chaos, pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")]

# 1 s a cell: hundreds of reads where nothing waits, and a held reader's 1205s at 0.5 s each
SMALL = sr.StudyConfig(values=(0, 1, 7), conditions=("idle", "churn", "held", "backup"), seconds=1.0, workers=4,
                       processes=2, load_workers=2, churn_workers=2, causal_read_timeout_s=0.5)
# the smoke's cells: a reader held back, read directly (stale at 0, 1205 at 1) and through the
# proxy (which reads from the nodes that keep up: never stale at 1, a causal read for each read)
AT_0_AND_1 = sr.StudyConfig(values=(0, 1), conditions=("held",), modes=("session", "proxy-session"), seconds=1.0,
                            workers=4, processes=2, causal_read_timeout_s=0.5)
SMOKE_CHECK = "test_stale_reads_at_0_and_1"
# the guide-vs-fix comparison: value 1 set globally (as the guide does), the pool churning and a
# reader falling behind under a backup's lock (kept in ProxySQL's read path)
GUIDE = sr.StudyConfig(values=(1,), conditions=("backup",), modes=("global",), seconds=4.0, workers=4,
                       processes=2, load_workers=2, churn_workers=4, causal_read_timeout_s=0.5)


@pytest.fixture(scope="module")
def lab(chaos_lab: ChaosLab) -> Lab:
    chaos_lab.ensure_up()
    return chaos_lab.lab


def study_config(items: list[pytest.Item], module: object) -> sr.StudyConfig:
    """The small study when a selected check of this module other than the smoke's needs the
    study, else the smoke's cells alone."""
    others = [i for i in items if getattr(i, "module", None) is module and "result" in getattr(i, "fixturenames", ())
              and i.name != SMOKE_CHECK]
    return SMALL if others else AT_0_AND_1


@pytest.fixture(scope="module")
def result(request: pytest.FixtureRequest, lab: Lab) -> sr.StudyResult:
    res = sr.run_study(lab, study_config(request.session.items, request.module))
    sr.save(res, lab)
    return res


def cells(res: sr.StudyResult, **match: object) -> list[sr.Cell]:
    return [c for c in res.cells if all(getattr(c, k) == v for k, v in match.items())]


def test_stale_reads_at_0_and_1(result: sr.StudyResult) -> None:
    """The smoke's stale-read check: a reader held back serves stale reads at 0 (the probe sees
    lag) and none at 1, where each read on it waits and fails with 1205 instead; through the
    proxy no read at 1 is stale and the serving nodes counted a causal read for every read."""
    held = {(c.sync_wait, c.mode): c for c in cells(result, condition="held")}
    direct0, direct1, proxied1 = held[(0, "session")], held[(1, "session")], held[(1, "proxy-session")]
    assert direct0.answered > 0 and direct0.stale > 0, f"the held reader served no stale read at 0: {direct0}"
    assert direct1.stale == 0 and direct1.errors_by_kind.get("1205 lock wait timeout", 0) == direct1.probes > 0, \
        f"the held reader at 1: {direct1}"
    assert proxied1.answered > 0 and proxied1.stale == 0, f"stale reads at 1 through the proxy: {proxied1}"
    assert proxied1.every_read_waited, \
        f"{proxied1.causal_reads_total} causal reads counted for {proxied1.answered} reads at 1 through the proxy"


def test_every_cell_measured(request: pytest.FixtureRequest, result: sr.StudyResult) -> None:
    config = study_config(request.session.items, request.module)
    assert len(result.cells) == len(config.values) * len(config.conditions) * len(config.modes)
    assert all(c.probes > 0 for c in result.cells)
    assert all(sum(c.served_by.values()) == c.answered for c in result.cells), "a read without its serving node"


def test_read_bit_means_no_stale_read(lab: Lab, result: sr.StudyResult) -> None:
    stale = [(c.sync_wait, c.condition, c.mode, c.stale) for c in result.cells if c.sync_wait & sr.READ_BIT and c.stale]
    assert stale == [], (f"stale reads with the READ bit set on the {lab.plan.tier.title} tier "
                         f"(proxy settings: {lab.spec.proxy.model_dump(include={'proxysql_connection_reset'})})")


def test_read_bit_reads_were_causal(result: sr.StudyResult) -> None:
    """The nodes' wsrep_causal_reads counters moved at least once per answered read at value 1."""
    for c in cells(result, sync_wait=1):
        if c.answered:
            assert c.every_read_waited, f"{c.mode}/{c.condition}: {c.causal_reads} causal reads for {c.answered} reads"


def test_held_reader_at_zero_is_stale(result: sr.StudyResult) -> None:
    held = cells(result, condition="held", sync_wait=0, mode="session")
    assert held and all(c.stale > 0 and c.served_by == {result.reader: c.answered} for c in held), "the probe is blind"


def test_held_reader_with_read_bit_times_out_with_1205(result: sr.StudyResult) -> None:
    for c in cells(result, condition="held", mode="session") + cells(result, condition="held", mode="global"):
        if c.sync_wait & sr.READ_BIT:
            assert c.errors_by_kind.get("1205 lock wait timeout", 0) == c.probes, c
            assert c.latency_ms["p50"] >= SMALL.causal_read_timeout_s * 1000 * 0.9


def test_session_pinning_is_what_the_tier_says(lab: Lab, result: sr.StudyResult) -> None:
    """HAProxy pins a session to one backend; ProxySQL spreads it (sysown/proxysql#3333). Either
    way the study says which, and whether the session's value reached the serving node."""
    tier = lab.plan.tier
    assert result.pinning["pinned"] is tier.pins_sessions, result.pinning["statement"]
    assert result.pinning["session_value_reached"] is not None
    if tier.pins_sessions:
        for c in cells(result, mode="proxy-session"):
            assert c.setting_reached_backend is True and c.connections_switched == 0
    # a reader with wsrep_desync=ON is out of every Galera-aware proxy's read path
    assert all(result.reader not in c.served_by for c in cells(result, mode="proxy-session", condition="held"))


def test_backup_lock_and_the_read_path(lab: Lab, result: sr.StudyResult) -> None:
    """A reader under FLUSH TABLES WITH READ LOCK alone (as a backup holds it) stays in the read
    path of a tier that serves desynced readers, and serves stale reads at 0 there."""
    backup = cells(result, condition="backup", mode="proxy-session", sync_wait=0)
    assert backup
    served_by_held = any(result.reader in c.served_by for c in backup)
    assert served_by_held is lab.plan.tier.serves_desynced_reader, [c.served_by for c in backup]
    if lab.plan.tier.serves_desynced_reader:
        assert sum(c.stale for c in backup) > 0, "reads on a node falling behind, yet none stale: the probe is blind"


def test_lab_left_as_found(lab: Lab, result: sr.StudyResult) -> None:
    paths = sr.Paths.of(lab)
    for node in paths.nodes:
        assert sr.node_state(paths, node)["wsrep_local_state_comment"] == "Synced"
        conn = sr._admin(paths, node)
        try:
            assert sr._scalar(conn, "SELECT @@global.wsrep_sync_wait") == lab.spec.galera.wsrep_sync_wait
            assert sr.provider_seconds(conn, "repl.causal_read_timeout") == 30.0
        finally:
            conn.close()


def _with_reset(lab: Lab, reset: str) -> Lab:
    """The stale lab with proxy.proxysql_connection_reset = `reset`, proxies restarted on the new file."""
    variant = Lab.create(chaos_spec([("proxy.proxysql_connection_reset", reset)]), lab.stack)
    variant.render()
    for proxy in variant.spec.proxy_names:
        variant.docker.containers.get(variant.spec.container(proxy)).restart(timeout=10)
    variant.up()  # restarts the keepalived sidecars into the new namespaces, waits until healthy
    return variant


def test_proxysql_causal_reads_need_the_connection_reset_fix(lab: Lab) -> None:
    """Guide as written (COM_CHANGE_USER resets): stale reads at 1, causal reads missing.
    With `close`: no stale read, a causal read counted for every read; the cost is shown."""
    if lab.plan.proxy_kind != "proxysql":
        pytest.skip(f"ProxySQL pooling check: this lab runs the {lab.plan.tier.title} tier, which keeps no "
                    "connection pool (run it with a spec with proxy.kind: proxysql)")
    figures = {}
    try:
        for reset in ("change-user", "close"):
            variant = _with_reset(lab, reset)
            res = sr.run_study(variant, GUIDE)
            sr.save(res, variant, plot=False)
            figures[reset] = res.cells[0]
    finally:
        _with_reset(lab, lab.spec.proxy.proxysql_connection_reset)
    guide, fixed = figures["change-user"], figures["close"]
    summary = {k: (c.stale, c.answered, c.causal_reads_total, sum(c.connections_opened.values()), c.latency_ms["p50"])
               for k, c in figures.items()}
    assert guide.stale > 0 and guide.every_read_waited is False, f"the guide's setting did not show the bug: {summary}"
    # With the fix a read never answers stale. A read ProxySQL sends to the backup-locked reader
    # (kept ONLINE, see the backup study) waits for it and times out instead (1205): in one CI run
    # here all 30 reads of the window went there; then nothing was answered, and nothing stale.
    timed_out = set(fixed.errors_by_kind) <= {"1205 lock wait timeout"} and fixed.answered == 0
    assert fixed.stale == 0 and (fixed.every_read_waited is True or timed_out), f"the fix did not hold: {summary}"
