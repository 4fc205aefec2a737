"""Train on a slice of tiny all_4dir with a given Lightning strategy; write what was seen.

Usage: python ddp_script.py OUTPUT_ROOT RUN_DIR STRATEGY DEVICES [MAX_MINUTES]

Run as a script (not under pytest): ``strategy=ddp`` re-executes this file for ranks > 0.
Writes ``<RUN_DIR>/seen-rank<R>.json``: the row count and (category, noun_count) counts of every
validation epoch the routine scored (rank zero), and the result every rank returned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np

from metrics import MetricsProcessor
from stories import build_dataset
from stories.encoding import TransformerInputs
from trainers import Hyperparams, LightningTrainer, TrainerConfig
from trainers.lightning.trainer import launched_rank

N_TRAIN, N_VAL = 64, 45  # 45: not a multiple of 2 processes, so the shares are padded


class RecordingProcessor(MetricsProcessor):
    """Records how many examples of each group every scoring call saw."""

    seen: ClassVar[list[dict[str, int]]] = []

    def evaluate(self, y_true, y_prob, metadata, losses=None, examples=None):  # type: ignore[no-untyped-def]
        result = super().evaluate(y_true, y_prob, metadata, losses=losses, examples=examples)
        table = result.breakdown("category", "noun_count")
        counts = {f"{r.category}/{r.noun_count}": int(r.count) for r in table.itertuples()}
        self.seen.append({"rows": len(metadata), **counts})
        return result


def main(
    output_root: str,
    run_dir: str,
    strategy: str,
    devices: int,
    max_minutes: float | None = None,
    val_check_interval: int | None = None,
) -> None:
    ds = build_dataset("all_4dir", size="tiny", seed=0, output_dir=output_root, progress=False)
    train, val = ds.encode_transformer("train"), ds.encode_transformer("valid_a")
    rows_t, rows_v = np.arange(N_TRAIN), np.arange(N_VAL)
    train = TransformerInputs(train.input_ids[rows_t], train.lengths[rows_t], train.labels[rows_t])
    val = TransformerInputs(val.input_ids[rows_v], val.lengths[rows_v], val.labels[rows_v])
    meta_t = ds.metadata("train").iloc[rows_t].reset_index(drop=True)
    meta_v = ds.metadata("valid_a").iloc[rows_v].reset_index(drop=True)
    hp = Hyperparams.of("transformer", d_model=16, nhead=2, d_hid=32, nlayers=1, batch_size=16)
    config = TrainerConfig(
        max_epochs=2,
        top_k=2,
        progress=False,
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        num_threads=1,
        max_minutes=max_minutes,
        val_check_interval=val_check_interval,
    )
    processor = RecordingProcessor()
    trainer = LightningTrainer(
        run_dir, dataset=ds, seed=0, config=config, processor=processor, echo=lambda _: None
    )
    model = trainer.build_model(hp, len(ds.vocab))
    result = trainer.train(model, train, val, meta_t, meta_v, hp)
    trainer.close()
    record = {
        "seen": processor.seen,
        "best_epoch": result.best_epoch,
        "epochs_completed": result.epochs_completed,
        "steps": sorted({entry.step for entry in result.top_k if entry.step is not None}),
        "stopped_early": result.stopped_early,
        "top_k": [entry.filename for entry in result.top_k],
    }
    path = Path(run_dir) / f"seen-rank{launched_rank()}.json"
    path.write_text(json.dumps(record))


if __name__ == "__main__":
    minutes = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "none" else None
    interval = int(sys.argv[6]) if len(sys.argv) > 6 else None
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), minutes, interval)
