"""Faults on a Galera node's data and state transfers: a slowed state transfer, a lost datadir,
a size-limited datadir, and the filler that leaves it no room.

They are `chaos.faults.Fault`s (registered, always healed, one `FaultEvent` each). Why a module
of their own: the container and network faults need only a Docker client, these need the whole
lab too (its compose project and rendering, the node's volume), and chaos/faults.py is long.

    >>> with TmpfsDatadir(lab, "node3", "320M"), FillDatadir(lab, "node3", 4 << 20):  # doctest: +SKIP
    ...     ...                                   # node3 has 4 MiB left on its datadir
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import docker.errors

from chaos.faults import Fault, FaultError, TcFault, _run, nsenter, revivable
from lab.spec import LabSpec

if TYPE_CHECKING:
    from lab.runtime import Lab

SST_PORT = 4444
"""Where a joiner receives a state transfer (rsync's daemon, mariabackup's socat): the lab keeps
MariaDB's default `wsrep_sst_receive_address` port. IST (4568) and replication (4567) are other ports."""

DATADIR = "/var/lib/mysql"
FILLER = f"{DATADIR}/lab-filler.bin"


# ---- pure: command lines and their output --------------------------------------------------


def port_limit_commands(iface: str, port: int, kbit: int) -> list[list[str]]:
    """tc commands that limit the TCP/UDP traffic leaving `iface` for destination `port` to
    `kbit` kbit/s (an htb class picked by a u32 filter); everything else keeps the default class,
    unlimited. Undone by `port_limit_undo`."""
    if kbit <= 0:
        raise ValueError(f"rate must be positive, got {kbit} kbit/s")
    dev = ["dev", iface]
    return [["tc", "qdisc", "add", *dev, "root", "handle", "1:", "htb", "default", "1"],
            ["tc", "class", "add", *dev, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit",
             "quantum", "60000"],
            ["tc", "class", "add", *dev, "parent", "1:", "classid", "1:2", "htb", "rate", f"{kbit}kbit",
             "ceil", f"{kbit}kbit"],
            ["tc", "filter", "add", *dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
             "match", "ip", "dport", str(port), "0xffff", "flowid", "1:2"]]


