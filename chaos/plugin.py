"""pytest plugin of galera-ha-lab: failover tests in your own repository (`pip install galera-ha-lab`).

Registered as the pytest11 entry point `galera_lab`, so it is active wherever the package is
installed; it does nothing until a test asks for one of its fixtures. The chaos suite
(chaos/conftest.py) runs on the same plugin.

Fixtures:
- `galera_lab_spec` (session): your spec (`--lab-spec lab.yaml`, `--lab-profile fast`,
  `--lab-set key=value`) with the plugin lab's own project, subnets, VIP, router id and HTTP
  port (default `plugin-lab`, 198.18.80.0/23; `--lab-project`, `--lab-subnet`,
  `--lab-http-port`, `--lab-router-id`), so it never touches a lab you have running.
- `galera_lab` (session): that lab built, started and healthy (`lab.runtime.Lab`); removed
  with its volumes at the end (`--lab-keep` leaves it up). SIGTERM (a CI cancel) unwinds like
  Ctrl-C, so faults are healed and the lab is removed.
- `lab_faults`: faults as context managers that always heal, aimed by role (writer, reader,
  node, vip-holder, standby-proxy) or by service name.
- `lab_clients`: the workloads (writer, SQL availability probe, HTTP probe) recording one
  history; the checkers (`chaos.checkers`) are plain functions of it.
- `lab_transactions`: transactional workloads (list-append, bank, read-modify-write counter)
  and the isolation checker (`chaos.consistency`); `--txn-isolation`, `--txn-locking-reads`,
  `--txn-route`, `--txn-model` set how they transact and what they are held to.

    from chaos import checkers

    def test_writer_loss(galera_lab, lab_faults, lab_clients):
        with lab_clients.run() as history:
            lab_clients.wait_for_ok("http", 10)
            with lab_faults.kill("writer") as fault:
                lab_clients.wait_for_ok("write", 10, since=fault.event.start)
            lab_clients.wait_for_ok("http", 10)
        down = checkers.downtime(history.ops("http"), window_start=fault.event.start)
        assert down.longest_ms <= 3000, down

Imports of Docker, pymysql and the chaos modules happen inside the fixtures: the plugin loads
in every pytest run of an environment that has the package, and must cost nothing there.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chaos.faults import Fault
    from chaos.history import History
    from lab.runtime import Lab
    from lab.spec import LabSpec

SUITE = "plugin"
SMOKE = ("vip_holder_down[sigkill]", "kill_writer", "routing_by_statement_class", "stale_reads_at_0_and_1")
"""`--lab-scenarios smoke`: the selection a pull request can afford (on the fast profile, at most
90 s here once the lab is up: `make bench` times it)."""
CATALOG = "chaos and not workshop"
"""The fault catalog as a pytest mark expression: every scenario that breaks the lab, without
the workshop exercises' both-ways checks (chaos/test_workshop.py: a teaching feature's tests,
run by `make chaos`, not a failover figure a pipeline compares). `galera-lab chaos` runs it and
`make bench` times it."""

TXN_MODELS = ("read-committed", "repeatable-read", "snapshot-isolation", "serializable", "strict-serializable")
"""`--txn-model`'s choices: chaos.consistency.MODELS, written out so that loading the plugin
imports nothing (a unit test keeps the two equal)."""

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def say(msg: str) -> None:
    print(f"[galera-lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- options ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("galera-lab", "galera-ha-lab: labs for failover tests")
    group.addoption("--lab-spec", default=None, help="lab.yaml the real-lab tests run on (default: the defaults)")
    group.addoption("--lab-profile", default=None, help="profile layered under the spec, e.g. fast")
    group.addoption("--lab-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one spec value, e.g. galera.provider_options.evs.suspect_timeout=PT10S")
    group.addoption("--lab-project", default=None, help="compose project of the test lab (default plugin-lab)")
    group.addoption("--lab-subnet", default=None, help="a /23 for the test lab's two networks (default 198.18.80.0/23)")
    group.addoption("--lab-router-id", type=int, default=None, help="VRRP virtual router id of the test lab")
    group.addoption("--lab-http-port", type=int, default=None, help="host port of the test lab's application")
    group.addoption("--lab-keep", action="store_true", default=False, help="leave the test lab up at the end")
    group.addoption("--lab-timeout", type=float, default=300.0,
                    help="seconds the lab may take to become healthy (default 300)")
    group.addoption("--lab-results-dir", default=None, help="folder for the chaos suite's results.json, "
                    "junit.xml and histories (default: <stack>/results/<run-id>)")
    group.addoption("--lab-scenarios", default=None, metavar="A,B",
                    help="run only these scenarios (test names without test_; a parametrized one whole or "
                    "as name[param]); 'smoke' = " + ",".join(SMOKE))
    group.addoption("--txn-isolation", default=os.environ.get("GALERA_LAB_TXN_ISOLATION") or "serializable",
                    choices=["read-uncommitted", "read-committed", "repeatable-read", "serializable"],
                    help="isolation level of the transactional workloads' sessions (default serializable; "
                    "env GALERA_LAB_TXN_ISOLATION)")
    group.addoption("--txn-locking-reads", action="store_true",
                    default=os.environ.get("GALERA_LAB_TXN_LOCKING_READS") == "1",
                    help="the transactional workloads read with SELECT … FOR UPDATE (env GALERA_LAB_TXN_LOCKING_READS=1)")
    group.addoption("--txn-route", default=os.environ.get("GALERA_LAB_TXN_ROUTE") or "vip", choices=["vip", "nodes"],
                    help="transactions through the VIP (one writer) or straight to every node (multi-writer; "
                    "env GALERA_LAB_TXN_ROUTE)")
    group.addoption("--txn-model", default=os.environ.get("GALERA_LAB_TXN_MODEL") or "serializable",
                    choices=list(TXN_MODELS),
                    help="consistency model the isolation checker holds the histories to (default serializable; "
                    "env GALERA_LAB_TXN_MODEL)")
    parser.addini("galera_lab_spec", "lab.yaml for the test lab, relative to this ini file (--lab-spec wins)")
    parser.addini("galera_lab_profile", "profile layered under the spec, e.g. fast (--lab-profile wins)")


def txn_policy(config: pytest.Config):  # -> chaos.transactional.policy.ConsistencyPolicy
    """The `--txn-*` options as one policy for every transactional client of the run."""
    from chaos.transactional.policy import ConsistencyPolicy

    return ConsistencyPolicy.from_options(config.getoption("--txn-isolation"), config.getoption("--txn-locking-reads"),
                                          config.getoption("--txn-route"), config.getoption("--txn-model"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Isolation options take effect before any conftest imports a suite module (chaos/scenario.py
    reads its project name at import)."""
    ns = early_config.known_args_namespace
    _apply(getattr(ns, "lab_spec", None), getattr(ns, "lab_profile", None))
    _isolate(ns)


