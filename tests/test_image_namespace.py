"""Image namespaces (lab/images.py) and the bench's cold start, which builds in its own (no Docker)."""

from __future__ import annotations

import pytest

from lab import bench, images
from lab.errors import LabError
from lab.plan import image_defs
from lab.spec import load_spec


def test_every_image_of_a_lab_and_its_base_follow_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(images.NAMESPACE_ENV, raising=False)
    spec = load_spec(None, [])
    assert images.base_image() == "galera-lab/debian:bookworm"
    with images.namespace_set("ci-7"):
        defs = image_defs(spec, "haproxy", "probe")
        assert {d.tag.split("/")[0] for d in defs} == {"ci-7"}
        # the base is a build argument too: an image of one namespace never builds FROM another's
        assert all(d.buildargs.get("BASE_IMAGE") == "ci-7/debian:bookworm" for d in defs if d.needs_base)
    assert images.namespace() == "galera-lab"  # restored


@pytest.mark.parametrize("bad", ["Galera", "a/b", "x--", "-x", "a b", "a" * 65])
def test_a_namespace_that_is_no_docker_repository_name_is_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(images.NAMESPACE_ENV, bad)
    with pytest.raises(LabError, match="image namespace"):
        images.namespace()


def test_the_bench_never_deletes_the_shared_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(images.NAMESPACE_ENV, raising=False)
    with pytest.raises(LabError, match="refusing to delete the shared galera-lab"):
        bench.remove_images(load_spec(None, []), "haproxy", "probe")


def test_lab_figures_are_printed_against_the_issue_targets(capsys: pytest.CaptureFixture[str]) -> None:
    bench.print_figures({"app": "probe", "cold_up_s": 95.0, "warm_up_s": 12.5, "memory_mib": 700.0,
                         "app_warm_up": {"app": "chamilo", "s": 40.0}})
    out = capsys.readouterr().out
    assert "cold up, probe app (images built):    95.0 s   (target <= 90 s: MISSED)" in out
    assert "warm up, probe app (images present):  12.5 s   (target <= 15 s: met)" in out
    assert "warm up, chamilo app:       40.0 s   (no target" in out
