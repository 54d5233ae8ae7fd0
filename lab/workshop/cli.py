"""`galera-lab workshop`: guided exercises on the running lab (lab/workshop/session.py).

Wired into lab/cli.py with `workshop_cli.add_parser(sub, _spec_args)`, like chaos_cli and
stale_cli. Errors are one line (lab/cli.py's `main` prints LabError); `check` and `answer`
exit 0 when the step is done and 1 when it is not, so a script can wait on them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from lab.errors import SpecError
from lab.workshop.actions import fault_keys, inject
from lab.workshop.checks import Verdict
from lab.workshop.session import Workshop, render_text

console = Console(highlight=False)

COMMANDS: dict[str, str] = {
    "list": "the exercises and which are done",
    "start": "start an exercise (default: the next one not done): runs its setup",
    "show": "the current step: why, what to watch, what to do (--hint adds the hint)",
    "check": "is the current step done? (exit 0 done, 1 not done); moves on when done",
    "answer": "answer the current step's question; checked against the lab",
    "hint": "the current step's hint",
    "solve": "teacher: run the current step's solution, then check until done",
    "reset": "forget the progress (the lab is left as it is)",
    "fault": "inject a fault of the catalog from the terminal (left in place)",
    "heal": "heal every fault the terminal or the dashboard injected (the lab's fault ledger), then sweep",
}


def add_parser(subparsers: Any, spec_args: Callable[..., None]) -> argparse.ArgumentParser:
    """`workshop SUBCOMMAND` for a student's lab; without a subcommand lab/cli.py runs the
    teacher's room (`--students N`), whose options live on the same parser."""
    p = subparsers.add_parser("workshop", help="guided exercises on a lab (list, start, check, …); "
                              "--students N: a lab per student")
    spec_args(p)
    sub = p.add_subparsers(dest="workshop_command", required=False, parser_class=type(p))
    for name, help_text in COMMANDS.items():
        c = sub.add_parser(name, help=help_text)
        spec_args(c, defaults=False)
        c.set_defaults(func=cmd_workshop)
        if name == "start":
            c.add_argument("exercise", nargs="?", help="exercise id or number (see `workshop list`)")
        if name == "show":
            c.add_argument("--hint", action="store_true", help="also show the hint")
        if name == "answer":
            c.add_argument("text", help="your answer, e.g. node2")
        if name == "solve":
            c.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the check (default 120)")
        if name == "fault":
            c.add_argument("key", choices=fault_keys(), metavar="KEY", help="one of: " + ", ".join(fault_keys()))
    return p


def _workshop(args: argparse.Namespace) -> Workshop:
    from lab.cli import spec_from  # late: lab.cli imports this module
    from lab.runtime import Lab

    lab = Lab.existing(spec_from(args).project)
    return Workshop(lab, say=lambda m: console.print(f"[dim]{escape(m)}[/dim]"))


def _verdict(v: Verdict, ws: Workshop) -> int:
    if v.done:
        console.print(f"[bold green]done[/bold green] {escape(v.reason)}")
        cur = ws.current()
        if cur is None:
            console.print(f"exercise complete ({len(ws.progress.completed)}/{len(ws.exercises)} done); "
                          "`galera-lab workshop start` for the next")
        else:
            console.print(f"next: step {cur[1] + 1} of {len(cur[0].steps)}, {escape(cur[2].title)} "
                          "(`galera-lab workshop show`)")
        return 0
    console.print(f"[bold yellow]not done[/bold yellow] {escape(v.reason)}")
    return 1


def show(ws: Workshop, hint: bool = False) -> None:
    ex, index, step = ws.require_current()
    lab = ws.lab
    body = [escape(render_text(step.explain, lab).strip())]
    if step.action.command:
        body.append(f"\n[bold]do[/bold]  [cyan]{escape(render_text(step.action.command, lab).strip())}[/cyan]")
    if step.action.dashboard:
        body.append(f"[bold]or[/bold]  the dashboard's [cyan]{escape(step.action.dashboard)}[/cyan] button"
                    if step.action.command else
                    f"\n[bold]do[/bold]  the dashboard's [cyan]{escape(step.action.dashboard)}[/cyan] button")
    if step.answer:
        body.append(f"\n[bold]question[/bold]  {escape(step.answer)}  →  galera-lab workshop answer TEXT")
    else:
        body.append("\nthen: galera-lab workshop check")
    if hint:
        body.append(f"\n[bold]hint[/bold]  {escape(render_text(step.hint, lab).strip())}")
    console.print(Panel("\n".join(body), title=f"{escape(ex.title)} — step {index + 1}/{len(ex.steps)}: "
                                               f"{escape(step.title)}", title_align="left"))


def cmd_workshop(args: argparse.Namespace) -> int:
    if getattr(args, "students", None) is not None:
        raise SpecError(f"--students is the teacher's room, not for `workshop {args.workshop_command}`: "
                        f"run the room without a subcommand, or the step with --project <project>-s<i>")
    ws = _workshop(args)
    command = args.workshop_command
    if command == "list":
        t = Table(title=f"exercises ({len(ws.progress.completed)}/{len(ws.exercises)} done)")
        for col in ("#", "id", "title", "steps", "state"):
            t.add_column(col)
        for i, ex in enumerate(ws.exercises, 1):
            state = ("[green]done[/green]" if ex.id in ws.progress.completed else
                     f"[yellow]step {ws.progress.step + 1}[/yellow]" if ex.id == ws.progress.exercise else "")
            t.add_row(str(i), ex.id, escape(ex.title), str(len(ex.steps)), state)
        console.print(t)
        return 0
    if command == "start":
        ex = ws.start(args.exercise)
        console.print(Panel(escape(render_text(ex.goal, ws.lab).strip()), title=f"[bold]{escape(ex.title)}[/bold]",
                            title_align="left"))
        show(ws)
        return 0
    if command == "show":
        show(ws, hint=args.hint)
        return 0
    if command == "hint":
        _, _, step = ws.require_current()
        console.print(f"[bold]hint[/bold] {escape(render_text(step.hint, ws.lab).strip())}")
        return 0
    if command == "check":
        return _verdict(ws.check(), ws)
    if command == "answer":
        return _verdict(ws.answer(args.text), ws)
    if command == "solve":
        return _verdict(ws.solve(args.timeout), ws)
    if command == "reset":
        ws.reset()
        console.print("progress reset")
        return 0
    if command == "fault":
        console.print(escape(inject(ws.ctx(), args.key)))
        ws.save()
        return 0
    if command == "heal":
        from lab.workshop.actions import ACTIONS
        console.print(escape(ACTIONS["heal"].run(ws.ctx(), ACTIONS["heal"].params())))
        return 0
    raise AssertionError(command)
