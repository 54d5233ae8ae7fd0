"""The state-transfer and full-disk scenarios' pure parts: sizes, the gcache a gap needs, what
the logs say, the gcache verdict (including the mutation that removes the mitigation), and the
storage faults' command lines."""

from __future__ import annotations

import pytest

from chaos import state_transfer as st
from chaos.node_faults import class_sent_bytes, filler_size, port_limit_commands, port_limit_undo, with_tmpfs_datadir
from lab.spec import load_spec

MIB = st.MIB


def test_sizes_read_as_galera_does() -> None:
    assert st.size_bytes("64M") == 64 * MIB and st.size_bytes("1G") == 1024 * MIB
    assert st.size_bytes("512k") == 512 * 1024 and st.size_bytes("1048576") == MIB
    with pytest.raises(ValueError):
        st.size_bytes("64MB")


def test_gcache_needed_is_rate_times_outage_with_headroom_in_whole_mib() -> None:
    # 2 MB/s for 30 s: 60 MiB of writesets, 75 MiB with the headroom
    assert st.gcache_needed(2 * MIB, 30) == 75 * MIB
    assert st.gcache_needed(2 * MIB, 30, headroom=1.0) == 60 * MIB
    assert st.gcache_needed(1, 1) == MIB, "rounded up to a whole MiB"
    assert st.gcache_needed(0, 100) == 0
    with pytest.raises(ValueError):
        st.gcache_needed(-1, 3)


def test_rejoin_rate_and_need_come_from_the_measured_gap() -> None:
    r = st.Rejoin(gap_bytes=88 * MIB, outage_s=2.0, transfer="SST", synced_s=8.0)
    assert r.rate == 44 * MIB and r.needed_bytes == 110 * MIB
    assert st.Rejoin(4 * MIB, 1.0, "SST", 7.0, datadir_bytes=120 * MIB).sent_bytes == 120 * MIB
    assert st.Rejoin(4 * MIB, 1.0, "IST", 5.0, datadir_bytes=120 * MIB).sent_bytes == 4 * MIB
    assert r.to_dict()["gcache_needed_mb"] == 110 and r.to_dict()["rate_mb_s"] == 44.0


JOINER_LOG = """\
2026-12-02  7:12:40 0 [Note] WSREP: Member 1.0 (node3) requested state transfer from 'node2,'. Selected 0.0 (node2)(SYNCED) as donor.
2026-12-02  7:12:47 0 [Note] WSREP: Receiving IST... 100.0% (110/110 events) complete.
"""
DONOR_LOG = """\
2026-12-02  7:12:40 2 [Note] WSREP: IST request: f9bb2011-ee1d-11f1-95f6-1fe57f2540c0:1149-1491|tcp://198.18.150.13:4568
2026-12-02  7:12:40 2 [Note] WSREP: IST first seqno 1150 not found from cache, falling back to SST
"""


def test_donor_and_fallback_from_the_logs_seen_here() -> None:
    assert st.selected_donor(JOINER_LOG) == "node2"
    assert st.selected_donor("nothing") is None
    assert st.ist_fallback(DONOR_LOG) == "IST first seqno 1150 not found from cache, falling back to SST"
    assert st.ist_fallback(JOINER_LOG) is None


def rejoin(gap_mb: float, transfer: str, **kw: object) -> st.Rejoin:
    return st.Rejoin(int(gap_mb * MIB), 2.0, transfer, 5.0, **kw)  # type: ignore[arg-type]


def test_gcache_verdict_holds_when_the_short_gap_fits_and_the_long_one_does_not() -> None:
    verdict = st.check_gcache(64 * MIB, rejoin(4, "IST"), rejoin(88, "SST"))
    assert verdict.ok and verdict.problems == [] and verdict.needed_bytes == 110 * MIB


def test_mutation_gcache_too_small_for_the_short_outage_is_noticed() -> None:
    """The mitigation removed (gcache.size 2M): the short outage's gap no longer fits, it
    rejoins by SST, and the verdict says both."""
    verdict = st.check_gcache(2 * MIB, rejoin(4, "SST", left_seqno=100, cached_from=180), rejoin(10, "SST"))
    assert not verdict.ok
    assert "larger than gcache.size (2.0 MB)" in verdict.problems[0]
    assert "rejoined by SST, expected IST (it left at seqno 100, the others' gcache held seqnos from 180)" \
        in verdict.problems[1]


