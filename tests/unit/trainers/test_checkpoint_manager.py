"""CheckpointManager: the files on disk follow the policy; failed saves fall back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trainers.checkpoints import CheckpointFiles, CheckpointManager, TopKPolicy


class Saver:
    """A save_fn writing the current epoch number; can be told to fail in a directory."""

    def __init__(self, fail_in: tuple[Path, ...] = ()):
        self.epoch = -1
        self.fail_in = fail_in
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> None:
        self.calls.append(path)
        if path.parent in self.fail_in:
            raise OSError(28, "No space left on device")
        path.write_text(str(self.epoch))


def train(manager: CheckpointManager, policy: TopKPolicy, saver: Saver, scores: list[float]):
    files = manager.files
    reports = []
    for epoch, score in enumerate(scores):
        saver.epoch = epoch
        decision = policy.update(epoch, score, score, files.epoch_filename(epoch, score))
        reports.append(manager.apply(decision))
    return reports


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def test_files_on_disk_are_the_top_k_plus_best_and_last(tmp_path: Path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "keras", "ds")
    policy, saver = TopKPolicy(k=2), Saver()
    manager = CheckpointManager(files, saver, every_n_epochs=3)
    scores = [0.50, 0.70, 0.60, 0.60, 0.65, 0.55]
    train(manager, policy, saver, scores)
    expected = {
        files.epoch_filename(1, 0.70),
        files.epoch_filename(4, 0.65),  # epoch 3 only tied epoch 2 (kept); epoch 4 evicts 2
        files.best_filename,
        files.last_filename,
        files.periodic_filename(2),
        files.periodic_filename(5),
    }
    assert listing(files.directory) == expected
    assert (files.directory / files.best_filename).read_text() == "1"
    assert (files.directory / files.last_filename).read_text() == "5"
    assert (files.directory / files.epoch_filename(4, 0.65)).read_text() == "4"
    # Epoch files are saved once; best/last/periodic are copies of a just-saved epoch file.
    assert sum(files.extension in p.name and "epoch=" in p.name for p in saver.calls) >= 4


def test_failed_save_retries_in_the_fallback_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = CheckpointFiles.for_run(tmp_path, "keras", "ds")
    saver = Saver(fail_in=(files.directory,))
    manager = CheckpointManager(files, saver)
    with caplog.at_level(logging.ERROR, logger="trainers.checkpoints"):
        reports = train(manager, TopKPolicy(k=1), saver, [0.5, 0.6])
    # save_fn fails in checkpoints/: the epoch files go to the fallback directory; best and
    # last are plain file copies of them, which succeed in checkpoints/.
    fallback = files.fallback_directory
    assert listing(fallback) == {files.epoch_filename(1, 0.6)}
    assert listing(files.directory) == {files.best_filename, files.last_filename}
    assert (files.directory / files.best_filename).read_text() == "1"
    assert reports[1].deleted == (fallback / files.epoch_filename(0, 0.5),)
    assert manager.locate(files.epoch_filename(1, 0.6)) == fallback / files.epoch_filename(1, 0.6)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert str(files.directory / files.epoch_filename(0, 0.5)) in messages
    assert "No space left on device" in messages
    assert not any(p.name.startswith(CheckpointManager.TMP_PREFIX) for p in fallback.iterdir())


def test_a_save_failing_everywhere_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "lightning", "ds")
    custom = tmp_path / "elsewhere"
    saver = Saver(fail_in=(files.directory, custom))
    manager = CheckpointManager(files, saver, fallback_directory=custom)
    reports = train(manager, TopKPolicy(k=1), saver, [0.5, 0.6, 0.7])
    assert all(report.saved == () for report in reports)
    assert reports[0].failed == (
        files.epoch_filename(0, 0.5),
        files.best_filename,
        files.last_filename,
    )
    assert listing(files.directory) == set() and listing(custom) == set()


def test_every_n_epochs_must_be_positive(tmp_path: Path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "keras", "ds")
    with pytest.raises(ValueError, match="every_n_epochs"):
        CheckpointManager(files, Saver(), every_n_epochs=0)