def pytest_configure(config: pytest.Config) -> None:
    spec = config.getoption("--lab-spec")
    if not spec and config.getini("galera_lab_spec"):
        base = config.inipath.parent if config.inipath else config.rootpath
        spec = str(base / str(config.getini("galera_lab_spec")))
    _apply(spec, config.getoption("--lab-profile") or config.getini("galera_lab_profile") or None)
    _isolate(config.option)
    from lab.isolation import set_user_overrides

    set_user_overrides(spec_overrides(config))  # every suite's lab, not only the plugin's
    for line in ("e2e: brings a real lab up (needs Docker)",
                 "chaos: breaks a running lab on purpose (needs Docker)",
                 "workshop: a guided exercise's checks on a real lab (in `make chaos`, not in the catalog)"):
        config.addinivalue_line("markers", line)


def _apply(spec: str | None, profile: str | None) -> None:
    """The user's spec reaches every suite through the environment (lab/isolation.py)."""
    from lab.isolation import PROFILE_ENV, SPEC_ENV

    if spec:
        os.environ[SPEC_ENV] = str(Path(spec).resolve())
    if profile:
        os.environ[PROFILE_ENV] = str(profile)


def _isolate(ns: Any) -> None:
    from lab.errors import LabError
    from lab.isolation import isolate

    given = {k: getattr(ns, f"lab_{k}", None) for k in ("project", "subnet", "router_id", "http_port")}
    if not any(v is not None for v in given.values()):
        return
    try:
        for suite in (SUITE, "chaos", "e2e"):  # whichever lab this run brings up
            isolate(suite, given["project"], given["subnet"], given["router_id"], given["http_port"])
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None