def port_limit_undo(iface: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", iface, "root"]


def class_sent_bytes(tc_output: str) -> int:
    """Bytes a class sent, from `tc -s class show dev IF classid 1:2` ("Sent 123 bytes 4 pkt")."""
    found = re.search(r"Sent (\d+) bytes", tc_output)
    if found is None:
        raise ValueError(f"no 'Sent N bytes' in tc output: {tc_output[:200]!r}")
    return int(found.group(1))


def filler_size(avail_bytes: int, leave_bytes: int) -> int:
    """How big a filler file must be so that `leave_bytes` stay free (0 when less is free already)."""
    return max(0, avail_bytes - leave_bytes)


def exec_output(container: Any, cmd: list[str], attempts: int = 3) -> str:
    """A command's output in a running container, asked again when it comes back empty: under
    load an exec's output sometimes arrives empty (its attach raced the command's exit; seen
    here with `df` on a loaded host). FaultError naming the command when it fails."""
    for _ in range(attempts):
        code, out = container.exec_run(cmd)
        text = out.decode(errors="replace").strip()
        if code != 0:
            raise FaultError(f"{' '.join(cmd)} in {container.name} failed ({code}): {text}")
        if text:
            return text
        time.sleep(0.5)
    raise FaultError(f"{' '.join(cmd)} in {container.name} printed nothing, {attempts} times")


# ---- faults ------------------------------------------------------------------------------------


@revivable
class SlowStateTransfer(TcFault):
    """A donor's state transfers slowed to `kbit` kbit/s (tc htb on its backend interface, only
    traffic to the joiners' SST port), so that a transfer of even a small datadir lasts long
    enough to be cut deterministically. Heal: the qdisc removed (gone anyway if the node was
    restarted: a new network namespace)."""

    name = "slow-sst"

    def __init__(self, lab: Any, target: str, kbit: int = 16000):
        super().__init__(lab, target, kbit=kbit, port=SST_PORT)

    def _commands(self, iface: str) -> list[list[str]]:
        return port_limit_commands(iface, self.detail["port"], self.detail["kbit"])

    def _undo(self, iface: str) -> list[str]:
        return port_limit_undo(iface)

    def sent_bytes(self) -> int:
        """Bytes of state transfer the donor has sent through the limit so far."""
        if self._pid is None or self._iface is None:
            return 0
        out = _run(nsenter(self._pid, "tc", "-s", "class", "show", "dev", self._iface, "classid", "1:2"))
        return class_sent_bytes(out.stdout)


def datadir_volume(container: Any) -> str:
    """The name of the volume a node's container has on its datadir (named or tmpfs)."""
    for mount in container.attrs.get("Mounts", []):
        if mount.get("Destination") == DATADIR and mount.get("Name"):
            return str(mount["Name"])
    raise FaultError(f"{container.name} has no volume on {DATADIR}")


class WipeDatadir(Fault):
    """A node loses its data: stopped (gracefully), its datadir emptied by a one-off container on
    its volume, started again, so that it needs a full SST to rejoin. Heal: it runs (a joiner
    whose transfer failed exits; starting it asks for a new SST)."""

    name = "wipe-datadir"

    def __init__(self, lab: Lab, target: str):
        super().__init__(lab, target)

    def _inject(self) -> None:
        c = self.container()
        c.stop(timeout=60)
        volume = datadir_volume(c)
        self.lab.docker.containers.run(
            self.lab.plan.images["mariadb"], ["find", DATADIR, "-mindepth", "1", "-delete"], remove=True,
            network_mode="none", volumes={volume: {"bind": DATADIR, "mode": "rw"}})
        self.detail["volume"] = volume
        c.start()

    def _restore(self) -> None:
        self.start_again()


def with_tmpfs_datadir(spec: LabSpec, node: str, size: str | None) -> LabSpec:
    """The spec with `node`'s datadir on a tmpfs of `size` (None: back on its named volume)."""
    data = spec.model_dump(mode="json")
    tmpfs = dict(data["galera"].get("datadir_tmpfs") or {})
    if size is None:
        tmpfs.pop(node, None)
    else:
        tmpfs[node] = size
    data["galera"]["datadir_tmpfs"] = tmpfs
    return LabSpec.model_validate(data)


class TmpfsDatadir(Fault):
    """A node moved onto a datadir of `size` (a tmpfs volume, `galera.datadir_tmpfs`): the stack
    is rendered with it and the node's container re-created, empty, so it rejoins by SST; a keeper
    container holds the volume mounted, so that the datadir outlives a crash of the node as a
    disk's would. Heal: the stack rendered as the lab's spec says, the node re-created on its own
    volume (it rejoins by IST or SST from where it left), keeper and tmpfs volume removed.

    Why a tmpfs: the lab's volumes sit on the host's disk (tens of GB free, shared with every
    other lab), which no scenario may fill; a tmpfs volume has a hard size, needs nothing set up on
    the host, and disappears with its volume. Why the keeper: Docker unmounts a volume when the
    last container using it stops, and a tmpfs forgets everything then."""

    name = "small-datadir"

    def __init__(self, lab: Lab, target: str, size: str = "320M"):
        super().__init__(lab, target, size=size)
        self.variant: Lab | None = None

    @property
    def volume(self) -> str:
        return f"{self.lab.spec.project}-{self.target}-tmpfs"

    @property
    def keeper(self) -> str:
        return f"{self.lab.spec.project}-{self.target}-tmpfs-keeper"

    def _switch(self, spec: LabSpec) -> Lab:
        """The lab rendered with `spec` and the node's container brought in line with it."""
        from dataclasses import replace

        from lab.runtime import Lab

        lab = Lab(replace(self.lab.plan, spec=spec), self.lab.stack)
        lab.render()
        lab.compose.compose.up(services=[self.target], detach=True, quiet=True)
        return lab

    def _inject(self) -> None:
        self.variant = self._switch(with_tmpfs_datadir(self.lab.spec, self.target, self.detail["size"]))
        self.lab.docker.containers.run(
            self.lab.plan.images["mariadb"], ["sleep", "infinity"], name=self.keeper, detach=True, init=True,
            network_mode="none", volumes={self.volume: {"bind": DATADIR, "mode": "rw"}},
            labels={"galera-lab.project": self.lab.spec.project, "galera-lab.role": "tmpfs-keeper"})

    def _restore(self) -> None:
        self._switch(self.lab.spec)
        self.variant = None
        try:
            self.lab.docker.containers.get(self.keeper).remove(force=True)
        except docker.errors.NotFound:
            pass
        for _ in range(20):  # a removed container releases its volume a moment later
            try:
                self.lab.docker.volumes.get(self.volume).remove()
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                time.sleep(0.5)
        raise FaultError(f"volume {self.volume} is still in use")


@revivable
class FillDatadir(Fault):
    """The node's datadir filesystem filled by a filler file (fallocate) until `leave_bytes` stay
    free. Heal: the filler removed (`_restore`), the node left as it is."""

    name = "fill-datadir"

    def __init__(self, lab: Any, target: str, leave_bytes: int = 4 << 20):
        super().__init__(lab, target, leave_bytes=leave_bytes)

    def _df(self) -> tuple[int, int]:
        """(size, available) bytes of the datadir's filesystem, read in the container."""
        size, avail = exec_output(self.container(), ["df", "-B1", "--output=size,avail", DATADIR]).split()[-2:]
        return int(size), int(avail)

    def _inject(self) -> None:
        size, avail = self._df()
        filler = filler_size(avail, self.detail["leave_bytes"])
        code, out = self.container().exec_run(["fallocate", "-l", str(filler), FILLER])
        if code != 0:
            raise FaultError(f"fallocate in {self.target} failed: {out.decode(errors='replace').strip()}")
        self.detail.update(filesystem_bytes=size, filler_bytes=filler, free_bytes=self._df()[1])

    def _restore(self) -> None:
        """The filler removed: in the running node, or (a node the full disk stopped) by a
        one-off container on its datadir volume, as an operator frees space before a restart."""
        try:
            c = self.container()
        except FaultError:
            return
        c.reload()
        if c.status == "running":
            c.exec_run(["rm", "-f", FILLER])
            return
        self.lab.docker.containers.run(
            self.lab.plan.images["mariadb"], ["rm", "-f", FILLER], remove=True, network_mode="none",
            volumes={datadir_volume(c): {"bind": DATADIR, "mode": "rw"}})
