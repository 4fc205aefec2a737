"""Generate (or reuse) a dataset version and print its summary.

Usage::

    python scripts/generate_data.py data=all_4dir data.size=tiny seed=0 paths.output_dir=OUT

    python scripts/generate_data.py data=all_4dir data.size=tiny format=parquet

``data=`` picks a preset from ``conf/data/``, ``data.<key>=`` overrides any generator setting
(see ``stories.config.DatasetConfig``), ``seed=`` the generator seed. The same request again is
a cache hit: same folder, nothing rewritten.

``format=parquet|jsonl|hf`` also writes the version out for other tools, with a dataset card
(``stories.export``), to ``<paths.output_dir>/exports/<version>-<format>/`` or ``out=<folder>``.
The format and the folder are checked before anything is generated: an earlier export of the
same version there is replaced, any other folder that is not empty is refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from scripts._cli import CONFIG_DIR, register_configs, reports_user_errors, to_plain
from stories import DatasetConfig
from stories.build import DATASETS_DIR, build_version, dataset_version
from stories.dataset import load_dataset
from stories.export import (
    DataExport,
    ExportError,
    check_format,
    check_target,
    default_export_dir,
    export_dataset,
)

register_configs()


@hydra.main(config_path=CONFIG_DIR, config_name="generate_data", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    config = DatasetConfig.from_mapping(to_plain(cfg.data))
    output_dir = Path(cfg.paths.output_dir)
    target = export_target(cfg, config, output_dir)
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
    dataset = load_dataset(folder)
    print(dataset.summary())
    if target is not None:
        key = "paths.output_dir" if cfg.out is None else "out"
        print_export(export_dataset(dataset, cfg.format, target, progress=cfg.progress, key=key))


def print_export(done: DataExport) -> None:
    """Say where the export went, how to load it, and how to train on it."""
    again = " (replacing the earlier export)" if done.replaced else ""
    print(
        f"\nExported {done.rows} rows as {done.format} to {done.folder}{again}: "
        f"{len(done.files())} files, card {done.folder / 'README.md'}."
    )
    print(f"Load it with: {done.how_to_load()}")
    print(f"Train on it with: python scripts/train.py data.path={done.folder}")


def export_target(cfg: DictConfig, config: DatasetConfig, output_dir: Path) -> Path | None:
    """Where ``format=`` writes the export (``None``: no export), checked before generating.

    Raises:
        ExportError: An unknown format, ``out=`` without ``format=``, or a folder that cannot
            take the export (see :func:`stories.export.check_target`).
    """
    if cfg.format is None:
        if cfg.out is not None:
            raise ExportError(
                f"out: {cfg.out} given without format=; add format=parquet, format=jsonl or "
                "format=hf"
            )
        return None
    fmt = check_format(
        OmegaConf.to_object(cfg.format) if OmegaConf.is_config(cfg.format) else cfg.format
    )
    version = dataset_version(config, int(cfg.seed))
    if cfg.out is not None:
        target, key = Path(str(cfg.out)).expanduser(), "out"
    else:
        target, key = default_export_dir(output_dir, version, fmt), "paths.output_dir"
    check_target(target, key=key, protected=output_dir / DATASETS_DIR, version=version)
    return target


if __name__ == "__main__":
    main()