def spec_overrides(config: pytest.Config) -> list[tuple[str, Any]]:
    """`--lab-set` values, read like `galera-lab --set`."""
    from lab.errors import LabError
    from lab.spec import parse_override

    try:
        return [parse_override(text) for text in config.getoption("--lab-set")]
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None


# ---- scenario selection ------------------------------------------------------------------------


def scenario_name(item: pytest.Item) -> str:
    return item.name.removeprefix("test_")


def select(names: list[str], wanted: list[str]) -> tuple[list[str], list[str]]:
    """(selected names, unknown wanted names): a wanted name selects itself or, without a
    parameter, every parametrization of it (`vip_holder_down` → both `[sigkill]` and `[graceful]`)."""
    wanted = [w for part in wanted for w in (SMOKE if part == "smoke" else (part,))]
    chosen = [n for n in names if any(n == w or n.split("[", 1)[0] == w for w in wanted)]
    unknown = [w for w in wanted if not any(n == w or n.split("[", 1)[0] == w for n in names)]
    return chosen, unknown


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    raw = config.getoption("--lab-scenarios")
    if not raw:
        return
    wanted = [w.strip() for w in raw.split(",") if w.strip()]
    names = [scenario_name(i) for i in items]
    chosen, unknown = select(names, wanted)
    if unknown:
        known = ", ".join(sorted({n.split("[", 1)[0] for n in names}))
        raise pytest.UsageError(f"--lab-scenarios: no scenario {', '.join(unknown)}; known: {known}")
    deselected = [i for i in items if scenario_name(i) not in chosen]
    items[:] = [i for i in items if scenario_name(i) in chosen]
    config.hook.pytest_deselected(items=deselected)


# ---- outcomes ----------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


def outcome_of(item: pytest.Item) -> str:
    """pass / fail / skip / error of a test, read in its fixture's teardown (for results.json)."""
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from chaos import faults

    faults.heal_all()  # also after Ctrl-C, when fixture teardown may not have run


# ---- the lab's lifecycle -----------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def skip_reason(spec: LabSpec) -> str | None:
    """Why a lab of this spec can't run here (no engine, no privileges, a part the spec names
    is missing), or None."""
    from lab.docker_check import docker_skip_reason
    from lab.isolation import missing_part

    return docker_skip_reason() or missing_part(spec)


@contextmanager
def lab_session(name: str, up: Callable[[], Any], down: Callable[[], None], keep: bool = False) -> Iterator[None]:
    """Bring a lab up for a session and always take it down: faults healed first, SIGTERM
    handled like Ctrl-C meanwhile (so a cancelled CI job leaves nothing behind)."""
    from chaos import faults

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        say(f"bringing {name} up")
        up()
        say(f"{name} healthy after {time.monotonic() - started:.1f} s")
        yield
    finally:
        errors = faults.heal_all()
        if errors:
            say(f"heal errors at teardown: {errors}")
        if keep or os.environ.get("CHAOS_KEEP") == "1":
            say(f"leaving {name} up (remove it with: galera-lab down --volumes --project {name})")
        else:
            down()
            say(f"{name} removed with its volumes")
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def galera_lab_spec(pytestconfig: pytest.Config) -> LabSpec:
    """Your spec on the plugin lab's own project, subnets, VIP, router id and HTTP port."""
    from lab.errors import LabError
    from lab.isolation import suite_spec

    try:
        return suite_spec(SUITE)
    except LabError as exc:
        raise pytest.UsageError(f"galera-lab: {exc}") from None


@pytest.fixture(scope="session")
def galera_lab(pytestconfig: pytest.Config, galera_lab_spec: LabSpec) -> Iterator[Lab]:
    """The lab, healthy; removed with its volumes at the end of the session."""
    from chaos.workloads import Endpoint, ensure_tables
    from lab.errors import LabError
    from lab.runtime import Lab

    reason = skip_reason(galera_lab_spec)
    if reason:
        pytest.skip(reason)
    lab = Lab.create(galera_lab_spec)

    def up() -> None:
        timeout = pytestconfig.getoption("--lab-timeout")
        try:
            lab.up(say=say, timeout=timeout)
        except LabError as exc:  # a loaded runner: a health check missed its moment; `up` resumes
            say(f"{exc}: running `up` once more")
            lab.up(say=say, timeout=timeout)
        ensure_tables(Endpoint.vip(lab))

    with lab_session(galera_lab_spec.project, up, lambda: lab.down(volumes=True),
                     keep=pytestconfig.getoption("--lab-keep")):
        yield lab


