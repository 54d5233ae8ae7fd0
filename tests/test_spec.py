"""The spec refuses bad input with one line that says what to change, and derives a sane plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import SpecError
from lab.spec import load_spec, parse_override


def error_of(*overrides: tuple[str, object], yaml_text: str | None = None, tmp_path: Path | None = None) -> str:
    path = None
    if yaml_text is not None:
        assert tmp_path is not None
        path = tmp_path / "lab.yaml"
        path.write_text(yaml_text)
    with pytest.raises(SpecError) as exc:
        load_spec(path, list(overrides))
    msg = str(exc.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_defaults_need_no_file() -> None:
    spec = load_spec()
    assert spec.galera.nodes == 3 and spec.proxy.count == 2
    assert spec.node_names == ["node1", "node2", "node3"]
    assert str(spec.node_address("node2")) == "198.18.0.12"
    assert str(spec.proxy_frontend_address("proxy2")) == "198.18.1.22"
    assert str(spec.shim_address) == "198.18.1.254"
    assert spec.keepalived.vip in spec.networks.frontend.subnet


def test_yaml_then_cli_override(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("project: workshop\ngalera:\n  nodes: 5\n  wsrep_sync_wait: 1\n")
    spec = load_spec(path, [parse_override("galera.nodes=7")])
    assert (spec.project, spec.galera.nodes, spec.galera.wsrep_sync_wait) == ("workshop", 7, 1)


def test_vip_outside_frontend() -> None:
    msg = error_of(("keepalived.vip", "198.18.9.1"))
    assert "outside networks.frontend.subnet 198.18.1.0/24" in msg and "choose an address inside it" in msg


def test_vip_taken_by_a_proxy() -> None:
    assert "already proxy1's address" in error_of(("keepalived.vip", "198.18.1.21"))


def test_overlapping_subnets() -> None:
    msg = error_of(("networks.backend.subnet", "198.18.0.0/23"))
    assert "overlaps" in msg and "separate ranges" in msg


def test_node_count_without_quorum() -> None:
    msg = error_of(("galera.nodes", 2))
    assert "galera.nodes" in msg and "3 or more" in msg


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    msg = error_of(yaml_text="galera:\n  wsrep_sync_wiat: 1\n", tmp_path=tmp_path)
    assert "unknown key 'galera.wsrep_sync_wiat'" in msg and "did you mean 'wsrep_sync_wait'" in msg
    assert "did you mean 'keepalived'" in error_of(("keepalive", {}))


def test_port_clash() -> None:
    msg = error_of(("proxy.reader_port", 6033))
    assert "port clash" in msg and "reader_port" in msg


def test_sub_second_adverts_need_vrrp3() -> None:
    assert "vrrp_version: 3" in error_of(("keepalived.advert_interval", 0.5))
    spec = load_spec(None, [("keepalived.advert_interval", 0.25), ("keepalived.vrrp_version", 3)])
    assert spec.vip_failover_deadline_s() == pytest.approx(3 * 0.25 + 2.5)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid YAML" in error_of(yaml_text="galera: [", tmp_path=tmp_path)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_override_syntax() -> None:
    with pytest.raises(SpecError, match="KEY=VALUE"):
        parse_override("galera.nodes")
    assert parse_override("proxy.writer_is_reader=true") == ("proxy.writer_is_reader", True)


def test_deadlines_follow_timers() -> None:
    slow = load_spec(None, [("keepalived.advert_interval", 3)])
    assert slow.vip_failover_deadline_s() > load_spec().vip_failover_deadline_s()
    assert load_spec(None, [("slo.vip_failover_s", 1.5)]).vip_failover_deadline_s() == 1.5


def test_fast_profile_layers_under_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("galera:\n  provider_options:\n    gcache.size: 128M\n")
    spec = load_spec(path, [("keepalived.advert_interval", 0.5)], profile="fast")
    assert spec.keepalived.vrrp_version == 3 and spec.keepalived.advert_interval == 0.5
    assert spec.galera.provider_options["evs.suspect_timeout"] == "PT2S"
    assert spec.galera.provider_options["gcache.size"] == "128M"
    assert spec.galera.suspect_timeout_s == 2.0
    with pytest.raises(SpecError, match="known profiles: fast"):
        load_spec(profile="nope")


def test_datadir_tmpfs_names_a_node_of_the_lab() -> None:
    assert load_spec(None, [("galera.datadir_tmpfs", {"node2": "300M"})]).galera.datadir_tmpfs == {"node2": "300M"}
    with pytest.raises(SpecError, match="'node4', not a node of this lab"):
        load_spec(None, [("galera.datadir_tmpfs", {"node4": "300M"})])
    with pytest.raises(SpecError, match="datadir_tmpfs"):
        load_spec(None, [("galera.datadir_tmpfs", {"node2": "lots"})])


@pytest.mark.parametrize(("given", "version", "debian"), [(None, "10.11", "bookworm"), ("10.11", "10.11", "bookworm"),
                                                         ("11.8", "11.8", "trixie"), (11.8, "11.8", "trixie")])
def test_mariadb_versions_and_their_debian_release(given: object, version: str, debian: str) -> None:
    """10.11 by default; an unquoted YAML `11.8` (a number) is the version it reads as."""
    spec = load_spec(None, [("galera.version", given)] if given is not None else [])
    assert (spec.galera.version, spec.galera.release.debian) == (version, debian)
    assert spec.galera.official_ref == f"mariadb:{version}"


@pytest.mark.parametrize("bad", ["12.0", "10.6", 11.4, "11.8.9", "latest"])
def test_an_unknown_version_is_refused_listing_the_available_ones(bad: object) -> None:
    msg = error_of(("galera.version", bad))
    assert msg.startswith(f"command line: galera.version: {str(bad)!r} refused: expected one of ")
    assert msg.endswith("10.11 (Debian bookworm), 11.8 (Debian trixie)")


def test_an_official_image_of_another_series_is_refused() -> None:
    msg = error_of(("galera.version", "11.8"), ("galera.source", "official"), ("galera.official_image", "mariadb:10.11.9"))
    assert "mariadb:10.11.9 is MariaDB 10.11, but galera.version is 11.8" in msg
    for own in ("mariadb:11.8.2-noble", "registry:5000/team/mariadb:11.8", "mariadb:lts", "mariadb"):
        spec = load_spec(None, [("galera.version", "11.8"), ("galera.official_image", own)])
        assert spec.galera.official_ref == own


def test_snapshot_isolation_is_the_servers_default_unless_set() -> None:
    assert load_spec().galera.innodb_snapshot_isolation is None
    assert load_spec(None, [("galera.innodb_snapshot_isolation", False)]).galera.innodb_snapshot_isolation is False
    assert "galera.innodb_snapshot_isolation: 'sometimes' refused" in error_of(("galera.innodb_snapshot_isolation",
                                                                                "sometimes"))
