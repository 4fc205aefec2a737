"""ValidationSchedule: how val_check_interval cuts epochs into validation periods."""

from __future__ import annotations

import pytest

from trainers.periods import ValidationSchedule


@pytest.mark.parametrize(
    ("interval", "steps", "cuts"),
    [
        (None, 11, [(0, 11)]),
        (4, 11, [(0, 4), (4, 8), (8, 11)]),
        (11, 11, [(0, 11)]),  # an interval of an epoch or more: once per epoch
        (50, 11, [(0, 11)]),
        (0.5, 11, [(0, 6), (6, 11)]),  # a fraction is rounded up to whole steps
        (0.25, 3, [(0, 1), (1, 2), (2, 3)]),
        (1.0, 11, [(0, 11)]),
    ],
)
def test_each_epoch_is_cut_into_periods_that_end_at_its_end(interval, steps, cuts) -> None:
    schedule = ValidationSchedule.resolve(interval, steps)
    assert schedule.parts == len(cuts) and schedule.longest == max(b - a for a, b in cuts)
    for epoch in range(3):
        periods = [schedule.period(epoch * schedule.parts + part) for part in range(len(cuts))]
        assert [(p.start, p.stop) for p in periods] == cuts
        assert {p.epoch for p in periods} == {epoch}
        assert [p.ends_epoch for p in periods] == [False] * (len(cuts) - 1) + [True]
    assert schedule.periods(3) == 3 * len(cuts)
    assert schedule.epochs_completed(3 * len(cuts) - 1) == 2


def test_steps_count_training_batches_from_the_start_of_the_run() -> None:
    schedule = ValidationSchedule(11, 4)
    assert [schedule.step(schedule.period(i)) for i in range(6)] == [4, 8, 11, 15, 19, 22]
    assert schedule.step(schedule.period(4), trained=1) == 16  # cut short by the budget
    assert schedule.epochs_trained(schedule.period(4)) == pytest.approx(19 / 11)
    assert schedule.label(3) == "epoch 001 step 000012"


def test_without_an_interval_values_stay_at_the_epoch() -> None:
    schedule = ValidationSchedule(11)
    assert not schedule.by_step
    assert [schedule.step(schedule.period(i)) for i in range(3)] == [0, 1, 2]
    assert schedule.label(2) == "epoch 002"


def test_a_schedule_needs_positive_steps() -> None:
    with pytest.raises(ValueError, match="steps_per_epoch"):
        ValidationSchedule(0)
    with pytest.raises(ValueError, match="interval"):
        ValidationSchedule(10, 0)
