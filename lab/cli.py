"""`galera-lab`: each command is a thin shell over one library function the tests also call."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab import chamilo, chaos_cli, consistency_cli, engine, frontend, images, preflight, rotate, stale_cli
from lab.errors import LabError
from lab.grammar import printable
from lab.paths import CHAMILO, stack_dir
from lab.plan import CHOICE_ROLES, image_defs, resolve
from lab.runtime import Lab
from lab.spec import LabSpec, load_spec, parse_override
from lab.workshop import cli as workshop_cli
from lab.workshop import room_cli

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SHORTCUTS = {  # flag → spec path, for the settings people change most
    "project": "project",
    "nodes": "galera.nodes",
    "proxy": "proxy.kind",
    "app": "app.kind",
    "vip": "keepalived.vip",
    "wsrep_sync_wait": "galera.wsrep_sync_wait",
    "http_port": "app.http_port",
}


def _spec_args(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The spec options. `defaults=False` for a subcommand under a parser that has them too
    (`workshop --project X check`): argparse would otherwise overwrite the parent's values with
    the subcommand's defaults."""
    d: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--spec", type=Path, help="topology file (default: ./lab.yaml when it exists)", **d)
    p.add_argument("--profile", help="a shipped profile under profiles/ applied before the spec, e.g. fast", **d)
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="override one spec value, e.g. --set keepalived.advert_interval=2", **(d or {"default": []}))
    p.add_argument("--project", help="compose project name", **d)
    p.add_argument("--nodes", type=int, help="Galera node count", **d)
    p.add_argument("--proxy", choices=["auto", "proxysql", "haproxy"], help="proxy tier", **d)
    p.add_argument("--app", choices=["auto", "chamilo", "probe"], help="application", **d)
    p.add_argument("--vip", help="virtual IP on the frontend network", **d)
    p.add_argument("--wsrep-sync-wait", type=int, dest="wsrep_sync_wait", help="wsrep_sync_wait on every node", **d)
    p.add_argument("--http-port", type=int, dest="http_port", help="host port of the application", **d)


def spec_from(args: argparse.Namespace) -> LabSpec:
    path = args.spec or (Path("lab.yaml") if Path("lab.yaml").exists() else None)
    overrides = [parse_override(o) for o in args.overrides]
    overrides += [(dotted, getattr(args, flag)) for flag, dotted in SHORTCUTS.items() if getattr(args, flag) is not None]
    return load_spec(path, overrides, profile=args.profile)


def _say_factory() -> Any:
    started = time.monotonic()

    def say(msg: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim]  {msg}")
    return say


def cmd_generate(args: argparse.Namespace) -> int:
    lab = Lab.create(spec_from(args))
    changed = lab.render()
    for role, c in zip(CHOICE_ROLES, lab.choices):
        console.print(f"{role}: {c.kind} ({c.reason})")
    console.print(f"rendered {lab.stack} ({len(changed)} file(s) changed)")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    preflight.check(spec)  # before `auto` choices look at images: a missing engine is said first
    lab = Lab.create(spec)
    say = _say_factory()
    try:
        status = lab.up(say=say)
    except KeyboardInterrupt:
        err_console.print("\ninterrupted: `galera-lab up` resumes from here; `galera-lab down` removes what was started")
        return 130
    print_summary(lab, status)
    return 0


def print_summary(lab: Lab, status: Any) -> None:
    spec = lab.spec
    console.print("\n[bold green]lab is healthy[/bold green]")
    rows = [
        ("Galera", ", ".join(f"{n.name} {spec.node_address(n.name)}" for n in status.galera)),
        ("proxies", f"{lab.plan.proxy_kind}: " + ", ".join(f"{p} {spec.proxy_frontend_address(p)}" for p in spec.proxy_names)),
        ("VIP (SQL)", f"{lab.plan.tier.endpoints_text()}, on {status.vip.holder}"),
        *([("forwarder", frontend.published_text(lab.plan))] if lab.plan.bridge else []),
        ("application", f"{lab.plan.app_kind}: {lab.probe.app_url()}"),
        ("connect", _connect_hint(lab)),
        ("secrets", f"{lab.stack / 'secrets.env'} (mode 0600)"),
        ("stop", "make lab-down  (VOLUMES=1 also deletes the data), or galera-lab down [--volumes]"),
    ]
    table = Table(show_header=False, box=None)
    for k, v in rows:
        table.add_row(f"[bold]{k}[/bold]", v)
    console.print(table)


