"""`make bench`: speed, memory, routing, stale-read and failover figures, printed (tests assert
behaviour, not time), for every proxy tier that can run here, side by side from the same run;
and the isolation checker's speed on a generated history (`--only consistency`, no lab).

Runs against its own lab (project `bench-lab`, its own subnets) on the user's topology
(`make bench SPEC=…`), so it never disturbs a user's lab, and writes every figure with the
settings that produced it to `<stack>/results/bench.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import docker

from lab import images
from lab.errors import LabError
from lab.paths import CHAMILO, stack_dir
from lab.plan import image_defs
from lab.runtime import Lab
from lab.tiers import Backend
from lab.isolation import SUITES, isolate, suite_spec
from lab.spec import LabSpec

def bench_spec(extra: list[tuple[str, Any]] | None = None, profile: str | None = None) -> LabSpec:
    """The user's spec (`make bench SPEC=…`) on the bench lab's own project, subnets and ports."""
    return suite_spec("bench", extra, profile=profile)


def remove_images(spec: LabSpec, plan_proxy: str, plan_app: str) -> None:
    """Delete the lab's images and their base images in the current namespace, so the next `up`
    is a true cold start. Never the shared namespace: other labs run from it."""
    if images.namespace() == images.DEFAULT_NAMESPACE:
        raise LabError(f"refusing to delete the shared {images.DEFAULT_NAMESPACE}/* images; "
                       f"a cold start builds in a namespace of its own ({COLD_NAMESPACE})")
    cli = docker.from_env()
    # never a user's own image (proxy.proxysql_image): nothing here could rebuild it
    defs = image_defs(spec, plan_proxy, plan_app)
    bases = sorted({images.base_image(d.debian) for d in defs if d.needs_base})
    tags = [d.tag for d in defs if not d.external] + bases
    for tag in tags:
        if images.image_present(tag, cli):
            cli.images.remove(tag, force=True)


def lab_memory_mib(lab: Lab) -> float:
    """Sum of the lab's containers' memory use (cgroup usage minus page cache), in MiB."""
    total = 0.0
    for c in lab.docker.containers.list(filters={"label": f"galera-lab.project={lab.spec.project}"}):
        stats = c.stats(stream=False)
        mem = stats.get("memory_stats", {})
        cache = mem.get("stats", {}).get("cache", 0) or mem.get("stats", {}).get("inactive_file", 0)
        total += (mem.get("usage", 0) - cache) / 2**20
    return total


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


WARM_UP_TARGET_S = 15.0
COLD_UP_TARGET_S = 90.0
"""Issue 11's targets for a lab of the probe app: a warm `up` (images present, no data) to
all-healthy, and a cold one with every image built first."""

COLD_NAMESPACE = "galera-lab-bench-cold"
"""Where the cold start builds its images: deleting and rebuilding the shared galera-lab/* ones
would pull them from under every other lab and suite running on this machine. A new namespace
means a new base image (mmdebstrap or debootstrap, imported afresh), so no layer of the builder's cache fits
either: as cold as a fresh clone."""


def cold_up(spec: LabSpec) -> float:
    """Seconds of a cold `up`: every image of the lab built (in COLD_NAMESPACE), then started
    until healthy. The lab and its cold images are removed afterwards."""
    with images.namespace_set(COLD_NAMESPACE):
        lab = Lab.create(spec, stack_dir(spec.project))
        lab.down(volumes=True)
        remove_images(lab.spec, lab.plan.proxy_kind, lab.plan.app_kind)
        try:
            return timed(lambda: lab.up(say=progress))
        finally:
            lab.down(volumes=True)
            remove_images(lab.spec, lab.plan.proxy_kind, lab.plan.app_kind)


def lab_figures(lab: Lab, cold: bool, app_lab: Lab | None = None) -> dict[str, Any]:
    """Cold and warm `up` to all-healthy of `lab` (the probe app's, which the targets are for),
    then, when the user's application is another one (Chamilo, whose first start installs it),
    a warm `up` of `app_lab` too, and the healthy lab's memory; leaves the last lab up."""
    out: dict[str, Any] = {"app": lab.plan.app_kind, "warm_target_s": WARM_UP_TARGET_S,
                           "cold_target_s": COLD_UP_TARGET_S}
    lab.down(volumes=True)
    if cold:
        out["cold_up_s"] = cold_up(lab.spec)
    out["warm_up_s"] = timed(lab.up)
    if app_lab is not None and app_lab.plan.app_kind != lab.plan.app_kind:
        lab.down(volumes=True)
        out["app_warm_up"] = {"app": app_lab.plan.app_kind, "s": timed(app_lab.up)}
        lab = app_lab
    time.sleep(5)  # memory after the first health checks and connections, not mid-start
    out["memory_mib"] = lab_memory_mib(lab)
    return out


def chamilo_archive_present(spec: LabSpec) -> bool:
    """Whether the Chamilo release archive (never committed) is here."""
    version = spec.app.chamilo_version
    return any((CHAMILO / "archive" / f"chamilo-{version}{ext}").is_file() for ext in (".tar.gz", ".zip"))


def chamilo_build_figures(spec: LabSpec) -> dict[str, Any]:
    """Build time of the Chamilo image from its Dockerfile's first step (the Debian base image kept).

    Why a figure: on fuse-overlayfs every build step costs a diff of the whole filesystem, so a
    harmless-looking Dockerfile edit can triple the build (issue 9: 7.5 min before, target 2
    min). Each step's duration is kept (the release layer's two phases too), so a regression
    names its step.
    Needs the release archive, which is never committed: skipped, saying so, without it.
    """
    version = spec.app.chamilo_version
    if not chamilo_archive_present(spec):
        return {"skipped": f"no chamilo/archive/chamilo-{version}.tar.gz (see chamilo/archive/README.md)"}
    image = images.chamilo_image(spec)
    cli = docker.from_env()
    marks: list[tuple[float, str]] = []
    started = time.monotonic()
    # no cache: apt runs again too (deleting the tags would not do: an older build's layers may stay)
    images.build(image, lambda msg: marks.append((time.monotonic(), msg.rsplit(": ", 1)[-1])), cli, nocache=True)
    ended = time.monotonic()
    ends = [t for t, _ in marks[1:]] + [ended]
    steps = {name: round(end - t, 1) for (t, name), end in zip(marks, ends)}
    return {"image": image.tag, "build_s": ended - started, "steps_s": steps, "target_s": 120}


def print_chamilo_build(figures: dict[str, Any]) -> None:
    if "skipped" in figures:
        print(f"Chamilo image build:    skipped: {figures['skipped']}")
        return
    slowest = sorted(figures["steps_s"].items(), key=lambda kv: -kv[1])[:3]
    print(f"Chamilo image build:    {figures['build_s']:7.1f} s   (target <= {figures['target_s']} s; slowest: "
          + ", ".join(f"{name} {s:.0f} s" for name, s in slowest) + ")")


ROOM_PROJECT = "bench-room"
ROOM_RANGE = "198.19.192.0/18"  # apart from a teacher's room (198.19.0.0/17) and the room test's range
ROOM_PORT_BASE = 22000


def room_figures(n: int, app: str, parallel: int) -> dict[str, Any]:
    """Start time of a room of `n` students' labs (`parallel` at a time, as `galera-lab workshop
    --students` does), each lab's memory once healthy, and how many labs fit this machine.

    Why MemAvailable before the start: it is what the room's check compares with; the labs'
    own use is `docker stats` per project (lab_memory_mib), and the drop of MemAvailable while
    the room is up is kept beside it as a cross-check (it also counts page cache and the kernel's
    share). The room is removed at the end, volumes too."""
    from lab.isolation import user_profile, user_spec_path
    from lab.spec import load_spec
    from lab.workshop import room as rooms

    teacher = load_spec(user_spec_path(), [("project", ROOM_PROJECT), ("app.kind", app)], profile=user_profile())
    room = rooms.Room(ROOM_PROJECT, rooms.plan_room(ROOM_PROJECT, n, ROOM_RANGE, ROOM_PORT_BASE),
                      overview_port=ROOM_PORT_BASE, app_kind=app)
    rooms.down_room(room, teacher, volumes=True, say=lambda _m: None)  # what an interrupted run left
    before = rooms.mem_available_mib()
    rooms.check_memory(n, app, before)
    out: dict[str, Any] = {"students": n, "app": app, "parallel": parallel, "mem_available_before_mib": before}
    try:
        began = time.monotonic()
        each = rooms.start_room(room, teacher, parallel=parallel, say=progress)
        out["start_all_s"] = time.monotonic() - began
        out["start_each_s"] = each
        time.sleep(5)  # memory after the first health checks and connections, not mid-start
        out["memory_mib"] = {s.project: lab_memory_mib(Lab.existing(s.project)) for s in room.students}
        out["mem_available_up_mib"] = rooms.mem_available_mib()
    finally:
        rooms.down_room(room, teacher, volumes=True, say=lambda _m: None)
    per_lab = statistics.mean(out["memory_mib"].values())
    out["memory_per_lab_mib"] = per_lab
    out["mem_available_drop_per_lab_mib"] = (before - out["mem_available_up_mib"]) / n
    out["labs_fit"] = rooms.labs_that_fit(before, per_lab)
    out["reserve_mib"] = rooms.RESERVE_MIB
    return out


def print_room(r: dict[str, Any]) -> None:
    from lab.workshop.room import MAX_STUDENTS

    if "skipped" in r or "failed" in r:
        print(f"room ({r['app']}):  {'skipped' if 'skipped' in r else 'FAILED'}: {r.get('skipped') or r['failed']}")
        return
    each = sorted(r["start_each_s"].values())
    mem = sorted(r["memory_mib"].values())
    print(f"room, {r['app']} app, {r['students']} labs, {r['parallel']} at a time: all healthy in "
          f"{r['start_all_s']:.1f} s (each {each[0]:.1f}-{each[-1]:.1f} s)")
    print(f"  memory per lab (docker stats): {r['memory_per_lab_mib']:.0f} MiB ({mem[0]:.0f}-{mem[-1]:.0f}); "
          f"MemAvailable drop per lab {r['mem_available_drop_per_lab_mib']:.0f} MiB")
    print(f"  labs that fit this machine's memory: {r['labs_fit']} (MemAvailable {r['mem_available_before_mib']:.0f} MiB "
          f"before the room, {r['reserve_mib']} MiB kept for the system; memory only: a room takes at most "
          f"{MAX_STUDENTS} labs, and the CPU decides how many stay responsive)")


def stale_figures(lab: Lab) -> dict[str, Any]:
    """Probe throughput through the VIP at wsrep_sync_wait=0, and a full default study's time."""
    from chaos import stale_reads

    return {"throughput": stale_reads.throughput_bench(lab, seconds=10),
            "full_study": stale_reads.full_study_time(lab)}


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Seconds until `condition` holds (polled), or None at the timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return time.monotonic() - t0
        time.sleep(interval)
    return None


def _settle(lab: Lab) -> None:
    """Healthy and settled: every proxy sees every backend UP (HAProxy's failback to node1,
    which cuts the sessions on the backup writer, is over), so repetitions start alike."""
    lab.up()
    tier = lab.plan.tier
    lab.wait(lambda: all(tier.settled([Backend(**b) for b in lab.probe.proxy(p).backends]) for p in lab.spec.proxy_names),
             "every proxy settled (every node back in its role)", time.monotonic() + 120, say=progress)


def _one_proxy_failover(lab: Lab, how: str) -> dict[str, float | None]:
    """Kill or stop the VIP holder under the availability probe; VIP move and SQL downtime."""
    from chaos.checkers import downtime
    from chaos.faults import Kill, Stop, resolve_target
    from chaos.history import History
    from chaos.workloads import AvailabilityProbe, running

    _settle(lab)
    status = lab.status()
    holder, standby = resolve_target("vip-holder", status), resolve_target("standby-proxy", status)
    history = History()
    probe = AvailabilityProbe(lab, history, duration=60)
    with running(probe):
        _wait(lambda: sum(op.outcome == "ok" for op in history.ops("connect")) >= 10, 20)
        fault = Kill(lab, holder) if how == "sigkill" else Stop(lab, holder)
        fault.apply()
        t0 = fault.event.start
        moved = _wait(lambda: lab.probe.vip_holder_of(standby), 30)
        vip_move = None if moved is None else time.time() - t0  # from the fault, not from kill's return
        _wait(lambda: sum(op.outcome == "ok" and op.start > t0 for op in history.ops("connect")) >= 10, 30)
    fault.heal()
    down = downtime(history.ops("connect"), window_start=t0 - 1)
    return {"vip_move_s": vip_move, "sql_downtime_s": down.longest_ms / 1000}


def routing_figures(lab: Lab, seconds: float = 10.0) -> dict[str, Any]:
    """Which node served each statement class for `seconds` of the routing probe (healthy lab)."""
    from chaos.checkers import check_routing
    from chaos.faults import readers_of, writer_of
    from chaos.history import History
    from chaos.workloads import Endpoint, RoutingProbe, ensure_tables, running

    _settle(lab)
    ensure_tables(Endpoint.vip(lab))
    status = lab.status()
    writer, readers = writer_of(status), set(readers_of(status))
    history = History()
    with running(RoutingProbe(lab, history, duration=seconds + 30)):
        time.sleep(seconds)
    verdict = check_routing(history.ops("route"), lab.plan.proxy_kind, writer, readers)
    latency = {cls: summary([(op.end - op.start) * 1000 for op in history.ops("route")
                             if op.value == cls and op.outcome == "ok"]) for cls in lab.plan.tier.route_classes}
    return {"writer": writer, "readers": sorted(readers), "served": verdict.served, "unserved": verdict.unserved,
            "violations": len(verdict.violations), "counts": verdict.counts, "latency_ms": latency}


def _one_writer_kill(lab: Lab) -> dict[str, float | None]:
    """SIGKILL the writer under a writer workload; longest gap between acknowledged writes."""
    from chaos.faults import Kill, resolve_target
    from chaos.history import History
    from chaos.scenario import longest_ack_gap
    from chaos.workloads import Endpoint, Writer, ensure_tables, running

    _settle(lab)
    ensure_tables(Endpoint.vip(lab))
    writer_node = resolve_target("writer", lab.status())
    history = History()
    writer = Writer(lab, history, duration=120)
    with running(writer):
        _wait(lambda: sum(op.outcome == "ok" for op in history.ops("write")) >= 10, 20)
        fault = Kill(lab, writer_node)
        fault.apply()
        t0 = fault.event.start
        _wait(lambda: sum(op.outcome == "ok" and op.start > t0 for op in history.ops("write")) >= 20, 90)
    fault.heal()
    return {"write_downtime_s": longest_ack_gap(history.ops("write"), t0)}


def failover_figures(lab: Lab, reps: int) -> dict[str, Any]:
    """Each fault `reps` times on the running lab: min, median and max of each figure."""
    runs: dict[str, list[dict[str, float | None]]] = {
        "proxy_sigkill": [_one_proxy_failover(lab, "sigkill") for _ in range(reps)],
        "proxy_sigterm": [_one_proxy_failover(lab, "sigterm") for _ in range(reps)],
        "writer_kill": [_one_writer_kill(lab) for _ in range(reps)],
    }
    out: dict[str, Any] = {"advert_interval": lab.spec.keepalived.advert_interval,
                           "vrrp_version": lab.spec.keepalived.vrrp_version,
                           "vip_deadline_s": lab.spec.vip_failover_deadline_s()}
    for fault, samples in runs.items():
        keys = samples[0].keys()
        out[fault] = {k: summary([v for s in samples if (v := s[k]) is not None]) for k in keys}
    return out


def print_failover(figures: dict[str, Any]) -> None:
    for profile, f in figures.items():
        target = 3 * f["advert_interval"] + 0.5
        print(f"== failover, {profile} profile (VRRPv{f['vrrp_version']}, advert {f['advert_interval']} s; "
              f"VIP-move target 3 x advert + 0.5 = {target:.2f} s)")
        for fault, metrics in f.items():
            if not isinstance(metrics, dict):
                continue
            for metric, st in metrics.items():
                if st.get("n"):
                    print(f"  {fault:14s} {metric:17s} min {st['min']:6.2f}  median {st['median']:6.2f}  "
                          f"max {st['max']:6.2f} s  (n={st['n']})")


def _verdict(value: float, target: float) -> str:
    return f"target <= {target:.0f} s: {'met' if value <= target else 'MISSED'}"


def print_figures(figures: dict[str, Any]) -> None:
    app = figures.get("app", "probe")
    if "cold_up_s" in figures:
        print(f"cold up, {app} app (images built): {figures['cold_up_s']:7.1f} s   "
              f"({_verdict(figures['cold_up_s'], figures.get('cold_target_s', COLD_UP_TARGET_S))})")
    if "warm_up_s" in figures:
        print(f"warm up, {app} app (images present): {figures['warm_up_s']:5.1f} s   "
              f"({_verdict(figures['warm_up_s'], figures.get('warm_target_s', WARM_UP_TARGET_S))})")
    if "app_warm_up" in figures:
        other = figures["app_warm_up"]
        print(f"warm up, {other['app']} app:    {other['s']:7.1f} s   (no target: its first start installs it)")
    if "memory_mib" in figures:
        print(f"memory once healthy:    {figures['memory_mib']:7.0f} MiB (target <= 1536 MiB)")


def print_routing(r: dict[str, Any]) -> None:
    print(f"routing: writer {r['writer']}, readers {', '.join(r['readers'])}; {r['served']} statements served, "
          f"{r['violations']} misrouted")
    for cls, nodes in r["counts"].items():
        lat = r["latency_ms"].get(cls, {})
        print(f"  {cls:22s} {' '.join(f'{n}:{c}' for n, c in nodes.items()):30s} "
              f"median {lat.get('median', 0):5.1f} ms (fresh connection each)")


def print_stale(stale: dict[str, Any]) -> None:
    tp = stale["throughput"]
    print(f"write-then-read pairs through the VIP (wsrep_sync_wait=0): {tp['pairs_per_s']:.0f}/s "
          f"(target >= 1000; {tp['workers']} workers in {tp['processes']} processes, "
          f"read p99 {tp['latency_ms']['p99']:.1f} ms)")
    fs = stale["full_study"]
    print(f"full default stale-read study: {fs['seconds']:.0f} s ({fs['cells']} cells, {fs['probes']} probes)")
    for row in fs.get("stale_at_1", []):
        print(f"  wsrep_sync_wait=1 {row['cell']:22s} stale {row['stale']:5d} of {row['answered']:6d}, "
              f"causal reads {row['causal_reads']:6d}, read p50 {row['p50_ms']} ms")


def side_by_side(tiers: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """One row per figure, one column per tier (what the README table shows)."""
    def get(fig: dict[str, Any], *path: str) -> Any:
        for key in path:
            fig = fig.get(key, {}) if isinstance(fig, dict) else {}
        return fig if fig != {} else None

    def fmt(value: Any, unit: str = "") -> str:
        return "–" if value is None else (f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}")
    rows = [
        ("warm up to healthy", ("lab", "warm_up_s"), " s"),
        ("memory once healthy", ("lab", "memory_mib"), " MiB"),
        ("misrouted statements", ("routing", "violations"), ""),
        ("pairs/s at sync_wait=0", ("stale", "throughput", "pairs_per_s"), ""),
        ("VIP move, proxy SIGKILL (median)", ("failover", "default", "proxy_sigkill", "vip_move_s", "median"), " s"),
        ("SQL down, proxy SIGKILL (median)", ("failover", "default", "proxy_sigkill", "sql_downtime_s", "median"), " s"),
        ("SQL down, proxy SIGTERM (median)", ("failover", "default", "proxy_sigterm", "sql_downtime_s", "median"), " s"),
        ("writes paused, writer kill (median)", ("failover", "default", "writer_kill", "write_downtime_s", "median"), " s"),
        ("SQL down, proxy SIGKILL, fast (median)", ("failover", "fast", "proxy_sigkill", "sql_downtime_s", "median"), " s"),
        ("writes paused, writer kill, fast (median)", ("failover", "fast", "writer_kill", "write_downtime_s", "median"), " s"),
    ]
    return [(name, [fmt(get(t, *path), unit) for t in tiers.values()]) for name, path, unit in rows]


def print_side_by_side(tiers: dict[str, dict[str, Any]]) -> None:
    print("== side by side: " + " | ".join(tiers))
    for name, values in side_by_side(tiers):
        print(f"  {name:42s} " + " | ".join(f"{v:>10s}" for v in values))


def available_tiers(spec: LabSpec) -> list[str]:
    """Tiers a lab of this spec can run here (the user's spec says where ProxySQL comes from)."""
    from lab.tiers import AUTO_ORDER, tier

    return [k for k in reversed(AUTO_ORDER) if tier(k, spec).availability(images.image_present).ok]


def progress(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_tier(kind: str, args: argparse.Namespace, sections: set[str], cold: bool,
               results: dict[str, Any], save: Callable[[], None]) -> None:
    """Every section on one proxy tier; figures land in results["tiers"][kind] as they come."""
    out = results["tiers"].setdefault(kind, {})
    spec = bench_spec([("proxy.kind", kind)])
    lab = Lab.create(spec, stack_dir(spec.project))
    print(f"=== tier {kind} ({lab.plan.images['proxy']})")
    try:
        if "lab" in sections:
            progress(f"{kind}: " + (f"cold up (every image built, in {COLD_NAMESPACE}/*), " if cold else "") + "warm up, memory")
            probe_lab = Lab.create(bench_spec([("proxy.kind", kind), ("app.kind", "probe")]), stack_dir(spec.project))
            out["lab"] = lab_figures(probe_lab, cold=cold, app_lab=lab)
            save()
            print_figures(out["lab"])
        else:
            lab.up()
        if "routing" in sections:
            progress(f"{kind}: routing, 10 s of the routing probe")
            out["routing"] = routing_figures(lab)
            save()
            print_routing(out["routing"])
        if "stale" in sections:
            progress(f"{kind}: stale reads: probe throughput (10 s), then a full default study (about 4 min)")
            out["stale"] = stale_figures(lab)
            save()
            print_stale(out["stale"])
        if "failover" in sections:
            progress(f"{kind}: failover, {args.reps} x proxy SIGKILL, proxy SIGTERM, writer kill (default profile)")
            out["failover"] = {"default": failover_figures(lab, args.reps)}
            save()
            print_failover({"default": out["failover"]["default"]})
            lab.down(volumes=True)
            progress(f"{kind}: failover, the same on the fast profile")
            lab = Lab.create(bench_spec([("proxy.kind", kind)], profile="fast"), stack_dir(spec.project))
            lab.up()
            out["failover"]["fast"] = failover_figures(lab, args.reps)
            save()
            print_failover({"fast": out["failover"]["fast"]})
    finally:
        lab.down(volumes=True)


def add_isolation_args(parser: argparse.ArgumentParser) -> None:
    """Where the bench's lab runs (default bench-lab, 198.18.40.0/23), so two benches can share
    a machine."""
    parser.add_argument("--project", default=None, help="compose project of the bench's lab (default bench-lab)")
    parser.add_argument("--subnet", default=None, help="a /23 for its two networks (default 198.18.40.0/23)")
    parser.add_argument("--router-id", type=int, default=None, dest="router_id", help="its VRRP router id")
    parser.add_argument("--http-port", type=int, default=None, dest="http_port", help="its application's host port")


CONSISTENCY_TXNS = 100_000
CONSISTENCY_TARGET_S = 10.0
"""The isolation checker on a long run's history (100,000 list-append transactions, as a chaos
run of a few minutes records) must answer in seconds, or nobody runs it after every run."""


def consistency_figures(n: int = CONSISTENCY_TXNS, seed: int = 1) -> dict[str, Any]:
    """Seconds of the list-append checker (chaos/consistency/) on a generated valid history of
    `n` transactions, under serializable and under strict-serializable (realtime edges too).

    Pure Python, no lab: the history comes from chaos/consistency/synthetic.py. The verdicts
    are kept beside the times: the history is valid by construction, so a verdict that is not ok
    is a checker bug, and its time would mean nothing."""
    from chaos.consistency import check
    from chaos.consistency.synthetic import list_append_history

    began = time.monotonic()
    ops = list_append_history(n, seed=seed)
    out: dict[str, Any] = {"txns": n, "generate_s": time.monotonic() - began, "target_s": CONSISTENCY_TARGET_S}
    for model in ("serializable", "strict-serializable"):
        began = time.monotonic()
        verdict = check(ops, model=model)
        out[model] = {"s": time.monotonic() - began, "ok": verdict.ok, "edges": verdict.edges,
                      "anomalies": verdict.counts}
    return out


def print_consistency(c: dict[str, Any]) -> None:
    for model in ("serializable", "strict-serializable"):
        m = c[model]
        print(f"consistency checker, {c['txns']} list-append txns, {model:19s} {m['s']:6.2f} s   "
              f"({_verdict(m['s'], c['target_s'])}; verdict {'ok' if m['ok'] else 'NOT OK: ' + str(m['anomalies'])}, "
              f"{sum(m['edges'].values())} edges)")


def bench_chaos(results: dict[str, Any], save: Callable[[], None]) -> None:
    """The chaos section (lab/bench_chaos.py): smoke and catalog on the fast profile, timed."""
    from lab import bench_chaos

    progress("chaos: lab up on the fast profile, idle watch, then the smoke selection and the whole catalog")
    folder = stack_dir(SUITES["bench"].project) / "results"
    results["chaos"] = bench_chaos.chaos_figures(folder, log=progress)
    save()
    for line in bench_chaos.verdict_lines(results["chaos"]):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    parser.add_argument("--no-cold", action="store_true",
                        help=f"skip the cold start (it builds every image afresh in {COLD_NAMESPACE}/*, then deletes them)")
    parser.add_argument("--only", choices=["lab", "chamilo", "routing", "stale", "failover", "room", "chaos",
                                           "consistency"],
                        action="append", help="run only these sections (default: all)")
    parser.add_argument("--room-students", type=int, default=4, help="labs of the room section (default 4)")
    parser.add_argument("--room-parallel", type=int, default=2, help="labs the room starts at once (default 2)")
    parser.add_argument("--room-apps", type=lambda t: [x for x in t.split(",") if x], default=["probe", "chamilo"],
                        help="applications of the room section (default probe,chamilo: Chamilo when its archive is here)")
    parser.add_argument("--tiers", type=lambda t: [x for x in t.split(",") if x], default=None,
                        help="proxy tiers, e.g. haproxy,proxysql (default: every tier that can run here)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each fault (default 5)")
    add_isolation_args(parser)
    args = parser.parse_args(argv)
    unknown = [a for a in args.room_apps if a not in ("probe", "chamilo")]
    if unknown:
        parser.error(f"--room-apps: {', '.join(map(repr, unknown))} refused: the applications are probe, chamilo")
    isolate("bench", args.project, args.subnet, args.router_id, args.http_port)
    sections = set(args.only or ["lab", "chamilo", "routing", "stale", "failover", "room", "chaos", "consistency"])
    tier_sections = sections - {"chamilo", "room", "chaos", "consistency"}
    base = bench_spec()
    # asking the engine which tiers can run only when a section needs a lab on one
    tiers = (args.tiers or available_tiers(base)) if tier_sections else []
    results: dict[str, Any] = {"started": time.time(), "spec": base.model_dump(mode="json"), "tiers": {}}
    out = stack_dir(base.project) / "results" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a later failure keeps what was measured
        out.write_text(json.dumps(results, indent=2) + "\n")

    if "consistency" in sections:
        progress(f"consistency: the list-append checker on {CONSISTENCY_TXNS} generated transactions (no lab)")
        results["consistency"] = consistency_figures()
        save()
        print_consistency(results["consistency"])
    if "chamilo" in sections:
        progress("chamilo: image build without cache (the Debian base image kept)")
        results["chamilo_build"] = chamilo_build_figures(bench_spec([("app.kind", "chamilo")]))
        save()
        print_chamilo_build(results["chamilo_build"])
    if "room" in sections:
        results["room"] = {}
        for app in args.room_apps:
            if app == "chamilo" and not chamilo_archive_present(base):
                results["room"][app] = {"app": app, "skipped": f"no chamilo/archive/chamilo-"
                                        f"{base.app.chamilo_version}.tar.gz (see chamilo/archive/README.md)"}
            else:
                progress(f"room: {args.room_students} labs of the {app} app, {args.room_parallel} at a time")
                try:
                    results["room"][app] = room_figures(args.room_students, app, args.room_parallel)
                except LabError as exc:  # one lab that did not start: said, and the other sections go on
                    results["room"][app] = {"app": app, "failed": str(exc)}
            save()
            print_room(results["room"][app])
    for index, kind in enumerate(tiers):
        bench_tier(kind, args, tier_sections, cold=index == 0 and not args.no_cold, results=results, save=save)
    if len(tiers) > 1 and tier_sections:
        print_side_by_side(results["tiers"])
    if "chaos" in sections:
        bench_chaos(results, save)
    print(f"figures saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
