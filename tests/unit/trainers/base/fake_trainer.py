"""A framework-free ModelTrainer for testing the shared base: a 'model' is a dict of one bias per
category, trained by a deterministic update, checkpointed as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from trainers.base import ModelTrainer
from trainers.checkpoints import CheckpointManager
from trainers.config import Hyperparams
from trainers.epoch import EpochClock
from trainers.errors import CheckpointError, ResumeError
from trainers.results import FitRequest, FitSummary, ResumePoint


class FakeTrainer(ModelTrainer):
    FRAMEWORK: ClassVar = "keras"

    #: Raise this exception at the start of the given epoch (validation period; set by tests).
    fail_at: tuple[int, BaseException] | None = None

    def build_model(self, hyperparams: Hyperparams | Mapping[str, Any], vocab_size: int) -> Any:
        self.seed_everything()
        return {"w": float(np.random.default_rng(self.seed).normal()), "vocab_size": vocab_size}

    def _scores(self, model: dict[str, Any], data: Any) -> np.ndarray:
        raw = model["w"] * (data.story_lengths - data.story_lengths.mean()) / 50.0
        return 1.0 / (1.0 + np.exp(-raw))

    def predict(
        self, model: Any, data: Any, *, progress: Callable[[int], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        probs = np.clip(self._scores(model, data), 1e-6, 1 - 1e-6)
        labels = data.labels.astype(float)
        losses = -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))
        if progress is not None:
            progress(len(probs))
        return probs, losses

    def load_checkpoint(self, model: Any, path: str | Path) -> Any:
        try:
            model.update(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{path}: {error}") from None
        return model

    def _seed_framework(self, seed: int) -> None:
        """Nothing beyond Python and NumPy."""

    def _fit(self, request: FitRequest) -> FitSummary:
        model = request.model
        start = 0 if request.resume is None else request.resume.period
        if request.resume is not None:
            self.load_checkpoint(model, request.resume.checkpoint)
        manager = CheckpointManager(
            request.files, lambda path: Path(path).write_text(json.dumps(model))
        )
        ticks = iter(range(1_000_000))
        clock = EpochClock(lambda: float(next(ticks)))  # deterministic: histories compare equal
        periods = request.schedule.periods(request.epochs)
        for epoch in range(start, periods):
            clock.start()
            if self.fail_at is not None and self.fail_at[0] == epoch:
                raise self.fail_at[1]
            model["w"] += 0.3 * (1 if epoch % 3 else -1)
            probs, losses = self.predict(model, request.train_data)
            train_acc = float(((probs > 0.5) == request.train_data.labels).mean())
            clock.training_done()
            val_probs, val_losses = self.predict(model, request.val_data)
            outcome = request.routine(
                epoch,
                float(losses.mean()),
                train_acc,
                request.val_data.labels,
                val_probs,
                request.metadata_val,
                losses=val_losses,
                stats=clock.stats(learning_rate=0.3),
            )
            manager.apply(outcome.decision, request.schedule.period(epoch).ends_epoch)
        return self.fit_summary(periods, False, "cpu", "32")

    def _resume_point(self) -> ResumePoint:
        last = self.files.directory / self.files.last_filename
        if not last.exists():
            raise ResumeError(f"{self.run_dir}: no {last.name}")
        state = json.loads(self.files.state_path.read_text())
        return ResumePoint(last, max(int(k) for k in state["epochs"]) + 1)

    def libraries(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def parameter_counts(self, model: Any) -> tuple[int, int] | None:
        return 1, 1  # the weight w


HP = Hyperparams.of("lstm", name="fake", hidden=8)
