"""Images the lab runs: built offline from Debian packages, or pulled/built from official images.

Each image is built from a context folder under compose/ or chamilo/ and labelled with a hash of
that folder, so an edited entrypoint or Dockerfile triggers a rebuild and an unchanged one never
does. Builds use the engine's classic builder through the Docker SDK: it needs no buildx plugin,
which machines without a registry often lack.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import IO
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from lab import chamilo_layer
from lab.errors import LabError
from lab.paths import CHAMILO, IMAGES
from lab.spec import LabSpec
from lab.versions import APP_DEBIAN

NAMESPACE_ENV = "GALERA_LAB_IMAGE_NAMESPACE"
DEFAULT_NAMESPACE = "galera-lab"
HASH_LABEL = "galera-lab.context-hash"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageDef:
    """One image: its tag, where it builds from, and build arguments."""

    role: str
    tag: str
    context: Path
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str] = field(default_factory=dict)
    needs_base: bool = True
    debian: str = APP_DEBIAN  # the Debian suite of the base image it builds FROM (when needs_base)
    offline: bool = True  # False: the build downloads from outside Debian's mirror
    exclude: tuple[str, ...] = ()  # top-level context entries the build ignores (.dockerignore)
    include_only: tuple[str, ...] = ()  # when set, only these top-level entries count for the hash
    external: bool = False  # brought by the user (a local tag): never built, must be present
    missing_hint: str = ""  # for an external image: how to get it

    def _counts(self, rel: Path) -> bool:
        top = rel.parts[0]
        return top not in self.exclude and (not self.include_only or top in self.include_only)

    # the Dockerfile sets the hash label itself (ARG LAB_CONTEXT_HASH) instead of the build API,
    # which would add it as one more step (each costs a full-filesystem diff on fuse-overlayfs)
    label_in_dockerfile: bool = False
    # Chamilo: the Dockerfile builds this tag, and the release is added on top as one loaded
    # layer under `tag` (lab/chamilo_layer.py says why)
    base_tag: str = ""

    def context_hash(self) -> str:
        """Hash of every file in the context and of the build arguments."""
        h = hashlib.sha256()
        for p in sorted(self.context.rglob("*")):
            if p.is_file() and self._counts(p.relative_to(self.context)):
                h.update(str(p.relative_to(self.context)).encode())
                h.update(p.read_bytes())
        h.update(repr(sorted(self.buildargs.items())).encode())
        h.update(self.dockerfile.encode())
        return h.hexdigest()[:16]


def namespace() -> str:
    """The repository prefix of every image the lab builds: `galera-lab`, or another one from
    GALERA_LAB_IMAGE_NAMESPACE.

    Why: a cold start (the bench's) deletes and rebuilds images; in its own namespace it does so
    without pulling the images from under the labs and suites running on the shared ones, and a
    CI job can keep its images apart the same way."""
    raw = os.environ.get(NAMESPACE_ENV, "").strip() or DEFAULT_NAMESPACE
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", raw) or len(raw) > 64:
        raise LabError(f"{NAMESPACE_ENV}={raw!r} refused: an image namespace is lowercase letters and digits, "
                       "separated by single '.', '_' or '-' (at most 64 characters), e.g. galera-lab-ci")
    return raw


@contextmanager
def namespace_set(name: str) -> Iterator[None]:
    """Images in namespace `name` for the duration (the bench's cold start builds and deletes its
    own, never the shared ones)."""
    old = os.environ.get(NAMESPACE_ENV)
    os.environ[NAMESPACE_ENV] = name
    try:
        namespace()  # refuse a bad name here, not at the first tag
        yield
    finally:
        if old is None:
            os.environ.pop(NAMESPACE_ENV, None)
        else:
            os.environ[NAMESPACE_ENV] = old


def tag(name: str) -> str:
    """An image of the lab in the current namespace, e.g. tag("haproxy:2.6-bookworm")."""
    return f"{namespace()}/{name}"


def base_image(debian: str = APP_DEBIAN) -> str:
    """The Debian base an offline image builds FROM: `debian:<suite>`, one per release in use."""
    return tag(f"debian:{debian}")


def _safe_tag(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)


def mariadb_image(spec: LabSpec) -> ImageDef:
    """The Galera image of the spec's MariaDB series: `mariadb:<version>-<suite>` built on that
    suite's base, or on the official image; the build checks the series it got (MARIADB_SERIES)."""
    ctx = IMAGES / "galera"
    release = spec.galera.release
    if spec.galera.source == "official":
        ref = spec.galera.official_ref
        return ImageDef("mariadb", tag(f"mariadb:{_safe_tag(ref)}-official"), ctx, "Dockerfile.official",
                        {"MARIADB_IMAGE": ref, "MARIADB_SERIES": release.version}, needs_base=False, offline=False)
    return ImageDef("mariadb", tag(f"mariadb:{release.version}-{release.debian}"), ctx,
                    buildargs={"BASE_IMAGE": base_image(release.debian), "MARIADB_SERIES": release.version},
                    debian=release.debian)


def haproxy_image() -> ImageDef:
    return ImageDef("proxy", tag("haproxy:2.6-bookworm"), IMAGES / "haproxy", buildargs={"BASE_IMAGE": base_image()})


def keepalived_image() -> ImageDef:
    return ImageDef("keepalived", tag("keepalived:2.2-bookworm"), IMAGES / "keepalived",
                    buildargs={"BASE_IMAGE": base_image()})


def probe_image() -> ImageDef:
    return ImageDef("app", tag("probe-app:latest"), CHAMILO / "probe", buildargs={"BASE_IMAGE": base_image()})


def chamilo_image(spec: LabSpec) -> ImageDef:
    return ImageDef("app", tag(f"chamilo:{spec.app.chamilo_version}"), CHAMILO,
                    buildargs={"BASE_IMAGE": base_image(), "CHAMILO_VERSION": spec.app.chamilo_version,
                               "CHAMILO_SHA256": spec.app.chamilo_sha256,
                               # the release layer's maker is part of the image: edits to it rebuild
                               "LAB_LAYER_CODE": hashlib.sha256(Path(chamilo_layer.__file__).read_bytes()).hexdigest()[:16]},
                    # the release archive is named by version (and sha256 when pinned), not hashed:
                    # a checkout without the hand-supplied archive must still find the image current
                    offline=False, exclude=("probe", "templates", "README.md", "archive"), label_in_dockerfile=True,
                    base_tag=tag(f"chamilo:{spec.app.chamilo_version}-base"))


def client() -> docker.DockerClient:
    return docker.from_env(timeout=600)


def image_present(tag: str, cli: docker.DockerClient | None = None) -> bool:
    try:
        (cli or client()).images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def is_current(image: ImageDef, cli: docker.DockerClient) -> bool:
    """Present and built from the context as it is now (a user's own image: present is enough)."""
    try:
        labels = cli.images.get(image.tag).labels or {}
    except docker.errors.ImageNotFound:
        return False
    return image.external or labels.get(HASH_LABEL) == image.context_hash()


def debian_mirror() -> str:
    """The Debian mirror the machine's own apt sources name (never a hard-coded one)."""
    candidates = sorted(Path("/etc/apt/sources.list.d").glob("*")) + [Path("/etc/apt/sources.list")]
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        # deb822: "URIs: http://…/debian" ; one-line: "deb http://…/debian bookworm main"
        for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+/debian)/?\s", text + "\n", re.M):
            return m.group(1)
    raise LabError("no Debian mirror found in /etc/apt/sources.list(.d); the offline base image is built from it")


