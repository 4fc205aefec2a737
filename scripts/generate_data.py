"""Generate (or reuse) a dataset version and print its summary.

Usage::

    python scripts/generate_data.py data=all_4dir data.size=tiny seed=0 paths.output_dir=OUT

``data=`` picks a preset from ``conf/data/``, ``data.<key>=`` overrides any generator setting
(see ``stories.config.DatasetConfig``), ``seed=`` the generator seed. The same request again is
a cache hit: same folder, nothing rewritten.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig

from scripts._cli import CONFIG_DIR, register_configs, reports_user_errors, to_plain
from stories import DatasetConfig
from stories.build import build_version
from stories.dataset import load_dataset

register_configs()


@hydra.main(config_path=CONFIG_DIR, config_name="generate_data", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    config = DatasetConfig.from_mapping(to_plain(cfg.data))
    start = time.perf_counter()
    folder, cached = build_version(
        config, int(cfg.seed), cfg.paths.output_dir, progress=cfg.progress
    )
    elapsed = time.perf_counter() - start
    if cached:
        print(f"Cache hit: {folder} already holds this dataset (nothing rewritten).")
    else:
        print(f"Generated {folder} in {elapsed:.1f} s.")
    print()
    print(load_dataset(folder).summary())


if __name__ == "__main__":
    main()
