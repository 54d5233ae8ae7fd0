"""chaos/availability.py: the one rule the dashboard's charts and the report's timelines use.

The histories here are made by hand or by a seeded generator with its own clock, never by the
probes whose output the rule judges: bucket edges fall anywhere relative to the operations
(the dashboard's edges are whole seconds of the wall clock, the probes start whenever they
were started), which is where a rule can count a success as a failure (issue 22).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos import availability
from chaos.history import Op


def op(start: float, end: float, outcome: str = "ok", kind: str = "connect") -> Op:
    return Op("p", kind, None, None, start, end, outcome)  # type: ignore[arg-type]


def probe_history(offset: float, seconds: float, rate: float, durations: tuple[float, float],
                  seed: int, outcome=lambda t: "ok") -> list[Op]:
    """A probe's attempts `rate` a second from `offset`, each lasting a random time in `durations`."""
    rng = random.Random(seed)
    ops, t = [], offset
    while t < offset + seconds:
        end = t + rng.uniform(*durations)
        ops.append(op(t, end, outcome(t)))
        t += 1 / rate
    return ops


@settings(max_examples=200, derandomize=True)
@given(offset=st.floats(0, 1, allow_nan=False), rate=st.sampled_from([5.0, 10.0, 20.0, 40.0]),
       slow=st.floats(0.02, 0.9), seed=st.integers(0, 10_000))
def test_prompt_successes_are_100_percent_at_any_alignment_of_the_edges(offset, rate, slow, seed) -> None:
    ops = probe_history(offset, 20, rate, (0.005, slow), seed)
    edges = [float(i) for i in range(0, 22)]
    shares = availability.per_bucket(ops, edges, 1.0)
    assert all(s == 1.0 for s in shares if s is not None)
    assert sum(s is not None for s in shares) >= 19


def test_the_dashboard_case_of_issue_22_scores_100_not_95() -> None:
    """20 fresh connections a second, 22-36 ms each, edges not aligned to the probe's start:
    the old rule scored every bucket about 95 %."""
    ops = probe_history(0.37, 60, 20, (0.022, 0.036), seed=22)
    shares = availability.per_bucket(ops, [float(i) for i in range(61)], 1.0)
    told = [s for s in shares if s is not None]
    assert len(told) == 61 and set(told) == {1.0}


def test_a_stall_is_unavailable_over_its_whole_span_even_when_it_succeeds() -> None:
    ops = [op(0.1, 0.2, kind="write"), op(0.3, 0.4, "fail", "write"),  # bucket 0: 1 of 2
           op(1.1, 9.3, kind="write"),                                # an 8 s commit stall, then ok
           op(9.5, 9.6, kind="write")]
    shares = availability.per_bucket(ops, [float(i) for i in range(11)], 1.0)
    assert shares == [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, None]
    assert availability.unavailable_spans(ops) == [(0.3, 0.4), (1.1, 9.3)]


def test_a_mixed_history_gives_the_expected_share() -> None:
    # 10 prompt attempts a second for 10 s; those starting in [3, 5) are refused at once
    ops = probe_history(0.05, 10, 10, (0.01, 0.03), seed=1, outcome=lambda t: "fail" if 3 <= t < 5 else "ok")
    shares = availability.per_bucket(ops, [float(i) for i in range(10)], 1.0)
    assert shares[:3] == [1.0] * 3 and shares[3:5] == [0.0, 0.0] and shares[5:] == [1.0] * 5
    # half a second of refusals inside a second
    half = probe_history(0.0, 1, 10, (0.01, 0.02), seed=2, outcome=lambda t: "fail" if t >= 0.45 else "ok")
    assert availability.per_bucket(half, [0.0], 1.0) == [0.5]


def test_failed_attempts_that_time_out_count_in_every_second_they_hung() -> None:
    ops = [op(0.5, 2.6, "fail")]  # a connect timing out after 2.1 s
    assert availability.per_bucket(ops, [0.0, 1.0, 2.0, 3.0], 1.0) == [0.0, 0.0, 0.0, None]


def test_ops_outside_the_window_tell_nothing() -> None:
    assert availability.per_bucket([op(-5.0, -4.9), op(10.0, 10.1)], [0.0, 1.0], 1.0) == [None, None]
    assert availability.per_bucket([op(-3.0, 0.5, "fail")], [0.0, 1.0], 1.0) == [0.0, None]


def test_unavailable_spans_merge_overlapping_failures() -> None:
    ops = [op(1.0, 1.5, "fail"), op(1.2, 2.5, "fail"), op(2.6, 2.7), op(3.0, 3.1, "unknown")]
    assert availability.unavailable_spans(ops) == [(1.0, 2.5), (3.0, 3.1)]
