"""`galera-lab stale-reads`: a thin shell over `chaos.stale_reads.run_study` for a running lab.

Wired into lab/cli.py with `stale_cli.add_parser(sub, _spec_args)`; kept in its own module so
the study's options live next to their handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from chaos import stale_reads

console = Console(highlight=False, width=max(Console().width, 150))  # the table is wide
err_console = Console(stderr=True, highlight=False)


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(x.strip()) for x in text.split(",") if x.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_parser(subparsers: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Register `stale-reads` on the CLI's subparsers; `spec_args` adds the shared spec flags."""
    d = stale_reads.StudyConfig()
    p = subparsers.add_parser("stale-reads", help="stale reads by wsrep_sync_wait against the running lab")
    spec_args(p)
    p.add_argument("--values", type=_csv(int), default=d.values, metavar="0,1,3,7,15",
                   help="wsrep_sync_wait values to measure")
    p.add_argument("--conditions", type=_csv(str), default=d.conditions, metavar="idle,load,churn,held",
                   help="idle; load (concurrent writes); churn (load plus short sessions sharing the proxy's "
                        "pool, as applications do); held (a reader's applier held back on purpose)")
    p.add_argument("--modes", type=_csv(str), default=d.modes, metavar="global,session,proxy-session",
                   help="how the value is applied: SET GLOBAL on every node, SET SESSION on a direct "
                        "reader connection, SET SESSION through the proxy")
    p.add_argument("--seconds", type=float, default=d.seconds, help="probing time per cell")
    p.add_argument("--max-probes", type=int, default=None, help="stop a cell after this many reads")
    p.add_argument("--workers", type=int, default=d.workers, help="write+read connection pairs")
    p.add_argument("--processes", type=int, default=d.processes, help="worker processes")
    p.add_argument("--load-workers", type=int, default=d.load_workers, help="writer threads of load and churn")
    p.add_argument("--churn-workers", type=int, default=d.churn_workers, help="short-session threads of churn")
    p.add_argument("--causal-read-timeout", type=float, default=d.causal_read_timeout_s, dest="causal_read_timeout",
                   help="repl.causal_read_timeout (s) on the held-back reader during the study")
    p.add_argument("--reader", default=None, help="node read directly and held back (default: node2)")
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of the table")
    p.add_argument("--no-save", action="store_true", help="don't write results/<run-id>/ (JSON, report, plot)")
    p.set_defaults(func=cmd_stale_reads)
    return p


def render_table(result: stale_reads.StudyResult) -> Table:
    t = Table(title=f"stale reads by wsrep_sync_wait — lab {result.project}, proxy {result.proxy_kind}, "
                    f"reader {result.reader}")
    for h in stale_reads.TABLE_HEADERS:
        t.add_column(h, justify="left" if h in ("cond", "mode", "errors", "causal reads", "read via", "served by")
                     else "right")
    for c in result.cells:
        row = stale_reads.cell_row(c)
        bad = (c.stale and c.sync_wait & stale_reads.READ_BIT) or c.every_read_waited is False
        t.add_row(*row, style="red" if bad else None)
    return t


def cmd_stale_reads(args: argparse.Namespace) -> int:
    from lab.cli import spec_from  # late: lab.cli imports this module
    from lab.runtime import Lab

    spec = spec_from(args)
    lab = Lab.existing(spec.project)
    try:
        config = stale_reads.StudyConfig(
            values=args.values, conditions=args.conditions, modes=args.modes, seconds=args.seconds,
            max_probes=args.max_probes, workers=args.workers, processes=args.processes,
            load_workers=args.load_workers, churn_workers=args.churn_workers, causal_read_timeout_s=args.causal_read_timeout, reader=args.reader)
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        return 2
    say = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if args.json else (lambda m: console.print(f"[dim]{m}[/dim]"))
    result = stale_reads.run_study(lab, config, say)
    saved = None if args.no_save else stale_reads.save(result, lab)
    problems = stale_reads.stale_read_problems(result)
    if args.json:
        doc = result.to_dict()
        doc["problems"] = problems
        doc["results_file"] = str(saved) if saved else None
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console.print(render_table(result))
        console.print("stale% is of the reads that answered; latency covers every read (failed ones too); "
                      "errors by MySQL code (1205 = lock wait timeout: repl.causal_read_timeout expired); "
                      "causal reads: how far the nodes' wsrep_causal_reads counters moved (all: at least one per "
                      "answered read, the proof that the reads waited)")
        console.print(f"[bold]proxy pinning:[/bold] {result.pinning['statement']}")
        for note in result.notes:
            console.print(f"- {note}")
        for problem in problems:
            console.print(f"[bold red]problem:[/bold red] {problem}")
        if saved:
            console.print(f"results: {saved} (report and plot beside it; `galera-lab report` includes it)")
    return 1 if problems else 0