def _connect_hint(lab: Lab) -> str:
    """How a user's client reaches the VIP: directly (macvlan), or through the forwarder (bridge)."""
    spec = lab.spec
    host, port = (frontend.FORWARD_BIND, spec.networks.frontend.forward_port) if lab.plan.bridge else \
        (spec.keepalived.vip, spec.proxy.sql_port)
    return f"mariadb -h {host} -P {port} -u chamilo -p  (password: APP_PASSWORD)"


def _lab_for(args: argparse.Namespace) -> Lab:
    spec = spec_from(args)
    try:
        return Lab.existing(spec.project)
    except LabError:
        return Lab.create(spec)


def cmd_down(args: argparse.Namespace) -> int:
    _lab_for(args).down(volumes=args.volumes, say=console.print)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    lab = Lab.existing(spec.project)
    st = lab.status(details=True)
    if args.json:
        print(json.dumps(st.to_dict(), indent=2))
        return 0 if st.healthy else 1
    t = Table(title=f"lab {st.project}")
    for col in ("part", "state", "detail"):
        t.add_column(col)
    for n in st.galera:
        t.add_row(n.name, "[green]ready[/green]" if n.ready else f"[red]{n.state}[/red]",
                  f"{n.state}, {n.cluster_status}, size {n.cluster_size}"
                  + (f"\n  {escape(n.note)}" if n.note else ""))
    for p in st.proxies:
        backends = _backends_line(p.backends)
        t.add_row(p.name, "[green]ready[/green]" if p.ready else f"[red]{p.container}[/red]",
                  f"{p.kind}{' [bold]VIP[/bold]' if p.holds_vip else ''} {backends}{_details_line(p.details)}")
    v = st.vip
    t.add_row("VIP", "[green]sql ok[/green]" if v.sql_ok else "[red]down[/red]",
              f"{v.address}:{v.port} on {v.holder}, served by {v.served_by or v.error}")
    f = st.forward
    if f is not None:
        t.add_row("forwarder", "[green]sql ok[/green]" if f.sql_ok else "[red]down[/red]",
                  f"{frontend.published_text(lab.plan)}, served by {f.served_by or f.error}")
    a = st.app
    t.add_row("app", "[green]ok[/green]" if a.ok else f"[red]{a.http_status}[/red]", f"{a.kind} {a.url} {a.error or ''}")
    console.print(t)
    console.print(frontend.mode_line(lab.plan, frontend.engine_os()), markup=False)
    return 0 if st.healthy else 1


def _backends_line(backends: list[dict[str, str]]) -> str:
    """`writer node1 (backup node2) · reader node2 · down node3` from a proxy's backend list."""
    roles: dict[str, list[str]] = {}
    for b in backends:
        key = b["role"] if b["status"] == "UP" else "down"
        if b["name"] not in roles.setdefault(key, []):
            roles[key].append(b["name"])
    parts = []
    for role, names in roles.items():
        if role == "writer" and len(names) > 1:  # HAProxy: the first UP server writes, the rest wait
            parts.append(f"writer {names[0]} (backup {' '.join(names[1:])})")
        else:
            parts.append(f"{role} {' '.join(names)}")
    return " · ".join(parts)


def _details_line(details: dict[str, Any]) -> str:
    """ProxySQL's hostgroups and cluster state, as a second line under the proxy."""
    if "error" in details:
        return f"\n  admin: {details['error']}"
    if not details.get("hostgroups") and not details.get("cluster"):
        return ""  # a tier without facts of its own (HAProxy)
    groups = " · ".join(f"{role} [{' '.join(names) or '-'}]" for role, names in details.get("hostgroups", {}).items())
    cluster = details.get("cluster") or {}
    sync = ("cluster in sync" if cluster.get("in_sync") else "[red]cluster NOT in sync[/red]") if cluster else ""
    return f"\n  hostgroups: {groups}" + (f"\n  {sync} ({', '.join(cluster.get('peers', []))})" if sync else "")


