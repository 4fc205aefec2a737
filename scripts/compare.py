"""Put finished runs side by side: per split, category and noun count, with differences
against the first run; saved as HTML (and CSV beside it) and printed, ending with the headline
(accuracy per split and run, with its 95% interval) and the paired tests.

Usage::

    python scripts/compare.py runs=[models_out/runs/<a>,models_out/runs/<b>]
    python scripts/compare.py sweep=models_out/multirun/<time> splits=[valid_comp,test]
    python scripts/compare.py sweep=models_out/multirun/<time> full=true   # every row printed

Runs are given by id (in ``<paths.output_dir>/runs``) or as run folders anywhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hydra
from omegaconf import DictConfig

from models.settings import SettingsError
from scripts._cli import (
    CONFIG_DIR,
    as_list,
    register_configs,
    report_comparison,
    reports_user_errors,
    to_plain,
)
from trainers.records.registry import Registry, RegistryError, output_root_of
from trainers.runs.comparison import sweep_run_dirs

register_configs()


@hydra.main(config_path=CONFIG_DIR, config_name="compare", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    plain = to_plain(cfg)
    output_root = Path(plain["paths"]["output_dir"])
    registry = Registry(output_root)
    if plain["sweep"]:  # a multirun folder anywhere; its jobs name their run folders
        sweep = Path(plain["sweep"]).expanduser().resolve()
        run_dirs = [registry.resolve_run(run) for run in sweep_run_dirs(sweep)]
        default_output = sweep / "comparison.html"
        lead = f"sweep {sweep.name} · {len(run_dirs)} runs"
    else:
        runs = as_list(plain["runs"])
        if not runs:
            raise RegistryError("runs: give runs=[<run id or dir>,...] or sweep=<multirun dir>")
        run_dirs = [registry.resolve_run(run) for run in runs]
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        # Beside the runs: the output root of the first run (given by id: paths.output_dir).
        default_output = output_root_of(run_dirs[0]) / "comparisons" / f"compare-{stamp}.html"
        lead = f"{len(run_dirs)} runs"
    if not isinstance(plain["full"], bool):
        raise SettingsError(f"full: must be true or false, got {plain['full']!r}")
    report_comparison(
        run_dirs,
        Path(plain["output"] or default_output),
        full=plain["full"],
        full_hint="full=true",
        splits=as_list(plain["splits"]),
        lead=lead,
    )


if __name__ == "__main__":
    main()
