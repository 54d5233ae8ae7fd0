"""MariaDB versions (lab/versions.py): each series' images and names, and its server accepting the
config the lab renders for it (in that series' image, where it is built)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lab import images
from lab.plan import image_defs
from lab.render import render
from lab.spec import load_spec
from lab.versions import APP_DEBIAN, RELEASES
from tests.conftest import make_plan


@pytest.fixture
def shared_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names as the shared namespace spells them (the server check uses the caller's namespace)."""
    monkeypatch.delenv(images.NAMESPACE_ENV, raising=False)


@pytest.mark.usefixtures("shared_namespace")
def test_the_galera_image_and_its_base_follow_the_version() -> None:
    for version, debian in (("10.11", "bookworm"), ("11.8", "trixie")):
        image = images.mariadb_image(load_spec(None, [("galera.version", version)]))
        assert image.tag == f"galera-lab/mariadb:{version}-{debian}"
        assert image.buildargs == {"BASE_IMAGE": f"galera-lab/debian:{debian}", "MARIADB_SERIES": version}
        assert image.debian == debian and image.needs_base


@pytest.mark.usefixtures("shared_namespace")
def test_two_versions_share_no_galera_image_and_every_other_image() -> None:
    """Two labs on two versions run side by side: their Galera images differ in name and in
    rebuild hash; the proxies, Keepalived and the app are the same bookworm images (PHP 8.2)."""
    old, new = ({d.role: d for d in image_defs(load_spec(None, [("galera.version", v)]), "haproxy", "probe")}
                for v in ("10.11", "11.8"))
    assert old["mariadb"].tag != new["mariadb"].tag
    assert old["mariadb"].context_hash() != new["mariadb"].context_hash()
    for role in ("proxy", "keepalived", "app"):
        assert old[role] == new[role] and new[role].debian == APP_DEBIAN
        assert new[role].buildargs["BASE_IMAGE"] == f"galera-lab/debian:{APP_DEBIAN}"


@pytest.mark.usefixtures("shared_namespace")
def test_the_official_path_takes_the_version() -> None:
    image = images.mariadb_image(load_spec(None, [("galera.version", "11.8"), ("galera.source", "official")]))
    assert image.tag == "galera-lab/mariadb:mariadb-11.8-official"
    assert image.buildargs == {"MARIADB_IMAGE": "mariadb:11.8", "MARIADB_SERIES": "11.8"}
    assert not image.needs_base and image.dockerfile == "Dockerfile.official"


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_the_server_of_each_version_accepts_its_rendered_config(tmp_path: Path, version: str) -> None:
    """Every option the lab writes is one this series' mariadbd knows (an unknown or removed
    option makes `mariadbd --help` exit 7) and none is deprecated; with every optional line on."""
    spec = load_spec(None, [("galera.version", version), ("galera.sst_method", "mariabackup"),
                            ("galera.innodb_snapshot_isolation", True)])
    image = images.mariadb_image(spec).tag
    try:
        present = images.image_present(image)
    except Exception as exc:  # noqa: BLE001 - no engine answers: the check can't run
        pytest.skip(f"MariaDB {version}'s check runs in {image}: the Docker engine is not reachable ({exc})")
    if not present:
        pytest.skip(f"MariaDB {version}'s check runs in {image}, not on this machine: "
                    f"`galera-lab images --set galera.version={version}` builds it")
    render(make_plan(spec), tmp_path / "stack")
    cfg = tmp_path / "cfg"
    cfg.mkdir(mode=0o755)
    for name, source in (("90-lab.cnf", "galera/node1.cnf"), ("lab-sst.cnf", "secrets/sst.cnf")):
        shutil.copyfile(tmp_path / "stack" / source, cfg / name)
        (cfg / name).chmod(0o644)
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{cfg / '90-lab.cnf'}:/etc/mysql/mariadb.conf.d/90-lab.cnf:ro",
                           "-v", f"{cfg / 'lab-sst.cnf'}:/etc/mysql/lab-sst.cnf:ro", image,
                           "mariadbd", "--help", "--verbose", "--user=mysql"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "deprecated" not in proc.stderr.lower(), proc.stderr
    option = next(line.split() for line in proc.stdout.splitlines() if line.startswith("innodb-snapshot-isolation "))
    assert option[1] == "TRUE"