# dpkg and apt settings every image built on the base inherits. Why: the images' package
# installs are the cold start's longest path, and on fuse-overlayfs (this machine's storage
# driver) dpkg's fsync of every unpacked file is the slow part; an image layer is written once
# and committed whole, so those fsyncs buy nothing. Docs, man pages and translation indexes are
# never read in a lab container (copyright files stay).
BASE_DPKG_CFG = """force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
"""
BASE_APT_CONF = 'Acquire::Languages "none";\n'


def _speed_up_package_installs(rootfs: Path) -> None:
    (rootfs / "etc/dpkg/dpkg.cfg.d/galera-lab").write_text(BASE_DPKG_CFG)
    (rootfs / "etc/apt/apt.conf.d/90galera-lab").write_text(BASE_APT_CONF)


def _import(tar: IO[bytes], debian: str, progress: Progress) -> None:
    """`docker import` a root filesystem tarball as the base image (LANG set in its config)."""
    progress(f"importing {base_image(debian)}")
    imp = subprocess.run(["docker", "import", "--change", "ENV LANG=C.UTF-8", "-", base_image(debian)],
                         stdin=tar, capture_output=True, text=True)
    if imp.returncode != 0:
        raise LabError(f"docker import of the base image failed: {imp.stderr.strip()}")


