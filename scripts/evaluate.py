"""Re-evaluate a run's best checkpoint with the run's own saved config, on its splits or on a
user dataset; prints the console report per split and updates ``eval/``, the manifest and the
registry.

Usage::

    python scripts/evaluate.py run=models_out/runs/<run_id> splits=[valid_comp,test]
    python scripts/evaluate.py run=<run_id> data.path=my_stories.jsonl
    python scripts/evaluate.py run=/elsewhere/runs/<run_id>     # a run folder anywhere

Words of ``data.path`` that the run never saw in training are refused, naming them and their
rows; ``allow_unknown_words=true`` evaluates anyway (they read as ``[UNK]``), with a warning.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from scripts._cli import CONFIG_DIR, as_list, register_configs, reports_user_errors, to_plain
from trainers.records.registry import Registry
from trainers.runs.pipeline import evaluate_run

register_configs()


@hydra.main(config_path=CONFIG_DIR, config_name="evaluate", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    plain = to_plain(cfg)
    run_dir = Registry(Path(plain["paths"]["output_dir"])).resolve_run(plain["run"])
    splits = tuple(as_list(plain["splits"]) or ()) or None
    results = evaluate_run(
        run_dir,
        splits,
        plain["data"]["path"],
        allow_unknown_words=bool(plain["allow_unknown_words"]),
    )
    print(f"\nEvaluated {', '.join(results)} of {run_dir}; saved under {run_dir / 'eval'}")


if __name__ == "__main__":
    main()