class Faults:
    """Faults on a lab as context managers that always heal (also when the test fails); a
    target is a role resolved from the lab's status at injection time, or a service name.

        with lab_faults.kill("writer") as fault:   # SIGKILL the node writes go to
            ...
        fault.event.start, fault.event.healed      # time.time() stamps for the checkers
    """

    def __init__(self, lab: Lab):
        self.lab = lab
        self.injected: list[Fault] = []

    def target(self, role_or_service: str) -> str:
        from chaos.faults import ROLES, resolve_target

        if role_or_service in ROLES:
            return resolve_target(role_or_service, self.lab.status())
        return role_or_service

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[Fault]:
        """Apply any chaos.faults fault for the `with` body, heal it after."""
        self.injected.append(fault)
        say(f"{fault.name} {fault.target}")
        with fault:
            yield fault
        say(f"healed {fault.name} {fault.target}")

    def kill(self, target: str = "writer", signal: str = "SIGKILL") -> Any:
        from chaos.faults import Kill
        return self.inject(Kill(self.lab, self.target(target), signal=signal))

    def stop(self, target: str = "vip-holder", timeout: int | None = None) -> Any:
        from chaos.faults import Stop
        return self.inject(Stop(self.lab, self.target(target), timeout=timeout))

    def restart(self, target: str = "node", timeout: int = 30) -> Any:
        from chaos.faults import Restart
        return self.inject(Restart(self.lab, self.target(target), timeout=timeout))

    def pause(self, target: str = "node") -> Any:
        from chaos.faults import Pause
        return self.inject(Pause(self.lab, self.target(target)))

    def isolate(self, target: str = "writer") -> Any:
        from chaos.faults import Isolate
        return self.inject(Isolate(self.lab, self.target(target)))

    def partition(self, groups: list[list[str]]) -> Any:
        from chaos.faults import Partition
        return self.inject(Partition(self.lab, groups))

    def packet_loss(self, target: str = "node", probability: float = 0.3) -> Any:
        from chaos.faults import PacketLoss
        return self.inject(PacketLoss(self.lab, self.target(target), probability))

    def latency(self, target: str = "node", delay_ms: int = 200, jitter_ms: int = 0) -> Any:
        from chaos.faults import Latency
        return self.inject(Latency(self.lab, self.target(target), delay_ms, jitter_ms))

    def writeset_limit(self, max_ws_size: int | None = None, max_ws_rows: int | None = None) -> Any:
        """Every node refuses a transaction beyond these writeset limits until the heal."""
        from chaos.faults import WritesetLimit
        return self.inject(WritesetLimit(self.lab, max_ws_size, max_ws_rows))

    def heal_all(self) -> None:
        for fault in reversed(self.injected):
            if fault.active:
                fault.heal()


@pytest.fixture
def lab_faults(request: pytest.FixtureRequest, galera_lab: Lab) -> Iterator[Faults]:
    """Fault injection on the session's lab; whatever is still on at the end is healed, and the
    lab is made whole and healthy again (`up`) so that the next test starts from a good lab."""
    faults = Faults(galera_lab)
    try:
        yield faults
    finally:
        faults.heal_all()
        if faults.injected:
            galera_lab.up(timeout=request.config.getoption("--lab-timeout"))