def cmd_images(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    plan, choices = resolve(spec)
    defs = image_defs(spec, plan.proxy_kind, plan.app_kind)
    if not args.list_only:
        if plan.app_kind == "chamilo":
            chamilo.prepare_archive(spec, CHAMILO)
        plan.tier.prepare_build()
        images.ensure(defs, _say_factory())
    t = Table(title="images")
    for col in ("role", "tag", "state", "size"):
        t.add_column(col)
    for row in images.listing(defs):
        t.add_row(row["role"], row["tag"], row["state"], row["size"])
    console.print(t)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from lab.dashboard.app import serve

    spec = spec_from(args)
    return serve(spec.project, bind=args.bind, port=args.port, say=console.print)


def cmd_workshop(args: argparse.Namespace) -> int:
    """`workshop` without a subcommand: a room of students' labs (lab/workshop/room_cli.py)."""
    from lab.workshop import room_cli

    return room_cli.run(args, spec_from, console)


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """New passwords for every generated secret; on a running lab applied without stopping it (lab/rotate.py)."""
    lab = Lab.existing(spec_from(args).project)
    try:
        done = rotate.rotate(lab, say=_say_factory())
    except KeyboardInterrupt:
        err_console.print("\ninterrupted: `galera-lab secrets rotate` resumes with the same new values")
        return 130
    where = "on the running lab, which stayed up" if done.online else "in the stack's files (the lab is not running)"
    console.print(f"rotated {len(done.secrets)} secrets {where}: {', '.join(done.secrets)}")
    console.print(f"new values: {lab.stack / 'secrets.env'} (mode 0600)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from chaos.report_cli import report_command

    spec = spec_from(args)
    markdown = report_command(args.results, stack_dir(spec.project))
    console.print(f"report: {markdown}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) like every other refusal."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="galera-lab",
        description="Generate, start and break a MariaDB Galera HA stack for Chamilo on one machine.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {
        "generate": (cmd_generate, "render the stack folder from the spec (nothing starts)"),
        "up": (cmd_up, "build/pull images, start the lab in order, wait until healthy"),
        "down": (cmd_down, "stop and remove the lab's containers, networks and host links"),
        "status": (cmd_status, "health of every part (table, or --json)"),
        "images": (cmd_images, "build missing images offline and list them"),
        "report": (cmd_report, "Markdown + PNG report of a results file (default: the latest run)"),
        "dashboard": (cmd_dashboard, "live web view of a running lab, with a button per fault"),
    }
    for name, (func, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        _spec_args(p)
        p.set_defaults(func=func)
        if name == "down":
            p.add_argument("--volumes", action="store_true", help="also delete the Galera data volumes")
        if name == "status":
            p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "images":
            p.add_argument("--list", dest="list_only", action="store_true", help="only list, build nothing")
        if name == "dashboard":
            p.add_argument("--port", type=int, default=8765, help="local port of the page (default 8765)")
            p.add_argument("--bind", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1: the buttons break the lab, keep it local)")
        if name == "report":
            p.add_argument("results", nargs="?", type=Path, help="results.json or its run folder")
    stale_cli.add_parser(sub, _spec_args)
    consistency_cli.add_parser(sub, _spec_args)
    chaos_cli.add_parser(sub, _spec_args)
    workshop = workshop_cli.add_parser(sub, _spec_args)
    room_cli.add_arguments(workshop)
    workshop.set_defaults(func=cmd_workshop)
    secrets = sub.add_parser("secrets", help="the lab's generated passwords")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True, parser_class=_Parser)
    p = secrets_sub.add_parser("rotate", help="new values for every generated secret, applied to a running "
                                              "lab without stopping it (else to the stack's files)")
    _spec_args(p)
    p.set_defaults(func=cmd_secrets_rotate)
    return parser


def _error(text: str) -> None:
    """An error as the user sees it: plain text (never read as rich markup), never re-wrapped."""
    err_console.print(f"error: {text}", markup=False, soft_wrap=True, style="bold red" if err_console.is_terminal else None)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is a message and an exit code, never a traceback.

    LabError (bad input, a machine or engine problem the message explains) exits 2; the
    engine's own exceptions are worded by lab/engine.py; anything else is a bug of ours, said
    in one line with the way to see its traceback (GALERA_LAB_TRACEBACK=1).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabError as exc:
        _error(str(exc))
        return 2
    except engine.ENGINE_ERRORS as exc:
        _error(engine.describe(exc, f"galera-lab {args.command}"))
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("GALERA_LAB_TRACEBACK"):
            raise
        _error(printable(f"internal error in galera-lab {args.command}: {exc.__class__.__name__}: {exc} "
                         "(a bug: please report it; GALERA_LAB_TRACEBACK=1 shows the traceback)"))
        return 1


if __name__ == "__main__":
    sys.exit(main())
