"""The chaos figures a baseline comparison judges: each one a measure where larger is worse.

Why a declared list (and why here, below both the spec and the chaos suite): the spec's
`regression` section may only name figures the comparison knows, so a typo in a lab.yaml is
refused in one line instead of silently comparing nothing; and a figure's unit decides how the
absolute tolerance (given in milliseconds) applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One comparable figure: its unit (`ms` or `s`) and what it measures, for the report."""

    unit: str
    what: str

    @property
    def per_ms(self) -> float:
        """How many of this figure's units make one millisecond (the absolute tolerance's unit)."""
        return 1.0 if self.unit == "ms" else 0.001


REGRESSION_FIGURES: dict[str, Figure] = {
    "downtime_ms": Figure("ms", "the scenario's headline outage (its main probe's longest failing window)"),
    "connect_downtime_ms": Figure("ms", "new SQL connections through the VIP refused"),
    "write_downtime_ms": Figure("ms", "longest span without an acknowledged write"),
    "http_downtime_ms": Figure("ms", "the application's page failing"),
    "chamilo_session_downtime_ms": Figure("ms", "Chamilo's logged-in page failing"),
    "chamilo_write_downtime_ms": Figure("ms", "Chamilo's calendar write failing"),
    "vip_move_s": Figure("s", "the VIP on the standby proxy after the holder's loss"),
    "write_resume_s": Figure("s", "first write acknowledged by the new writer after the writer's loss"),
    "evict_s": Figure("s", "the survivors evicting a lost node"),
    "proxies_out_s": Figure("s", "the proxies taking a cut-off node out"),
    "rejoin_s": Figure("s", "a healed node Synced in the full cluster again"),
    "recovery_s": Figure("s", "`galera-lab up` recovering a cluster whose every node crashed"),
    "up_recovery_s": Figure("s", "`galera-lab up` bringing back a node whose state transfer or disk failed"),
    "ist_synced_s": Figure("s", "a node started after a short outage Synced again by IST"),
    "sst_synced_s": Figure("s", "a node started after an outage past gcache.size Synced again by SST"),
    "recovery_ist_s": Figure("s", "a node stopped by a full disk Synced again by IST once space is back"),
    "streamed_write_p99_ms": Figure("ms", "the writer's p99 latency while a bulk UPDATE streams in fragments"),
}
"""Figure name (a key of a scenario's `figures` in results.json) → unit and meaning."""