class Clients:
    """The lab's clients recording one history: a writer of unique keys, a fresh SQL
    connection to the VIP every 50 ms, and the application's page (with Chamilo: its login
    form) every 100-250 ms. Kinds in the history: write, connect, http."""

    def __init__(self, lab: Lab):
        from chaos.history import History

        self.lab = lab
        self.history: History = History()
        self.workloads: list[Any] = []

    @contextmanager
    def run(self, writer: bool = True, avail: bool = True, http: bool = True,
            duration: float = 300.0) -> Iterator[History]:
        from chaos import chamilo_probe
        from chaos.workloads import AvailabilityProbe, HttpProbe, Writer, running

        ws: list[Any] = []
        if writer:
            ws.append(Writer(self.lab, self.history, duration=duration))
        if avail:
            ws.append(AvailabilityProbe(self.lab, self.history, duration=duration))
        if http:
            if self.lab.plan.app_kind == "chamilo":  # a PHP request with queries: 4 a second
                ws.append(HttpProbe(self.lab, self.history, duration=duration, interval=0.25,
                                    marker=chamilo_probe.LOGIN_FORM))
            else:
                ws.append(HttpProbe(self.lab, self.history, duration=duration))
        self.workloads += ws
        with running(*ws):
            yield self.history
        for w in ws:
            if w.error is not None:
                raise RuntimeError(f"workload {w.process} crashed: {w.error!r}") from w.error

    def ok_count(self, kind: str, since: float = 0.0) -> int:
        return sum(1 for op in self.history.ops(kind) if op.outcome == "ok" and op.start >= since)

    def wait_for_ok(self, kind: str, count: int = 10, since: float | None = None, timeout: float = 60.0) -> float:
        """Wait until `count` ops of `kind` succeeded since `since` (default now); seconds waited."""
        t0 = time.time() if since is None else since
        started = time.monotonic()
        while self.ok_count(kind, t0) < count:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {count} ok {kind} ops "
                                     f"({self.ok_count(kind, t0)} so far)")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        for w in self.workloads:
            w.stop()


@pytest.fixture
def lab_clients(galera_lab: Lab) -> Iterator[Clients]:
    """Workloads recording a history on the session's lab; stopped at the end of the test."""
    clients = Clients(galera_lab)
    try:
        yield clients
    finally:
        clients.stop()


class Transactions:
    """Transactional workloads (chaos/transactional/: list-append, bank, counter) on the
    session's lab, as the run's `--txn-*` options say unless a call says otherwise; the run's
    `check()` judges its history with the isolation checker (chaos/consistency/).

        def test_rmw_loses_no_update_when_the_writer_dies(lab_faults, lab_transactions):
            with lab_transactions.run("counter", locking_reads=True) as run:
                time.sleep(3)
                with lab_faults.kill("writer"):
                    time.sleep(8)
                time.sleep(3)
            verdict = run.check()            # final reads were taken on every node
            assert verdict.ok, verdict.text()
    """

    def __init__(self, lab: Lab, policy: Any):
        self.lab = lab
        self.policy = policy

    @contextmanager
    def run(self, workload: str = "list-append", model: str | None = None, **settings: Any) -> Iterator[Any]:
        """Run `workload` for the `with` body; settings override the policy's (isolation,
        locking_reads, route, clients, interval); the final reads follow the body."""
        from dataclasses import replace

        from chaos.transactional import runner

        with runner.running(self.lab, workload, replace(self.policy.settings, **settings),
                            model=model or self.policy.model) as run:
            yield run


@pytest.fixture
def lab_transactions(request: pytest.FixtureRequest, galera_lab: Lab) -> Transactions:
    """Transactional workloads and their checker on the session's lab (see `Transactions`)."""
    return Transactions(galera_lab, txn_policy(request.config))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    run_dir = config.stash.get(RUN_DIR, None)
    if run_dir is not None and (run_dir / "results.json").exists():
        terminalreporter.write_sep("-", "chaos results")
        terminalreporter.write_line(f"results: {run_dir / 'results.json'}")
        if config.option.xmlpath:
            terminalreporter.write_line(f"junit:   {config.option.xmlpath}")
        terminalreporter.write_line(f"report:  galera-lab report {run_dir / 'results.json'}")


RUN_DIR = pytest.StashKey[Path]()
"""Where a run that records results writes them (set by the chaos suite's conftest)."""


def results_dir(config: pytest.Config, project: str) -> Path:
    """`--lab-results-dir`, else `<stack>/results/<run-id>`; kept in the config's stash."""
    from lab.paths import stack_dir

    if RUN_DIR not in config.stash:
        given = config.getoption("--lab-results-dir")
        config.stash[RUN_DIR] = (Path(given).resolve() if given else
                                 stack_dir(project) / "results" / time.strftime("%Y%m%d-%H%M%S"))
    return config.stash[RUN_DIR]
