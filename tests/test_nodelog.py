"""Why a node is down, from its log (lab/nodelog.py), on log excerpts seen in this lab."""

from __future__ import annotations

from lab.nodelog import exit_text, last_run, why_down

START = ("2026-12-02  7:04:01 0 [Note] Starting MariaDB 10.11.18-MariaDB-0+deb12u1 source revision 197f "
         "server_uid v2g= as process 1\n")

DONOR_LOST = START + """\
2026-12-02  7:04:09 0 [Note] WSREP: Member 0.0 (node3) requested state transfer from 'node2,'. Selected 2.0 (node2)(SYNCED) as donor.
2026-12-02  7:04:17 0 [Warning] WSREP: Donor fb099ae4-ee1d-11f1-a203-5e12df6379fa is no longer in the group. State transfer cannot be completed, need to abort.
2026-12-02  7:04:17 0 [ERROR] WSREP: ./gcs/src/gcs_core.cpp:core_handle_state_msg():1085: Failed to handle state message: -131 (State not recoverable)
2026-12-02  7:04:17 0 [ERROR] WSREP: ./gcs/src/gcs_core.cpp:gcs_core_recv():1345: Unrecoverable error happened above. Aborting...
261202  7:04:18 [ERROR] mariadbd got signal 11 ;
"""


def test_a_lost_donor_is_named_not_the_crash_that_follows() -> None:
    cause = why_down(DONOR_LOST)
    assert cause is not None and cause.kind == "donor-lost"
    assert cause.line.startswith("[Warning] WSREP: Donor fb099ae4")
    assert "does not try another donor" in cause.text()


def test_only_the_latest_run_counts() -> None:
    """A node that failed once, was started again and now fails otherwise: the new cause."""
    later = START + "2026-12-02  7:09:00 0 [ERROR] InnoDB: Cannot open datafile for read-only: './lab/t.ibd'\n"
    assert last_run(DONOR_LOST + later) == later
    cause = why_down(DONOR_LOST + later)
    assert cause is not None and cause.kind == "error" and "Cannot open datafile" in cause.line


def test_a_full_disk_wins_over_the_inconsistency_it_causes() -> None:
    log = START + """\
2026-12-02  8:00:01 2 [ERROR] mariadbd: The table 'chaos_gap' is full
2026-12-02  8:00:01 2 [ERROR] Slave SQL: Could not execute Write_rows_v1 event on table lab.chaos_gap; The table 'chaos_gap' is full, Error_code: 1114; handler error HA_ERR_RECORD_FILE_FULL, Error_code: 1114
2026-12-02  8:00:02 0 [ERROR] WSREP: Inconsistency detected: Inconsistent by consensus on 8a0e2b4c:1200
"""
    cause = why_down(log)
    assert cause is not None and cause.kind == "disk-full" and "HA_ERR_RECORD_FILE_FULL" in cause.line


def test_innodb_out_of_space_as_seen_here_is_a_full_disk() -> None:
    """MariaDB 10.11 on a full tmpfs datadir: the applier's preallocation fails, then InnoDB aborts."""
    log = START + """\
2026-12-02  7:19:20 2 [ERROR] InnoDB: preallocating 17825792 bytes for file ./lab/chaos_gap.ibd failed with error 28
2026-12-02  7:19:21 2 [ERROR] [FATAL] InnoDB: Error (Out of disk space) in rollback.
261202  7:19:21 [ERROR] mariadbd got signal 6 ;
"""
    cause = why_down(log)
    assert cause is not None and cause.kind == "disk-full" and "Out of disk space" in cause.line


def test_nothing_to_say_and_exit_codes() -> None:
    assert why_down(START + "2026-12-02  7:04:01 0 [Note] WSREP: Synchronized with group, ready for connections\n") is None
    assert exit_text(137) == "code 137, SIGKILL" and exit_text(139) == "code 139, SIGSEGV" and exit_text(1) == "code 1"


class _Container:
    def __init__(self, status: str, code: int, log: str):
        self.status, self.attrs, self._log = status, {"State": {"ExitCode": code}}, log

    def logs(self, tail: int) -> bytes:
        return self._log.encode()


class _Docker:
    def __init__(self, container: _Container):
        self.containers = self
        self._c = container

    def get(self, name: str) -> _Container:
        return self._c


def test_status_note_of_an_exited_joiner_and_of_a_running_one() -> None:
    from lab.spec import load_spec
    from lab.status import NodeStatus, Probe
    from tests.conftest import make_plan

    plan = make_plan(load_spec())
    exited = Probe(plan, {}, _Docker(_Container("exited", 139, DONOR_LOST)))  # type: ignore[arg-type]
    note = exited.node_note(NodeStatus("node3", "exited", "exited", 0, "-", False))
    assert note.startswith("exited (code 139, SIGSEGV); its state transfer failed: the donor left")
    running = Probe(plan, {}, _Docker(_Container("running", 0, START + "x [ERROR] benign\n")))  # type: ignore[arg-type]
    assert running.node_note(NodeStatus("node3", "running", "Joining", 3, "Primary", False)) == ""
    assert running.node_note(NodeStatus("node3", "running", "Synced", 3, "Primary", True)) == ""


class _RunRecorder(_Docker):
    """A Docker client whose one-off containers print what the SST cleanup removed."""

    def __init__(self, container: _Container):
        super().__init__(container)
        self.runs: list[tuple[list[str], dict[str, dict[str, str]]]] = []

    def run(self, image: str, cmd: list[str], **kw: object) -> bytes:
        self.runs.append((cmd, kw["volumes"]))  # type: ignore[arg-type]
        return b"wsrep_sst.pid\nrsync_sst.pid\n"


def test_up_says_why_a_node_stopped_and_clears_its_stale_sst_pid_files(tmp_path) -> None:
    """A joiner aborted mid-SST: `up` says why before starting it, and removes the SST scripts'
    pid files from its volume (a new container reuses those pids: the script would wait for them)."""
    from lab.runtime import Lab
    from lab.spec import load_spec
    from tests.conftest import make_plan

    container = _Container("exited", 139, DONOR_LOST)
    container.attrs["Mounts"] = [{"Destination": "/var/lib/mysql", "Name": "galera-lab-node3-data"}]
    fake = _RunRecorder(container)
    lab = Lab(make_plan(load_spec()), tmp_path)
    lab._docker = fake  # type: ignore[assignment]
    said: list[str] = []
    lab._before_restart("node3", said.append)
    assert said[0].startswith("galera: node3 had stopped: exited (code 139, SIGSEGV); its state transfer failed")
    assert said[1] == "galera: node3: removed wsrep_sst.pid, rsync_sst.pid left by its interrupted state transfer"
    cmd, volumes = fake.runs[0]
    assert "wsrep_sst.pid rsync_sst.pid stunnel.pid" in cmd[-1]
    assert volumes == {"galera-lab-node3-data": {"bind": "/var/lib/mysql", "mode": "rw"}}
    container.attrs["State"]["ExitCode"] = 0  # stopped on purpose: nothing to say, nothing removed
    said.clear()
    lab._before_restart("node3", said.append)
    assert said == [] and len(fake.runs) == 1
