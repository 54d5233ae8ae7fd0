"""`make bench`: the speed, memory and failover figures, printed (tests assert behaviour, not time).

Runs against its own lab (project `bench-lab`, its own subnets) so it never disturbs a user's
lab, and writes every figure with the settings that produced it to `<stack>/results/bench.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from lab import images
from lab.paths import stack_dir
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


def bench_spec(extra: list[tuple[str, Any]] | None = None) -> LabSpec:
    return load_spec(None, BENCH_OVERRIDES + (extra or []))


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
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def lab_figures(cold: bool) -> dict[str, Any]:
    """Cold and warm `up` to all-healthy, and the healthy lab's memory."""
    spec = bench_spec()
    lab = Lab.create(spec, stack_dir(spec.project))
    out: dict[str, Any] = {}
    lab.down(volumes=True)
    if cold:
        remove_images(spec, lab.plan.proxy_kind, lab.plan.app_kind)
        out["cold_up_s"] = timed(lab.up)
        lab.down(volumes=True)
    out["warm_up_s"] = timed(lab.up)
    time.sleep(5)  # let the health checks and first connections settle before reading memory
    out["memory_mib"] = lab_memory_mib(lab)
    lab.down(volumes=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold start (it deletes and rebuilds the images)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"started": time.time(), "spec": bench_spec().model_dump(mode="json")}
    print("== lab: time to all-healthy and memory (targets: warm <= 60 s, memory <= 1536 MiB)")
    figures = lab_figures(cold=not args.no_cold)
    results["lab"] = figures
    if "cold_up_s" in figures:
        print(f"cold up (no images):   {figures['cold_up_s']:7.1f} s")
    print(f"warm up (images built): {figures['warm_up_s']:7.1f} s")
    print(f"memory once healthy:    {figures['memory_mib']:7.0f} MiB")
    out = stack_dir("bench-lab") / "results" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
