"""History records: ordering, thread safety, validation and a lossless JSON round trip."""

from __future__ import annotations

import json
import threading

import pytest

from chaos.history import FaultEvent, History, Op


def op(start: float, kind: str = "write", outcome: str = "ok", key: str | None = "k") -> Op:
    return Op("p1", kind, key, start, start, start + 0.01, outcome)  # type: ignore[arg-type]


def test_ops_are_ordered_by_start_and_filtered_by_kind() -> None:
    history = History()
    history.append(op(3.0))
    history.append(op(1.0, kind="connect", key=None))
    history.append(op(2.0))
    assert [o.start for o in history.ops()] == [1.0, 2.0, 3.0]
    assert [o.start for o in history.ops("write")] == [2.0, 3.0]
    assert history.ops("http") == []
    assert len(history) == 3


def test_concurrent_appends_are_all_kept() -> None:
    history = History()

    def writer(thread: int) -> None:
        for i in range(500):
            history.append(Op(f"w{thread}", "write", f"{thread}-{i}", i, float(i), float(i), "ok"))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(history) == 4000
    assert len({o.key for o in history.ops("write")}) == 4000


def test_json_round_trip_is_lossless() -> None:
    history = History(
        [
            Op("w1", "write", "k1", {"n": 1}, 10.0, 10.2, "ok", node="node2"),
            Op("w1", "write", "k2", 2, 10.3, 15.0, "unknown", error="2013 lost connection"),
            Op("probe", "connect", None, None, 10.1, 10.15, "fail", error="timeout"),
        ]
    )
    text = json.dumps(history.to_json())
    again = History.from_json(json.loads(text))
    assert again.ops() == history.ops()
    assert again.to_json()[0] == {
        "process": "w1",
        "kind": "write",
        "key": "k1",
        "value": {"n": 1},
        "start": 10.0,
        "end": 10.2,
        "outcome": "ok",
        "node": "node2",
        "error": None,
    }


def test_empty_history_round_trips() -> None:
    assert History().to_json() == []
    assert History.from_json([]).ops() == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "delete"}, "unknown op kind"),
        ({"outcome": "maybe"}, "unknown outcome"),
        ({"end": 0.5}, "ends"),
    ],
)
def test_invalid_ops_are_rejected(kwargs: dict, message: str) -> None:
    fields = {
        "process": "p",
        "kind": "write",
        "key": "k",
        "value": 1,
        "start": 1.0,
        "end": 2.0,
        "outcome": "ok",
    }
    with pytest.raises(ValueError, match=message):
        Op(**{**fields, **kwargs})


def test_fault_event_round_trip() -> None:
    fault = FaultEvent("kill", "node1", 5.0, None, {"signal": "KILL"})
    assert FaultEvent.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
    assert FaultEvent("pause", "proxy1", 1.0, 2.0).detail == {}
