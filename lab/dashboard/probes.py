"""The one client the chaos workloads lack for the dashboard: a light stale-read probe.

Why not chaos/stale_reads.py: that study runs worker processes for a fixed budget and a
table of results; the dashboard needs a gentle, endless stream of single read-after-write
checks recorded in the same `History` as the Writer and the AvailabilityProbe. It reuses
chaos/workloads.py's thread shape (`Workload`) and endpoints, and the study's idea: write a
fresh token on the write path, read it at once on the read path, count the read stale when
it returns an older token.
"""

from __future__ import annotations

import time
from typing import Any

import pymysql

from chaos.history import History
from chaos.workloads import Endpoint, Workload, error_text
from lab import db

STALE_TABLE = "lab.dash_stale"
STALE_DDL = (
    "CREATE DATABASE IF NOT EXISTS lab",
    f"CREATE TABLE IF NOT EXISTS {STALE_TABLE} (id INT PRIMARY KEY, token BIGINT NOT NULL) ENGINE=InnoDB",
    f"INSERT IGNORE INTO {STALE_TABLE} (id, token) VALUES (1, 0)",
)


class StaleReadProbe(Workload):
    """Every `interval` s: UPDATE the token through the tier's write port, SELECT it through its
    read port; one "read" op per read, value {"stale": bool}, node unknown (the probe reads no
    `@@` variable, which would change how ProxySQL pools the connection)."""

    def __init__(self, lab: Any, history: History, duration: float = float("inf"), interval: float = 0.2,
                 timeout: float = 2.0, process: str = "stale"):
        super().__init__(history, process, duration)
        tier = lab.plan.tier
        self.write_ep = Endpoint.vip(lab, tier.write_port)
        self.read_ep = Endpoint.vip(lab, tier.read_port)
        self.interval = interval
        self.timeout = timeout
        self.wconn: pymysql.connections.Connection | None = None
        self.rconn: pymysql.connections.Connection | None = None
        self.token = time.time_ns()

    def body(self) -> None:
        while not self.stopping:
            began = time.monotonic()
            self.token += 1
            if self._write(self.token):
                self._read(self.token)
            self.sleep(self.interval - (time.monotonic() - began))

    def _write(self, token: int) -> bool:
        try:
            if self.wconn is None:
                self.wconn = self.write_ep.connect(timeout=self.timeout)
                for ddl in STALE_DDL:
                    db.query(self.wconn, ddl)
            db.query(self.wconn, f"UPDATE {STALE_TABLE} SET token = %s WHERE id = 1", (token,))
            return True
        except (pymysql.MySQLError, OSError):
            self.wconn = _close(self.wconn)
            self.sleep(0.2)
            return False

    def _read(self, token: int) -> None:
        start = time.time()
        try:
            if self.rconn is None:
                self.rconn = self.read_ep.connect(timeout=self.timeout)
            rows = db.query(self.rconn, f"SELECT token FROM {STALE_TABLE} WHERE id = 1")
            got = int(rows[0][0]) if rows else None
            self.record("read", None, {"stale": got != token}, start, "ok")
        except (pymysql.MySQLError, OSError) as exc:
            self.record("read", None, {"stale": None}, start, "fail", error=error_text(exc))
            self.rconn = _close(self.rconn)

    def cleanup(self) -> None:
        self.wconn = _close(self.wconn)
        self.rconn = _close(self.rconn)


def _close(conn: pymysql.connections.Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - already broken
            pass
    return None
