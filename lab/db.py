"""SQL connections to nodes, the VIP and ProxySQL's admin port, with short timeouts.

Every caller (health waits, status, chaos workloads) wants a fresh connection that fails fast
instead of hanging on a paused or cut-off host, so the time-outs live here, in one place.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.cursors

from lab import reach


def connect(host: str, port: int, user: str, password: str, database: str | None = None,
            timeout: float = 3.0, autocommit: bool = True,
            read_timeout: float | None = None) -> pymysql.connections.Connection:
    """A fresh connection; connect/read/write time-outs bound every call made on it (`timeout`,
    or `read_timeout` for reads and writes when given). A lab address is reached the way its
    lab's host reach says (lab/reach.py: directly, or a port on 127.0.0.1).

    Without TLS: the lab configures none, and PyMySQL 1.2 otherwise builds a TLS context for
    every connection (about 45 ms of CPU loading the system's CA store, with the GIL held) and
    negotiates TLS wherever the server offers it (ProxySQL's frontend, MariaDB 11.8). The
    availability probe opens 20 connections a second: that cost made its own connections slow,
    and the dashboard drew the slowness as unavailability."""
    host, port = reach.endpoint(host, port)
    io_timeout = read_timeout or timeout
    return pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           connect_timeout=timeout, read_timeout=io_timeout, write_timeout=io_timeout,
                           autocommit=autocommit, charset="utf8mb4", ssl_disabled=True)


@contextmanager
def session(host: str, port: int, user: str, password: str, database: str | None = None,
            timeout: float = 3.0) -> Iterator[pymysql.connections.Connection]:
    conn = connect(host, port, user, password, database, timeout)
    try:
        yield conn
    finally:
        conn.close()


def query(conn: pymysql.connections.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def status_vars(conn: pymysql.connections.Connection, like: str = "wsrep_%") -> dict[str, str]:
    return {k: str(v) for k, v in query(conn, "SHOW GLOBAL STATUS LIKE %s", (like,))}


def run_script(conn: pymysql.connections.Connection, text: str) -> int:
    """Run a SQL file's statements one by one (no multi-statement flag needed); returns the count."""
    count = 0
    statement: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        statement.append(line)
        if stripped.endswith(";"):
            query(conn, "\n".join(statement))
            statement, count = [], count + 1
    if statement:
        query(conn, "\n".join(statement))
        count += 1
    return count
