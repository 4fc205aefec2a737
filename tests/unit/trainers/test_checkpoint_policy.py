"""TopKPolicy decisions, file names, Lightning kwargs and the stored state."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from trainers.checkpoints import CheckpointFiles, TopKPolicy, TopKStateStore
from trainers.lightning.checkpointing import (
    lightning_checkpoint_kwargs,
    lightning_periodic_checkpoint_kwargs,
)


def run_policy(policy: TopKPolicy, scores: list[float]) -> list[int | None]:
    return [policy.update(epoch, s, s, f"e{epoch}").rank for epoch, s in enumerate(scores)]


def kept_epochs(policy: TopKPolicy) -> set[int]:
    return {entry.epoch for entry in policy.kept}


def test_keeps_the_k_best_and_evicts_the_worst() -> None:
    policy = TopKPolicy(k=3)
    decisions = [policy.update(e, s, s, f"e{e}") for e, s in enumerate([0.5, 0.9, 0.6, 0.7, 0.4])]
    assert [d.rank for d in decisions] == [1, 1, 2, 2, None]
    assert decisions[3].delete == ("e0",)
    assert decisions[4].delete == ()
    assert kept_epochs(policy) == {1, 2, 3}
    assert [e.epoch for e in policy.ranking()] == [1, 3, 2]


def test_tie_with_the_worst_kept_keeps_the_earlier_epoch() -> None:
    policy = TopKPolicy(k=2)
    ranks = run_policy(policy, [0.6, 0.5, 0.5, 0.6])
    # Epoch 2 only equals the worst kept value (epoch 1): not kept. Epoch 3 is strictly
    # better than 0.5, so it enters and evicts epoch 1.
    assert ranks == [1, 2, None, 2]
    assert kept_epochs(policy) == {0, 3}
    assert [e.epoch for e in policy.ranking()] == [0, 3]  # tie at 0.6: earlier first


@pytest.mark.parametrize(
    ("monitor", "scores"), [("val/accuracy", [0.5, 0.5, 0.6]), ("val/loss", [0.5, 0.5, 0.4])]
)
def test_among_tied_worst_entries_the_latest_is_evicted(monitor: str, scores: list[float]) -> None:
    # The earlier epoch wins ties also when a better epoch pushes one of them out.
    policy = TopKPolicy(k=2, monitor=monitor)
    decisions = [policy.update(e, s, s, f"e{e}") for e, s in enumerate(scores)]
    assert decisions[2].delete == ("e1",)
    assert kept_epochs(policy) == {0, 2}


def test_new_best_only_when_strictly_better() -> None:
    policy = TopKPolicy(k=3)
    decisions = [policy.update(e, s, s, f"e{e}") for e, s in enumerate([0.6, 0.6, 0.7, 0.7])]
    assert [d.is_new_best for d in decisions] == [True, False, True, False]
    assert policy.best is not None and policy.best.epoch == 2


def test_min_mode_for_loss_monitor() -> None:
    policy = TopKPolicy(k=2, monitor="val/loss")
    assert policy.mode == "min" and policy.metric == "loss"
    ranks = run_policy(policy, [0.7, 0.5, 0.6, 0.4, 0.8])
    assert ranks == [1, 1, 2, 1, None]
    assert kept_epochs(policy) == {1, 3}


def test_keep_all_and_keep_none() -> None:
    keep_all = TopKPolicy(k=-1)
    assert run_policy(keep_all, [0.1, 0.3, 0.2]) == [1, 1, 2]
    assert kept_epochs(keep_all) == {0, 1, 2}
    keep_none = TopKPolicy(k=0)
    decisions = [keep_none.update(e, s, s, f"e{e}") for e, s in enumerate([0.1, 0.3, 0.2])]
    assert [d.rank for d in decisions] == [None, None, None]
    assert [d.is_new_best for d in decisions] == [True, True, False]


def test_nan_ranks_below_every_number() -> None:
    policy = TopKPolicy(k=2)
    ranks = run_policy(policy, [math.nan, 0.1, 0.2])
    assert ranks == [1, 1, 1]
    assert kept_epochs(policy) == {1, 2}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"k": -2}, "top_k"), ({"monitor": "val/f1"}, "monitor"), ({"mode": "avg"}, "mode")],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TopKPolicy(**kwargs)  # type: ignore[arg-type]


def test_epochs_must_increase() -> None:
    policy = TopKPolicy()
    policy.update(3, 0.5, 0.5, "e3")
    with pytest.raises(ValueError, match="already decided"):
        policy.update(3, 0.6, 0.6, "e3")


def test_state_round_trip_gives_the_same_future_decisions() -> None:
    original = TopKPolicy(k=2)
    run_policy(original, [0.5, 0.7, 0.6])
    restored = TopKPolicy.from_dict(json.loads(json.dumps(original.to_dict())))
    for policy in (original, restored):
        policy.update(3, 0.65, 0.65, "e3")
    assert original.to_dict() == restored.to_dict()


def test_file_names() -> None:
    keras = CheckpointFiles.for_run(Path("run"), "keras", "all_4dir")
    assert keras.directory == Path("run/checkpoints")
    assert keras.epoch_filename(3, 0.61234) == "keras-all_4dir-epoch=003-val_acc=0.6123.weights.h5"
    assert keras.best_filename == "best.weights.h5"
    assert keras.last_filename == "last.weights.h5"
    assert keras.periodic_filename(9) == "keras-all_4dir-periodic-epoch=009.weights.h5"
    lightning = CheckpointFiles.for_run(Path("run"), "lightning", "all_4dir")
    assert lightning.epoch_filename(12, 1.0) == "lightning-all_4dir-epoch=012-val_acc=1.0000.ckpt"
    assert lightning.fallback_directory == Path("run/checkpoints_fallback")
    with pytest.raises(ValueError, match="framework"):
        CheckpointFiles(Path("x"), "jax", "d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dataset"):
        CheckpointFiles(Path("x"), "keras", "a{b}")


def format_like_lightning(template: str, metrics: dict[str, float]) -> str:
    """ModelCheckpoint's formatting with auto_insert_metric_name=False: each ``{name`` group
    becomes ``{0[name]`` and the template is formatted with the metrics dict, then
    ``FILE_EXTENSION`` (".ckpt") is appended."""
    for group in sorted(re.findall(r"(\{.*?)[:\}]", template), key=len, reverse=True):
        template = template.replace(group, "{0[" + group[1:] + "]")
    return template.format(metrics) + ".ckpt"


def test_lightning_kwargs_reproduce_names_and_policy(tmp_path: Path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "lightning", "all_4dir")
    kwargs = lightning_checkpoint_kwargs(files, TopKPolicy(k=4))
    assert kwargs == {
        "dirpath": str(tmp_path / "checkpoints"),
        "filename": "lightning-all_4dir-epoch={epoch:03d}-val_acc={val/accuracy:.4f}",
        "monitor": "val/accuracy",
        "mode": "max",
        "save_top_k": 4,
        "save_last": True,
        "auto_insert_metric_name": False,
        "enable_version_counter": False,
    }
    for epoch, accuracy in [(0, 0.5), (7, 0.61235), (123, 0.99999)]:
        name = format_like_lightning(kwargs["filename"], {"epoch": epoch, "val/accuracy": accuracy})
        assert name == files.epoch_filename(epoch, accuracy)
    periodic = lightning_periodic_checkpoint_kwargs(files, 5)
    assert periodic["every_n_epochs"] == 5 and periodic["save_top_k"] == -1
    assert format_like_lightning(periodic["filename"], {"epoch": 4}) == files.periodic_filename(4)


def test_state_store_restores_the_state_before_the_resume_epoch(tmp_path: Path) -> None:
    store = TopKStateStore(tmp_path / "topk_state.json")
    policy = TopKPolicy(k=2)
    snapshots = {}
    for epoch, score in enumerate([0.5, 0.7, 0.6, 0.8]):
        policy.update(epoch, score, score, f"e{epoch}")
        store.save(epoch, policy)
        snapshots[epoch] = policy.to_dict()
    assert store.load(3, TopKPolicy(k=2)).to_dict() == snapshots[2]
    assert store.load(0, TopKPolicy(k=2)).kept == ()
    # Re-saving epoch 2 (a resumed run) forgets the interrupted run's epoch 3.
    store.save(2, TopKPolicy.from_dict(snapshots[2]))
    assert store.load(10, TopKPolicy(k=2)).to_dict() == snapshots[2]
    with pytest.raises(ValueError, match="differ"):
        store.load(3, TopKPolicy(k=3))


def test_validations_inside_epochs_are_ordered_and_tied_by_step() -> None:
    policy = TopKPolicy(k=2)
    decisions = [
        policy.update(epoch, score, score, f"s{step}", step=step)
        for epoch, step, score in [(0, 4, 0.6), (0, 8, 0.6), (0, 11, 0.7), (1, 15, 0.6)]
    ]
    assert [d.rank for d in decisions] == [1, 2, 1, None]  # a tie: the earlier step stays
    assert [entry.step for entry in policy.ranking()] == [11, 4]
    assert policy.best is not None and (policy.best.epoch, policy.best.step) == (0, 11)
    with pytest.raises(ValueError, match="step 11 was already decided"):
        policy.update(0, 0.9, 0.9, "again", step=11)
    restored = TopKPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert restored.to_dict() == policy.to_dict()


def test_file_names_and_lightning_template_with_steps(tmp_path: Path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "lightning", "all_4dir")
    name = files.epoch_filename(1, 0.75, step=450)
    assert name == "lightning-all_4dir-epoch=001-step=000450-val_acc=0.7500.ckpt"
    template = lightning_checkpoint_kwargs(files, TopKPolicy(), by_step=True)["filename"]
    candidates = {"epoch": 1, "step": 450, "val/accuracy": 0.75}
    assert format_like_lightning(template, candidates) == name


def test_state_store_knows_the_tracker_step_a_resumed_run_starts_at(tmp_path: Path) -> None:
    store = TopKStateStore(tmp_path / "topk_state.json")
    assert store.next_step(3) == 0  # nothing stored: from the start
    for period, step in enumerate([4, 8, 11, 15]):
        store.save(period, TopKPolicy(), step=step)
    assert [store.next_step(period) for period in (1, 2, 3, 4)] == [5, 9, 12, 16]
    assert store.next_step() == 16  # after the last stored period
    by_epoch = TopKStateStore(tmp_path / "by_epoch.json")
    for epoch in range(3):
        by_epoch.save(epoch, TopKPolicy())
    assert by_epoch.next_step(2) == 2  # the epoch itself, as before
