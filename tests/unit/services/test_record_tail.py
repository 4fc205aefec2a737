"""RecordTail: run.epoch.v1 events from a run's metrics.jsonl, by epoch or by validation."""

from __future__ import annotations

import json
from pathlib import Path

from metrics import namespaces as ns
from services.events.schemas import RunEpoch
from services.events.tail import RecordTail


def write(folder: Path, records: list[tuple[str, float, int]]) -> None:
    lines = [{"name": n, "value": v, "step": s, "kind": "series"} for n, v, s in records]
    with (folder / "metrics.jsonl").open("a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)


def epochs(tail: RecordTail) -> list[tuple[int, int | None]]:
    return [(e.epoch, e.step) for e in tail.poll() if isinstance(e, RunEpoch)]


def test_an_epochs_values_make_one_event_at_its_end(tmp_path: Path) -> None:
    tail = RecordTail(tmp_path, run_id="r")
    write(tmp_path, [(ns.epoch_metric("val", "accuracy"), 0.6, 0), (ns.epoch_seconds(), 2.0, 0)])
    write(tmp_path, [(ns.epoch_metric("val", "accuracy"), 0.7, 1)])
    assert epochs(tail) == [(0, None)]  # epoch 1's values are not all written yet
    write(tmp_path, [(ns.epoch_seconds(), 2.0, 1)])
    assert epochs(tail) == [(1, None)]


def test_validations_inside_epochs_carry_their_epoch_and_step(tmp_path: Path) -> None:
    tail = RecordTail(tmp_path, run_id="r")
    for step, progress in [(8, 8 / 11), (11, 1.0), (19, 19 / 11), (22, 2.0)]:
        write(
            tmp_path,
            [
                (ns.epoch_metric("val", "accuracy"), 0.6, step),
                (ns.epoch_progress(), progress, step),
                (ns.epoch_seconds(), 1.0, step),
            ],
        )
    events = [e for e in tail.poll() if isinstance(e, RunEpoch)]
    assert [(e.epoch, e.step) for e in events] == [(0, 8), (0, 11), (1, 19), (1, 22)]
    assert [e.metrics[ns.epoch_progress()] for e in events][1::2] == [1.0, 2.0]
