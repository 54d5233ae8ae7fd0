"""`galera-lab consistency`: a thin shell over `chaos.findings.run_study` for a running lab.

Wired into lab/cli.py like `stale-reads` (lab/stale_cli.py), whose option helpers it shares.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chaos import findings
from lab.stale_cli import _csv

console = Console(highlight=False, width=max(Console().width, 160))
err_console = Console(stderr=True, highlight=False)


def add_parser(subparsers: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Register `consistency` on the CLI's subparsers; `spec_args` adds the shared spec flags."""
    d = findings.StudyConfig()
    p = subparsers.add_parser("consistency", help="Jepsen's 2026 Galera findings (lost updates, stale reads, "
                                                  "lost commits on crashes) tried on the running lab")
    spec_args(p)
    p.add_argument("--parts", type=_csv(str), default=d.parts, metavar=",".join(findings.PARTS),
                   help="p4: lost updates on a healthy cluster by isolation level; stale: stale reads by "
                        "wsrep_sync_wait; crash: every node killed, by innodb_flush_log_at_trx_commit; "
                        "crash-partition: crashes and a partition at flush 1 (the last two restart the lab)")
    p.add_argument("--routes", type=_csv(str), default=d.routes, metavar="vip,nodes",
                   help="clients through the VIP (one writer) and/or straight to every node (multi-writer)")
    p.add_argument("--seconds", type=float, default=d.seconds, help="seconds of traffic per run")
    p.add_argument("--stale-seconds", type=float, default=d.stale_seconds,
                   help="seconds of each stale-read row (Jepsen saw them every few minutes)")
    p.add_argument("--runs", type=int, default=d.runs, help="runs per healthy-cluster row")
    p.add_argument("--clients", type=int, default=d.clients, help="concurrent clients of the healthy rows")
    p.add_argument("--flush-values", type=_csv(int), default=d.flush_values, metavar="0,1,2",
                   help="innodb_flush_log_at_trx_commit values the crash rows try")
    p.add_argument("--crash-runs", type=int, default=d.crash_runs, help="crashes per flush value")
    p.add_argument("--partition-runs", type=int, default=d.partition_runs, help="runs of the crash-partition row")
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of the table")
    p.add_argument("--no-save", action="store_true", help="don't write results/findings-<time>/")
    p.set_defaults(func=cmd_consistency)
    return p


def render_table(study: findings.Study) -> Table:
    t = Table(title=f"Jepsen's Galera findings on lab {study.project} ({study.tier}, MariaDB "
                    f"{study.versions.get('mariadb', '?')})")
    for h in findings.TABLE_HEADERS:
        t.add_column(h)
    for row, cells in zip(study.rows, findings.table_rows(study), strict=True):
        t.add_row(*cells, style="red" if row.verdict == "reproduced" else None)
    return t


def cmd_consistency(args: argparse.Namespace) -> int:
    from lab.cli import spec_from  # late: lab.cli imports this module
    from lab.runtime import Lab

    spec = spec_from(args)
    lab = Lab.existing(spec.project)
    try:
        config = findings.StudyConfig(parts=args.parts, routes=args.routes, seconds=args.seconds,
                                      stale_seconds=args.stale_seconds, runs=args.runs,
                                      clients=args.clients, flush_values=args.flush_values,
                                      crash_runs=args.crash_runs, partition_runs=args.partition_runs)
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        return 2
    status = lab.status()
    if not status.healthy:
        err_console.print(f"[bold red]error:[/bold red] lab {spec.project} is not healthy "
                          f"({', '.join(status.unhealthy_parts())}): run `galera-lab up` first")
        return 2
    out = err_console if args.json else console
    study = findings.run_study(lab, config, lambda m: out.print(f"[dim]{m}[/dim]"))
    command = "galera-lab consistency " + shlex.join(sys.argv[2:]) if len(sys.argv) > 2 else "galera-lab consistency"
    saved = None
    if not args.no_save:
        folder = Path(lab.stack) / "results" / time.strftime("findings-%Y%m%d-%H%M%S", time.localtime(study.started))
        saved = findings.save(study, folder, command)
    problems = findings.problems(study)
    if args.json:
        json.dump({**study.to_dict(), "problems": problems, "results_file": str(saved) if saved else None},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console.print(render_table(study))
        for part, reference in findings.REFERENCES.items():
            if any(row.part == part for row in study.rows):
                console.print(f"- {part}: {reference}")
        for problem in problems:
            console.print(f"[bold red]problem:[/bold red] a cure that did not cure: {problem}")
        if saved:
            console.print(f"results: {saved} (findings.md beside it)")
    return 1 if problems else 0
