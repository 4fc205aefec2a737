"""Per-example predictions of a run's best checkpoint, for error analysis: a JSONL file (story,
question, label, probability, correct, category, noun_count), an index by category and noun
count, and the model summary.

Usage::

    python scripts/diagnose.py run=models_out/runs/<run_id> split=test
    python scripts/diagnose.py run=<run_id> data.path=mine.jsonl split=mine allow_unknown_words=true
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from scripts._cli import CONFIG_DIR, register_configs, reports_user_errors, to_plain
from trainers.records.registry import Registry
from trainers.runs.pipeline import diagnose_run

register_configs()


@hydra.main(config_path=CONFIG_DIR, config_name="diagnose", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    plain = to_plain(cfg)
    run_dir = Registry(Path(plain["paths"]["output_dir"])).resolve_run(plain["run"])
    folder = diagnose_run(
        run_dir,
        plain["split"],
        plain["data"]["path"],
        allow_unknown_words=bool(plain["allow_unknown_words"]),
    )
    index = json.loads((folder / "index.json").read_text())
    worst = sorted(index["groups"].items(), key=lambda item: item[1]["accuracy"])[:5]
    print(f"{index['examples']} examples, accuracy {index['accuracy']:.4f}; weakest groups:")
    for key, group in worst:
        print(f"  - {key}: accuracy {group['accuracy']:.4f} ({group['examples']} examples)")
    print(f"\nWritten: {folder}/predictions.jsonl, index.json, model_summary.txt")


if __name__ == "__main__":
    main()