def test_gcache_verdict_names_a_scenario_that_wrote_too_little_or_a_failed_transfer() -> None:
    small = st.check_gcache(64 * MIB, rejoin(4, "IST"), rejoin(40, "IST"))
    assert not small.ok and "did not exceed gcache.size" in small.problems[0]
    failed = st.check_gcache(64 * MIB, rejoin(4, "failed", error="node2 gave up: its state transfer failed"),
                             rejoin(88, "SST"))
    assert not failed.ok and "node2 gave up" in failed.problems[0]


def test_port_limit_shapes_only_the_sst_port_and_undoes_in_one_command() -> None:
    cmds = port_limit_commands("eth0", 4444, 16000)
    assert cmds[0][:5] == ["tc", "qdisc", "add", "dev", "eth0"] and "htb" in cmds[0]
    assert ["rate", "16000kbit", "ceil", "16000kbit"] == cmds[2][-4:]
    assert cmds[3][-5:] == ["dport", "4444", "0xffff", "flowid", "1:2"]
    assert cmds[0][cmds[0].index("default") + 1] == "1", "everything else goes to the unlimited class"
    assert port_limit_undo("eth0") == ["tc", "qdisc", "del", "dev", "eth0", "root"]
    with pytest.raises(ValueError):
        port_limit_commands("eth0", 4444, 0)


def test_sent_bytes_and_filler_size() -> None:
    out = "class htb 1:2 root prio 0 rate 16Mbit ceil 16Mbit burst 1600b cburst 1600b\n Sent 4438588 bytes 2932 pkt"
    assert class_sent_bytes(out) == 4438588
    with pytest.raises(ValueError):
        class_sent_bytes("class htb 1:2 root")
    assert filler_size(140 * MIB, 4 * MIB) == 136 * MIB and filler_size(MIB, 4 * MIB) == 0


def test_tmpfs_datadir_variant_and_back() -> None:
    spec = load_spec()
    small = with_tmpfs_datadir(spec, "node3", "320M")
    assert small.galera.datadir_tmpfs == {"node3": "320M"} and spec.galera.datadir_tmpfs == {}
    assert with_tmpfs_datadir(small, "node3", None).galera.datadir_tmpfs == {}


FULL_DISK_LOG = """\
2026-12-02  7:17:23 2 [ERROR] InnoDB: preallocating 4194304 bytes for file ./lab/chaos_fill.ibd failed with error 28
2026-12-02  7:17:24 5 [ERROR] InnoDB: preallocating 4194304 bytes for file ./lab/chaos_fill.ibd failed with error 28
2026-12-02  7:17:25 2 [ERROR] [FATAL] InnoDB: Error (Out of disk space) in rollback.
261202  7:17:25 [ERROR] mariadbd got signal 6 ;
"""


def test_log_span_from_the_first_full_disk_error_to_the_abort() -> None:
    assert st.log_span(FULL_DISK_LOG, r"failed with error 28", r"got signal") == 2.0
    assert st.log_span(FULL_DISK_LOG, r"failed with error 28", r"Synchronized") is None
    assert st.log_span("23:59:59 0 x\n", "x", "y") is None
    midnight = "2026-12-02 23:59:59 0 [ERROR] a\n2026-12-03  0:00:02 0 [ERROR] b\n"
    assert st.log_span(midnight, "a", "b") == 3.0


def test_longest_span_of_a_sampled_state() -> None:
    samples = [(0.0, ["node2"]), (1.0, []), (2.0, []), (4.5, ["node1"]), (5.0, []), (5.5, [])]
    assert st.longest_span(samples, lambda v: v == []) == 3.5, "from 1.0 until the sample at 4.5"
    assert st.longest_span(samples[:3], lambda v: v == []) == 1.0, "a run still on at the end counts to the last sample"
    assert st.longest_span([], lambda v: True) == 0.0


class _Exec:
    name = "lab-node2"

    def __init__(self, *answers: tuple[int, bytes]):
        self.answers = list(answers)

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        return self.answers.pop(0)


def test_exec_output_asks_again_when_an_exec_comes_back_empty() -> None:
    from chaos.faults import FaultError
    from chaos.node_faults import exec_output

    assert exec_output(_Exec((0, b""), (0, b"335544320 4194304\n")), ["df"]) == "335544320 4194304"
    with pytest.raises(FaultError, match="printed nothing, 2 times"):
        exec_output(_Exec((0, b""), (0, b"")), ["df"], attempts=2)
    with pytest.raises(FaultError, match=r"df in lab-node2 failed \(1\): no such file"):
        exec_output(_Exec((1, b"no such file")), ["df"])
