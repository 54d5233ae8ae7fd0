"""`make bench`: the speed, memory and failover figures, printed (tests assert behaviour, not time).

Runs against its own lab (project `bench-lab`, its own subnets) so it never disturbs a user's
lab, and writes every figure with the settings that produced it to `<stack>/results/bench.json`.
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
from lab.paths import CHAMILO, stack_dir
from lab.plan import image_defs
from lab.runtime import Lab
from lab.spec import LabSpec, load_spec

BENCH_OVERRIDES: list[tuple[str, Any]] = [
    ("project", "bench-lab"),
    ("networks.backend.subnet", "198.18.40.0/24"),
    ("networks.frontend.subnet", "198.18.41.0/24"),
    ("keepalived.vip", "198.18.41.100"),
    ("keepalived.virtual_router_id", 91),
    ("app.http_port", 18090),
    ("proxy.kind", "haproxy"),
    ("app.kind", "probe"),
]


def bench_spec(extra: list[tuple[str, Any]] | None = None, profile: str | None = None) -> LabSpec:
    return load_spec(None, BENCH_OVERRIDES + (extra or []), profile=profile)


def remove_images(spec: LabSpec, plan_proxy: str, plan_app: str) -> None:
    """Delete the lab's images and the base image, so the next `up` is a true cold start."""
    cli = docker.from_env()
    tags = [d.tag for d in image_defs(spec, plan_proxy, plan_app)] + [images.BASE_IMAGE]
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


def lab_figures(lab: Lab, cold: bool) -> dict[str, Any]:
    """Cold and warm `up` to all-healthy, and the healthy lab's memory; leaves the lab up."""
    out: dict[str, Any] = {}
    lab.down(volumes=True)
    if cold:
        remove_images(lab.spec, lab.plan.proxy_kind, lab.plan.app_kind)
        out["cold_up_s"] = timed(lab.up)
        lab.down(volumes=True)
    out["warm_up_s"] = timed(lab.up)
    time.sleep(5)  # memory after the first health checks and connections, not mid-start
    out["memory_mib"] = lab_memory_mib(lab)
    return out


def chamilo_build_figures(spec: LabSpec) -> dict[str, Any]:
    """Build time of the Chamilo image from its Dockerfile's first step (the Debian base image kept).

    Why a figure: on fuse-overlayfs every build step costs a diff of the whole filesystem, so a
    harmless-looking Dockerfile edit can triple the build (issue 9: 7.5 min before, target 2
    min). Each step's duration is kept (the release layer's two phases too), so a regression
    names its step.
    Needs the release archive, which is never committed: skipped, saying so, without it.
    """
    version = spec.app.chamilo_version
    if not any((CHAMILO / "archive" / f"chamilo-{version}{ext}").is_file() for ext in (".tar.gz", ".zip")):
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
    lab.wait(lambda: all(b["status"] == "UP" for p in lab.spec.proxy_names for b in lab.probe.proxy(p).backends),
             "every backend UP on every proxy", time.monotonic() + 120, say=progress)


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


def print_figures(results: dict[str, Any]) -> None:
    figures = results.get("lab", {})
    if "cold_up_s" in figures:
        print(f"cold up (no images):    {figures['cold_up_s']:7.1f} s")
    if "warm_up_s" in figures:
        print(f"warm up (images built): {figures['warm_up_s']:7.1f} s   (target <= 60 s)")
        print(f"memory once healthy:    {figures['memory_mib']:7.0f} MiB (target <= 1536 MiB)")


def print_stale(stale: dict[str, Any]) -> None:
    tp = stale["throughput"]
    print(f"write-then-read pairs through the VIP (wsrep_sync_wait=0): {tp['pairs_per_s']:.0f}/s "
          f"(target >= 1000; {tp['workers']} workers in {tp['processes']} processes, "
          f"read p99 {tp['latency_ms']['p99']:.1f} ms)")
    fs = stale["full_study"]
    print(f"full default stale-read study: {fs['seconds']:.0f} s ({fs['cells']} cells, {fs['probes']} probes)")


def progress(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold start (it deletes and rebuilds the images)")
    parser.add_argument("--only", choices=["lab", "chamilo", "stale", "failover"], action="append",
                        help="run only these sections (default: all)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each fault (default 5)")
    args = parser.parse_args(argv)
    sections = set(args.only or ["lab", "chamilo", "stale", "failover"])
    spec = bench_spec()
    lab = Lab.create(spec, stack_dir(spec.project))
    results: dict[str, Any] = {"started": time.time(), "spec": spec.model_dump(mode="json")}
    out = stack_dir(spec.project) / "results" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a later failure keeps what was measured
        out.write_text(json.dumps(results, indent=2) + "\n")

    try:
        if "lab" in sections:
            progress("lab: cold up (images deleted first), warm up, memory" if not args.no_cold else "lab: warm up, memory")
            results["lab"] = lab_figures(lab, cold=not args.no_cold)
            save()
            print_figures(results)
        if "chamilo" in sections:
            progress("chamilo: image build without cache (the Debian base image kept)")
            results["chamilo_build"] = chamilo_build_figures(bench_spec([("app.kind", "chamilo")]))
            save()
            print_chamilo_build(results["chamilo_build"])
        if sections & {"stale", "failover"} and "lab" not in sections:
            lab.up()
        if "stale" in sections:
            progress("stale reads: probe throughput (10 s), then a full default study (about 3 min)")
            results["stale"] = stale_figures(lab)
            save()
            print_stale(results["stale"])
        if "failover" in sections:
            progress(f"failover: {args.reps} x proxy SIGKILL, proxy SIGTERM, writer kill (default profile)")
            results["failover"] = {"default": failover_figures(lab, args.reps)}
            save()
            print_failover({"default": results["failover"]["default"]})
            lab.down(volumes=True)
            progress("failover: the same on the fast profile")
            lab = Lab.create(bench_spec(profile="fast"), stack_dir(spec.project))
            lab.up()
            results["failover"]["fast"] = failover_figures(lab, args.reps)
            save()
            print_failover({"fast": results["failover"]["fast"]})
    finally:
        lab.down(volumes=True)
    print(f"figures saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
