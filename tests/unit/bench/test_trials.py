"""How the benchmark pairs the trials of two sides (``scripts/bench/trials.py``): the order of
turns, trials run together in processes of their own, and failures reported, not hung on."""

from __future__ import annotations

import pytest

from scripts.bench.trials import (
    InProcess,
    OwnProcess,
    Paired,
    Sample,
    measure,
    run_together,
    take_turns,
)
from tests.unit.bench import programs


def test_turns_alternate_which_side_goes_first_after_the_warm_up() -> None:
    order: list[str] = []
    first = InProcess("A", lambda: order.append("A"))
    second = InProcess("B", lambda: order.append("B"))
    paired = take_turns(first, second, pairs=4, warmup=1)
    assert order == ["A", "B", "A", "B", "B", "A", "A", "B", "B", "A"]
    assert len(paired.first) == len(paired.second) == 4  # the warm-up is not kept


def test_a_trial_counts_cpu_time_apart_from_wall_time() -> None:
    busy = measure(lambda: programs.spin(0.05))
    asleep = measure(lambda: __import__("time").sleep(0.05))
    assert busy.cpu >= 0.05 and busy.wall >= busy.cpu * 0.9
    assert asleep.wall >= 0.05 and asleep.cpu < 0.02
    assert Sample(3.0, 2.0).since(Sample(1.0, 0.5)) == Sample(2.0, 1.5)


@pytest.mark.slow
def test_sides_in_their_own_processes_run_their_trials_together() -> None:
    # One side burns CPU, the other sleeps: each trial is timed in its own process.
    paired = run_together(
        OwnProcess("busy", programs.busy, 4, 0.1),
        OwnProcess("sleepy", programs.sleepy, 4, 0.3),
        pairs=3,
        warmup=1,
    )
    assert len(paired.first) == len(paired.second) == 3
    assert all(s.cpu >= 0.1 for s in paired.first)
    assert all(s.wall >= 0.3 and s.cpu < 0.1 for s in paired.second)


@pytest.mark.slow
def test_a_side_run_here_runs_while_the_other_process_runs() -> None:
    seen: list[float] = []
    here = InProcess("here", lambda: seen.append(measure(lambda: programs.spin(0.05)).cpu))
    paired = run_together(here, OwnProcess("there", programs.sleepy, 3, 0.2), pairs=2)
    assert len(seen) == 3 and len(paired.first) == 2
    assert all(s.wall >= 0.2 for s in paired.second)


@pytest.mark.slow
def test_a_failing_program_is_reported_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match="the program broke"):
        run_together(
            OwnProcess("failing", programs.failing, 5, 0.01),
            OwnProcess("busy", programs.busy, 5, 0.01),
            pairs=4,
        )


@pytest.mark.slow
def test_a_program_with_fewer_trials_than_turns_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="fewer trials"):
        take_turns(
            OwnProcess("short", programs.busy, 2, 0.01),
            InProcess("here", lambda: None),
            pairs=3,
        )


@pytest.mark.slow
def test_more_pairs_are_taken_until_they_are_enough_and_the_sides_stop_there() -> None:
    asked: list[int] = []

    def enough(paired: Paired) -> bool:
        asked.append(len(paired.first))
        return len(paired.first) >= 5

    paired = run_together(
        OwnProcess("busy", programs.busy, 50, 0.01),  # far more trials than wanted
        OwnProcess("sleepy", programs.sleepy, 50, 0.01),
        pairs=3,
        warmup=1,
        enough=enough,
        max_pairs=8,
    )
    assert asked == [3, 4, 5] and len(paired.first) == len(paired.second) == 5


def test_pairs_stop_at_the_limit_when_never_enough() -> None:
    paired = run_together(
        InProcess("A", lambda: None),
        InProcess("B", lambda: None),
        pairs=2,
        enough=lambda paired: False,
        max_pairs=4,
    )
    assert len(paired.first) == 4
    with pytest.raises(ValueError, match="max_pairs"):
        run_together(InProcess("A", lambda: None), InProcess("B", lambda: None), 3, max_pairs=2)
