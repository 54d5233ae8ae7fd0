"""The Chamilo release as one image layer, made on the host and added with `docker load`.

Why not a Dockerfile step: on fuse-overlayfs (these machines' storage driver) a `RUN` that
unpacks the 66,000-file tree costs about 110 s, most of it the commit, where the driver diffs
the whole filesystem through FUSE and re-packs it. `docker load` only unpacks the new layer and
skips the layers the engine already has, so the same tree costs about 25 s here: about 10 s
to unpack the release on the host's own disk and write it as a layer tar (owned by www-data,
no chown pass), about 15 s for the engine to apply it.

`add_release_layer` takes the image the Dockerfile built (Apache, PHP, the lab's files: the
`-base` tag) and the release that `fetch-chamilo` checks and unpacks (local archive or
download, sha256), and loads `<base> + release` under the final tag, with the base's config
(labels, so the rebuild-detection hash carries over).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

from lab.errors import LabError
from lab.paths import CHAMILO
from lab.spec import LabSpec

if TYPE_CHECKING:
    import docker

    from lab.images import ImageDef

ROOT = "var/www/chamilo"  # where the Dockerfile's Apache site and the entrypoint expect it
GET_LOCK_LIST = "usr/share/lab-app/get_lock-users.txt"
WWW_DATA = 33  # uid and gid of www-data in Debian
GET_LOCK = re.compile(rb"get_lock\(", re.I)


def release_archive(spec: LabSpec, archive_dir: Path = CHAMILO / "archive") -> Path | None:
    """The Chamilo release the build would use without a download: `app.chamilo_archive`, or
    `chamilo-<version>.tar.gz`/`.zip` in chamilo/archive/. Why `auto` asks: a user who put the
    release there wants Chamilo, and the build then needs no internet."""
    if spec.app.chamilo_archive is not None:
        named = spec.app.chamilo_archive.expanduser()
        return named if named.is_file() else None
    version = spec.app.chamilo_version
    return next((p for p in (archive_dir / f"chamilo-{version}.tar.gz", archive_dir / f"chamilo-{version}.zip")
                 if p.is_file()), None)


class _Hashing(io.RawIOBase):
    """A write-only file that hashes what passes through (the layer's DiffID)."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sha.update(data)
        return self.out.write(data)


def _as_www_data(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """www-data owns the tree (Chamilo writes into it); nobody else may write (archives made with umask 002 say 775)."""
    info.uid = info.gid = WWW_DATA
    info.uname = info.gname = "www-data"
    info.mode &= ~0o022
    return info


def get_lock_callers(tree: Path) -> list[str]:
    """PHP files of the release that call GET_LOCK (node-local on Galera: chamilo/README.md)."""
    found = []
    for top in ("main", "src", "plugin", "vendor"):
        for path in sorted((tree / top).rglob("*.php")):
            try:
                if GET_LOCK.search(path.read_bytes()):
                    found.append(str(path.relative_to(tree)))
            except OSError:
                continue
    return found


def write_layer(tree: Path, out: IO[bytes]) -> str:
    """The release at /var/www/chamilo, owned by www-data, as an uncompressed layer tar; returns its DiffID."""
    hashing = _Hashing(out)
    callers = get_lock_callers(tree)
    listing = ("\n".join(callers) + "\n" if callers else "").encode()
    with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as layer:  # type: ignore[arg-type]
        layer.add(tree, arcname=ROOT, filter=_as_www_data)
        info = tarfile.TarInfo(GET_LOCK_LIST)
        info.size, info.mode = len(listing), 0o644
        layer.addfile(info, io.BytesIO(listing))
    return "sha256:" + hashing.sha.hexdigest()


def _load(base: dict, layer_file: Path, diff_id: str, tag: str) -> None:
    """`docker load` of base + one layer: the engine reads only the layer it lacks."""
    config = {
        "architecture": base["Architecture"], "os": base["Os"], "config": base["Config"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "rootfs": {"type": "layers", "diff_ids": base["RootFS"]["Layers"] + [diff_id]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layers = [f"present-{i}/layer.tar" for i in range(len(base["RootFS"]["Layers"]))] + ["release/layer.tar"]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": layers}]).encode()
    proc = subprocess.Popen(["docker", "load", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    with tarfile.open(fileobj=proc.stdin, mode="w|") as bundle:
        for name, data in (("manifest.json", manifest), (config_name, config_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        bundle.add(layer_file, arcname="release/layer.tar")
    proc.stdin.close()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.wait() != 0:
        raise LabError(f"docker load of {tag} failed: {err.strip()}")


def add_release_layer(image: ImageDef, base_tag: str, fetch: Path, progress: Callable[[str], None],
                      cli: docker.DockerClient) -> None:
    """Unpack the release with `fetch` (fetch-chamilo) on the host, then load base + release as `image.tag`."""
    version = image.buildargs["CHAMILO_VERSION"]
    with tempfile.TemporaryDirectory(prefix="galera-lab-chamilo-", dir="/var/tmp") as tmp:
        tree, layer_file = Path(tmp) / "tree", Path(tmp) / "layer.tar"
        progress(f"{image.tag}: release layer: unpacking Chamilo {version} on the host")
        proc = subprocess.run(["bash", str(fetch), version, image.buildargs.get("CHAMILO_SHA256", ""),
                               str(image.context / "archive"), str(tree)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(proc.stderr.strip() or proc.stdout.strip())
        for line in proc.stdout.splitlines():  # which archive, its sha256 (verified or to pin)
            progress(f"{image.tag}: {line}")
        progress(f"{image.tag}: release layer: writing the layer tar")
        with layer_file.open("wb") as out:
            diff_id = write_layer(tree, out)
        progress(f"{image.tag}: release layer: docker load ({layer_file.stat().st_size / 2**20:.0f} MiB)")
        _load(cli.api.inspect_image(base_tag), layer_file, diff_id, image.tag)
