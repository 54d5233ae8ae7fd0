"""The bench's side-by-side table of proxy tiers (pure: figures in, rows out)."""

from __future__ import annotations

from lab.bench import side_by_side


def test_side_by_side_has_a_column_per_tier_and_dashes_for_what_was_not_measured() -> None:
    tiers = {
        "haproxy": {"lab": {"warm_up_s": 24.2, "memory_mib": 366.0}, "routing": {"violations": 0},
                    "failover": {"default": {"proxy_sigkill": {"vip_move_s": {"median": 2.94}}}}},
        "proxysql": {"routing": {"violations": 0}},
    }
    rows = dict(side_by_side(tiers))
    assert rows["warm up to healthy"] == ["24.20 s", "–"]
    assert rows["misrouted statements"] == ["0", "0"]
    assert rows["VIP move, proxy SIGKILL (median)"] == ["2.94 s", "–"]
    assert all(len(values) == 2 for values in rows.values())
