"""Export a finished run's model as a self-contained folder: the model in a format a plain
runtime loads, the run's ``vocab.json`` and ``model_card.md``.

Usage::

    python scripts/export.py run=<run_id> format=onnx          # or torchscript (PyTorch models)
    python scripts/export.py run=<run_id> format=[keras,saved_model]          # Keras models
    python scripts/export.py run=<run_id>                # every format that holds the model

Writes ``<run>/export/<format>/``. Every export is loaded back and checked against the run's
probabilities before it is kept; a format that cannot hold the model is refused with the reason
and the format that works.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from scripts._cli import CONFIG_DIR, as_list, register_configs, reports_user_errors, to_plain
from trainers.records.registry import Registry

register_configs()
logger = logging.getLogger(__name__)


@hydra.main(config_path=CONFIG_DIR, config_name="export", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    from trainers.runs.export import export_run

    plain = to_plain(cfg)
    run_dir = Registry(Path(plain["paths"]["output_dir"])).resolve_run(plain["run"])
    report = export_run(run_dir, as_list(plain["format"]), checkpoint=plain["checkpoint"])
    for name, reason in report.refused.items():
        logger.warning("format=%s cannot hold this model: %s", name, reason)
    for done in report.exported:
        limits = "".join(f"\n    limit: {limit}" for limit in done.limits)
        print(
            f"{done.format}: {done.folder} ({', '.join(done.files)}, vocab.json, model_card.md); "
            f"checked on {done.rows_checked} rows of the run's data, largest difference "
            f"{done.max_difference:.1e}{limits}"
        )


if __name__ == "__main__":
    main()
