"""The chaos suite's session: one lab for all scenarios, one results folder per run.

- One session-scoped lab (`chaos-lab`, its own subnets/VIP/ports), brought up at the start,
  made healthy again (`up`) before every scenario, removed with its volumes at the end
  (CHAOS_KEEP=1 keeps it for debugging).
- Faults are healed after every scenario, at session end and at exit (chaos.faults registry).
- Results: `<stack>/results/<run-id>/results.json` (chaos/report.py ResultsFile, saved after
  every scenario, so an interrupted run keeps what it measured), `junit.xml` (unless
  --junitxml was given) and one history JSON per scenario; the path is printed at the end.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos import faults
from chaos.report import ResultsFile
from chaos.scenario import PROJECT, ChaosLab, Scenario, chaos_spec, read_versions, say
from lab.isolation import describe_user_spec, missing_part
from lab.paths import stack_dir

_RUN_DIR = pytest.StashKey[Path]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_RESULTS = pytest.StashKey[ResultsFile]()


def _docker_reason() -> str | None:
    from tests.docker_check import docker_skip_reason  # the one shared check (no silent skip)
    return docker_skip_reason()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    run_id = time.strftime("%Y%m%d-%H%M%S")
    run_dir = stack_dir(PROJECT) / "results" / run_id
    config.stash[_RUN_DIR] = run_dir
    if not getattr(config.option, "xmlpath", None) and _is_chaos_run(config):
        run_dir.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(run_dir / "junit.xml")
    if _is_chaos_run(config) and threading.current_thread() is threading.main_thread():
        # a CI cancel (SIGTERM) unwinds like Ctrl-C, so fixtures heal the faults and remove the lab
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _is_chaos_run(config: pytest.Config) -> bool:
    """Only a run that selects the chaos marker gets a results folder (not `pytest --co`)."""
    return "chaos" in (config.option.markexpr or "") and "not chaos" not in (config.option.markexpr or "") \
        and not config.option.collectonly


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


def _outcome(item: pytest.Item) -> str:
    reports = item.stash.get(_REPORTS, {})
    setup, call = reports.get("setup"), reports.get("call")
    if call is not None and hasattr(call, "wasxfail"):
        return "fail"  # a known failure is still a failure of what the scenario checks
    if setup is not None and setup.skipped or call is not None and call.skipped:
        return "skip"
    if setup is not None and setup.failed:
        return "error"
    if call is None:
        return "error"
    return "pass" if call.passed else "fail"


@pytest.fixture(scope="session")
def chaos_lab(request: pytest.FixtureRequest) -> Iterator[ChaosLab]:
    reason = _docker_reason() or missing_part(chaos_spec())
    if reason:
        pytest.skip(reason)
    say(f"topology: {describe_user_spec()}")
    chaos = ChaosLab()
    say(f"bringing {PROJECT} up ({chaos.stack})")
    started = time.monotonic()
    try:
        chaos.ensure_up()
        say(f"{PROJECT} healthy after {time.monotonic() - started:.1f} s")
        yield chaos
    finally:
        errors = faults.heal_all()
        if errors:
            say(f"heal errors at teardown: {errors}")
        if os.environ.get("CHAOS_KEEP") == "1":
            say(f"CHAOS_KEEP=1: leaving {PROJECT} up")
        else:
            chaos.down()
            say(f"{PROJECT} removed with its volumes")


@pytest.fixture(scope="session")
def results(request: pytest.FixtureRequest, chaos_lab: ChaosLab) -> Iterator[ResultsFile]:
    run_dir = request.config.stash[_RUN_DIR]
    res = ResultsFile(run_id=run_dir.name, started=time.time(),
                      spec={"tier": chaos_lab.lab.plan.proxy_kind, "app": chaos_lab.lab.plan.app_kind,
                            **chaos_lab.spec.model_dump(mode="json")},
                      versions=read_versions(chaos_lab.lab))
    request.config.stash[_RESULTS] = res
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
        run_dir = request.config.stash[_RUN_DIR]
        outcome = _outcome(request.node)
        if sc.figures.get("spec_changes"):
            results.spec.setdefault("variants", {})[name] = sc.figures["spec_changes"]
        sc.record(results, outcome, run_dir / "histories")
        results.save(run_dir / "results.json")
        say(f"--- {name}: {outcome} {sc.figures}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    faults.heal_all()  # also after Ctrl-C, when fixture teardown may not have run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    run_dir = config.stash.get(_RUN_DIR, None)
    if run_dir is not None and (run_dir / "results.json").exists():
        terminalreporter.write_sep("-", "chaos results")
        terminalreporter.write_line(f"results: {run_dir / 'results.json'}")
        if (run_dir / "junit.xml").exists() or config.option.xmlpath:
            terminalreporter.write_line(f"junit:   {config.option.xmlpath}")
        terminalreporter.write_line(f"report:  galera-lab report --project {PROJECT}")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scenarios that re-create the lab with other settings (crash-all with flush 2 and 0) run
    last, so that the others share one lab; within them, the base setting first."""
    def key(item: pytest.Item) -> int:
        return 1 if item.module is not None and item.module.__name__.endswith("test_crash") else 0
    items.sort(key=key)  # stable: keeps file order otherwise
