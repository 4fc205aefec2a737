"""Trainer throughput at scale: each trainer on a large version against the ``default`` size,
side by side.

Two runs of the same trainer, the same model and settings, differ only in the training split:
the ``default`` size's against a version of ten times the :data:`scripts.bench.data.SCALE`
stories (1,000,000 in a full run). A throughput that falls with the data would show here:
orders computed over a larger split, arrays read from a larger file, memory growing. Each run
validates every :attr:`ScaleSettings.interval` steps (``trainer.val_check_interval``) on the
same 500 validation rows, and each validation's console line ends a trial, so that a trial is
the same amount of work on both sides however long an epoch is: ``interval`` training steps,
one validation pass, the routine and the checkpoints. The two runs go in turns
(:func:`scripts.bench.trials.run_together`), and the ratio is the median of the pairs'
``default seconds / large seconds`` in CPU time, with its 95% interval; the goal (no slowdown
from size) is met when its lower end clears 0.9.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Literal

from scripts.bench.common import BenchmarkRow, estimate_row, head, paired_ratio
from scripts.bench.stats import Goal
from scripts.bench.trials import OwnProcess, Paired, Ticker, run_together

SECTION = "data"
GOAL = Goal(0.90)
THREADS = 1
Framework = Literal["lightning", "keras"]
FRAMEWORKS: tuple[Framework, ...] = ("lightning", "keras")
#: The model each framework trains here (its preset).
MODELS: dict[Framework, str] = {"lightning": "transformer", "keras": "lstm"}


@dataclasses.dataclass(frozen=True)
class ScaleSettings:
    """Sizes of one framework's comparison.

    Attributes:
        interval: Training steps per trial (``trainer.val_check_interval``).
        val_rows: Rows of ``valid_a`` validated after each trial (the first ones).
        pairs: Timed trials per side, in pairs (at least).
        warmup: Untimed first trials per side.
        spread: More pairs are taken until the ratio's interval is within ``median ±
            spread`` (``None``: exactly ``pairs``).
        max_pairs: The most pairs taken.
    """

    interval: int
    val_rows: int
    pairs: int
    warmup: int = 2
    spread: float | None = None
    max_pairs: int | None = None

    @property
    def trials(self) -> int:
        """The most trials a side may be asked for."""
        return self.warmup + max(self.pairs, self.max_pairs or 0)


#: Keyed by ``--quick``; the LSTM's batches are four times the Transformer's.
SETTINGS: dict[bool, dict[Framework, ScaleSettings]] = {
    False: {
        "lightning": ScaleSettings(40, 500, pairs=12, spread=0.04, max_pairs=30),
        "keras": ScaleSettings(10, 500, pairs=12, spread=0.04, max_pairs=30),
    },
    True: {  # six pairs: the fewest that give a 95% interval
        "lightning": ScaleSettings(5, 140, pairs=6, warmup=1),
        "keras": ScaleSettings(2, 140, pairs=6, warmup=1),
    },
}


def trainer_side(
    turns: Ticker, framework: Framework, dataset_dir: str, settings: ScaleSettings
) -> None:
    """A run of ``framework``'s trainer on the version in ``dataset_dir``, long enough for
    :attr:`ScaleSettings.trials` validations; ticks before training and at each validation's
    line."""
    from stories import load_dataset
    from trainers import Hyperparams, KerasTrainer, LightningTrainer, TrainerConfig
    from trainers.batching import steps_per_epoch

    ds = load_dataset(dataset_dir)
    hp = Hyperparams.of(MODELS[framework])
    encode = ds.encode_transformer if framework == "lightning" else ds.encode_lstm
    train, val = encode("train"), head(encode("valid_a"), settings.val_rows)
    meta_train, meta_val = ds.metadata("train"), ds.metadata("valid_a").iloc[: settings.val_rows]
    steps = steps_per_epoch(len(train), hp.training.batch_size)
    config = TrainerConfig(
        max_epochs=math.ceil((settings.trials + 1) * settings.interval / steps) + 1,
        val_check_interval=settings.interval,
        top_k=1,
        progress=False,
        num_threads=THREADS,
    )
    trainer_class = LightningTrainer if framework == "lightning" else KerasTrainer
    with tempfile.TemporaryDirectory() as tmp:
        trainer = trainer_class(
            Path(tmp) / "runs" / "bench", dataset=ds, seed=0, config=config, echo=turns.tick
        )
        model = trainer.build_model(hp, len(ds.vocab))
        turns.tick()
        trainer.train(model, train, val, meta_train, meta_val, hp)
        trainer.close()


def compare(
    framework: Framework, default_dir: str, large_dir: str, large_stories: int, quick: bool
) -> list[BenchmarkRow]:
    """Rows of one framework's comparison: the large version's throughput over the default
    size's (goal at least :data:`GOAL`)."""
    settings = SETTINGS[quick][framework]
    enough = None
    if settings.spread is not None:
        spread = settings.spread

        def enough(paired: Paired) -> bool:
            return paired_ratio(paired.second, paired.first).spread <= spread

    large = f"{framework}, {large_stories:,} stories"
    paired = run_together(
        OwnProcess(large, trainer_side, framework, large_dir, settings),
        OwnProcess(f"{framework}, default size", trainer_side, framework, default_dir, settings),
        pairs=settings.pairs,
        warmup=settings.warmup,
        enough=enough,
        max_pairs=settings.max_pairs,
    )
    ratio = paired_ratio(paired.second, paired.first)
    model = MODELS[framework]
    note = (
        f"{model} preset, {THREADS} thread(s); a trial is {settings.interval} training steps "
        f"and a validation of {settings.val_rows} rows (trainer.val_check_interval); CPU time, "
        f"median of {len(paired.first)} pairs after {settings.warmup} warm-up"
    )
    return [
        estimate_row(
            SECTION,
            f"{framework} trainer throughput, {large_stories:,} / default train stories",
            ratio,
            "x",
            goal=GOAL,
            note=note,
        )
    ]
