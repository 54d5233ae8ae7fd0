"""What a suite's transactional clients do and what their histories are held to.

Why a policy object: the chaos scenarios, the plugin's fixture and `galera-lab consistency` all
run list-append clients beside a fault; the user chooses once (pytest options `--txn-*`, or the
GALERA_LAB_TXN_* variables `make chaos` passes on) how those clients transact and which
consistency model the checker holds them to, and every scenario reads the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chaos.transactional.client import TxnSettings

SCENARIO_CLIENTS = 2
SCENARIO_INTERVAL_S = 0.05
"""Beside a fault the clients stay light (two, a transaction every 50 ms each, about 40 a second
here): enough writes and reads to interleave, little enough load on two cores that the
scenario's own deadlines measure the fault, not the workload."""


@dataclass(frozen=True)
class ConsistencyPolicy:
    settings: TxnSettings
    model: str = "serializable"

    @classmethod
    def from_options(cls, isolation: str, locking_reads: bool, route: str, model: str) -> ConsistencyPolicy:
        return cls(TxnSettings(route=route, isolation=isolation, locking_reads=locking_reads,  # type: ignore[arg-type]
                               clients=SCENARIO_CLIENTS, interval=SCENARIO_INTERVAL_S), model)

    def with_seed(self, seed: int) -> ConsistencyPolicy:
        return replace(self, settings=replace(self.settings, seed=seed))

    def describe(self) -> dict[str, Any]:
        return {**self.settings.describe(), "model": self.model}