def build_base_image(progress: Progress, debian: str = APP_DEBIAN) -> None:
    """Make the Debian base image of suite `debian` without a registry: a minbase root filesystem
    from the machine's own Debian mirror (which serves every supported suite), imported.
    mmdebstrap where it is installed (apt downloads in parallel and it streams a tarball: 16 s
    here against debootstrap's 30 s on the cold start's path), else debootstrap."""
    mirror = debian_mirror()
    if shutil.which("mmdebstrap") is not None:
        _mmdebstrap(mirror, debian, progress)
    elif shutil.which("debootstrap") is not None:
        _debootstrap(mirror, debian, progress)
    else:
        raise LabError("neither mmdebstrap nor debootstrap is installed: `apt-get install mmdebstrap` (or "
                       "debootstrap); the base image is built with it when no registry can be reached")


def _mmdebstrap(mirror: str, debian: str, progress: Progress) -> None:
    progress(f"mmdebstrap {debian} from {mirror} (about 15 s)")
    # the same dpkg and apt settings as _speed_up_package_installs, given as options: mmdebstrap
    # uses them while it installs and leaves them in the tree (etc/*/99mmdebstrap)
    options = [f"--dpkgopt={line}" for line in BASE_DPKG_CFG.splitlines()] + [f"--aptopt={BASE_APT_CONF.strip()}"]
    proc = subprocess.Popen(["mmdebstrap", "--variant=minbase", "--quiet", *options, debian, "-", mirror],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        _import(proc.stdout, debian, progress)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
    if code != 0:
        tail = "\n".join(err.splitlines()[-8:])
        raise LabError(f"mmdebstrap failed (is the Debian mirror {mirror} reachable?):\n{tail}")


def _debootstrap(mirror: str, debian: str, progress: Progress) -> None:
    progress(f"debootstrap {debian} from {mirror} (about 30 s; mmdebstrap, where installed, takes half)")
    with tempfile.TemporaryDirectory(prefix="galera-lab-rootfs-") as tmp:
        proc = subprocess.run(["debootstrap", "--variant=minbase", debian, tmp, mirror],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-5:] + proc.stderr.splitlines()[-5:])
            raise LabError(f"debootstrap failed (is the Debian mirror {mirror} reachable?):\n{tail}")
        _speed_up_package_installs(Path(tmp))
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        _import(tar.stdout, debian, progress)
        tar.wait()


