"""The chaos suite's session, on the package's pytest plugin (chaos/plugin.py).

- One session-scoped lab (`chaos-lab`, its own subnets/VIP/ports; the plugin's `--lab-project`
  and `--lab-subnet` move it), brought up at the start, made healthy again (`up`) before every
  scenario, removed with its volumes at the end (CHAOS_KEEP=1 or `--lab-keep` keeps it).
- The plugin heals faults after every scenario, at session end and at exit, and turns SIGTERM
  into an interrupt while the lab is up.
- Results: `<stack>/results/<run-id>/` or `--lab-results-dir`: results.json (chaos/report.py
  ResultsFile, saved after every scenario, so an interrupted run keeps what it measured),
  `junit.xml` (unless --junitxml was given) and one history JSON per scenario.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chaos import faults
from chaos.plugin import lab_session, outcome_of, results_dir, skip_reason, txn_policy
from chaos.report import ResultsFile
from chaos.scenario import PROJECT, ChaosLab, Scenario, chaos_spec, read_versions, say
from lab.isolation import describe_user_spec


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    run_dir = results_dir(config, PROJECT)
    if not getattr(config.option, "xmlpath", None) and _is_chaos_run(config):
        run_dir.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(run_dir / "junit.xml")


def _is_chaos_run(config: pytest.Config) -> bool:
    """Only a run that selects the chaos marker gets a results folder (not `pytest --co`)."""
    return "chaos" in (config.option.markexpr or "") and "not chaos" not in (config.option.markexpr or "") \
        and not config.option.collectonly


@pytest.fixture(scope="session")
def chaos_lab(pytestconfig: pytest.Config) -> Iterator[ChaosLab]:
    reason = skip_reason(chaos_spec())
    if reason:
        pytest.skip(reason)
    say(f"topology: {describe_user_spec()}")
    chaos = ChaosLab(policy=txn_policy(pytestconfig))
    timeout = pytestconfig.getoption("--lab-timeout")
    with lab_session(PROJECT, lambda: chaos.ensure_up(timeout), chaos.down, keep=pytestconfig.getoption("--lab-keep")):
        yield chaos


@pytest.fixture(scope="session")
def results(request: pytest.FixtureRequest, chaos_lab: ChaosLab) -> Iterator[ResultsFile]:
    run_dir = results_dir(request.config, PROJECT)
    res = ResultsFile(run_id=run_dir.name, started=time.time(),
                      spec={"tier": chaos_lab.lab.plan.proxy_kind, "app": chaos_lab.lab.plan.app_kind,
                            "transactions": chaos_lab.policy.describe(),
                            **chaos_lab.spec.model_dump(mode="json")},
                      versions=read_versions(chaos_lab.lab))
    res.save(run_dir / "results.json")
    yield res
    res.finished = time.time()
    res.save(run_dir / "results.json")


@pytest.fixture
def scenario(request: pytest.FixtureRequest, chaos_lab: ChaosLab, results: ResultsFile) -> Iterator[Scenario]:
    """A fresh scenario on a healthy lab; recorded into the results whatever its outcome."""
    chaos_lab.ensure_up()
    name = request.node.name.removeprefix("test_")
    sc = Scenario(chaos_lab, name)
    say(f"--- {name}")
    try:
        yield sc
    finally:
        sc.finish()
        errors = faults.heal_all()
        if errors:
            say(f"{name}: heal errors {errors}")
        run_dir = results_dir(request.config, PROJECT)
        outcome = outcome_of(request.node)
        if sc.figures.get("spec_changes"):
            results.spec.setdefault("variants", {})[name] = sc.figures["spec_changes"]
        sc.record(results, outcome, run_dir / "histories")
        results.save(run_dir / "results.json")
        say(f"--- {name}: {outcome} {sc.figures}")