def build(image: ImageDef, progress: Progress, cli: docker.DockerClient, nocache: bool = False) -> None:
    """Build one image with the classic builder, streaming its steps to `progress` (nocache: the bench's cold build)."""
    if image.needs_base and not image_present(base_image(image.debian), cli):
        build_base_image(progress, image.debian)
    labels = {HASH_LABEL: image.context_hash()}
    buildargs = dict(image.buildargs)
    if image.label_in_dockerfile:
        buildargs["LAB_CONTEXT_HASH"] = labels.pop(HASH_LABEL)
    last_error = ""
    tail: list[str] = []
    # host network: apt inside the build reaches the mirror the way the host does
    stream = cli.api.build(path=str(image.context), dockerfile=image.dockerfile, tag=image.base_tag or image.tag,
                           buildargs=buildargs, labels=labels, network_mode="host",
                           rm=True, forcerm=True, nocache=nocache, decode=True)
    for chunk in stream:
        if "stream" in chunk:
            line = chunk["stream"].strip()
            if line:
                tail = (tail + [line])[-15:]
                if line.startswith("Step "):
                    step = line.split(" : ", 1)[0]
                    progress(f"{image.tag}: {step}")
        if "error" in chunk:
            last_error = chunk["error"].strip()
    if last_error:
        hint = "" if image.offline else " (this image downloads from outside Debian's mirror; see README for supplying it by hand)"
        raise LabError(f"building {image.tag} failed: {last_error}{hint}\n" + "\n".join(tail[-8:]))
    if image.base_tag:
        chamilo_layer.add_release_layer(image, image.base_tag, image.context / "fetch-chamilo", progress, cli)


class Builds:
    """The images a lab needs, built in the background while it starts (a context manager).

    Why: on a cold start the builds take most of the time. The base image comes first (every
    offline image builds FROM it); then every image that is missing or out of date builds side by
    side (each is mostly apt downloading and unpacking, and one build's downloads overlap
    another's unpacking), and `ready(role)` lets `up` start each part as soon as its own image
    is there: Galera forms while the application's image is still building. Leaving the block
    waits for every build and raises the first failure, so none is left running half-done."""

    def __init__(self, images: list[ImageDef], progress: Progress):
        self.progress = progress
        self.cli = client()
        self.todo = [image for image in images if not is_current(image, self.cli)]
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[None]] = {}

    def __enter__(self) -> Builds:
        for image in self.todo:
            if image.external:
                raise LabError(image.missing_hint or f"image {image.tag} is not on this machine")
        for debian in sorted({image.debian for image in self.todo if image.needs_base}):
            if not image_present(base_image(debian), self.cli):
                build_base_image(self.progress, debian)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.todo)))
        for image in self.todo:
            self.progress(f"building {image.tag}")
            self._futures[image.role] = self._pool.submit(build, image, self.progress, self.cli)
        return self

    def ready(self, role: str) -> None:
        """Wait until the image of `role` (mariadb, proxy, keepalived, app) is built."""
        future = self._futures.get(role)
        if future is not None:
            future.result()

    def is_ready(self, role: str) -> bool:
        """Whether the image of `role` is there now (not built, or its build has ended well)."""
        future = self._futures.get(role)
        return future is None or (future.done() and future.exception() is None)

    @property
    def built(self) -> list[str]:
        return [image.tag for image in self.todo]

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        wait(list(self._futures.values()))
        self._pool.shutdown()
        if exc[0] is None:
            for future in self._futures.values():
                future.result()


def ensure(images: list[ImageDef], progress: Progress) -> list[str]:
    """Build (or, for official images, pull and build) what is missing or out of date; the tags built."""
    with Builds(images, progress) as builds:
        pass
    return builds.built


def listing(images: list[ImageDef]) -> list[dict[str, str]]:
    """What `galera-lab images` shows: tag, role, state and size."""
    cli = client()
    rows = []
    for image in images:
        try:
            img = cli.images.get(image.tag)
            if image.external:
                state = "yours"
            else:
                state = "current" if (img.labels or {}).get(HASH_LABEL) == image.context_hash() else "outdated"
            size = f"{img.attrs.get('Size', 0) / 1e6:.0f} MB"
        except docker.errors.ImageNotFound:
            state, size = "missing", "-"
        rows.append({"role": image.role, "tag": image.tag, "state": state, "size": size})
    return rows
