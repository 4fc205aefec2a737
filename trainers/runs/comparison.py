"""Compare finished runs side by side (``scripts/compare.py``, the end of a multirun, notebooks).

A run is labelled by its model preset, with the seed when several runs share a preset and the
run id when even that is ambiguous. Runs are found by id or path (see
:meth:`trainers.records.registry.Registry.resolve_run`) or as the jobs of a Hydra multirun folder.

Example::

    comparison = compare_runs(["models_out/runs/lstm-...", "models_out/runs/transformer-..."])
    print(comparison.console_summary())   # the headline and the paired tests
    save_comparison(comparison, Path("models_out/comparisons/c.html"), run_dirs)
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from metrics.compare import Comparison, compare_results, load_split_results, ordered_splits
from trainers.records.manifest import RunManifest
from trainers.records.registry import RegistryError

if TYPE_CHECKING:
    import pandas as pd

    from metrics import EvaluationResult

#: File a multirun job writes in its Hydra job folder: the path of its run directory.
JOB_RUN_FILE = "run_dir.txt"


def run_labels(manifests: Sequence[RunManifest]) -> list[str]:
    """Short unique labels: ``model``, else ``model-s<seed>``, else ``model-s<seed>-<run id>``."""
    models = Counter(m.model for m in manifests)
    seeded = Counter((m.model, m.seed) for m in manifests)
    labels = []
    for manifest in manifests:
        if models[manifest.model] == 1:
            labels.append(manifest.model)
        elif seeded[(manifest.model, manifest.seed)] == 1:
            labels.append(f"{manifest.model}-s{manifest.seed}")
        else:
            labels.append(f"{manifest.model}-s{manifest.seed}-{manifest.run_id}")
    return labels


def sweep_run_dirs(sweep_dir: str | Path) -> list[Path]:
    """The run directories of a Hydra multirun folder's jobs, in job order, each once (a
    continued search may run an interrupted trial's job again under a new number).

    Raises:
        RegistryError: When the folder holds no finished job.
    """
    sweep = Path(sweep_dir)
    files = sorted(sweep.glob(f"*/{JOB_RUN_FILE}"), key=lambda p: _job_number(p.parent.name))
    if not files:
        raise RegistryError(
            f"sweep={sweep}: no job folder with {JOB_RUN_FILE}; give the multirun folder "
            "(models_out/multirun/<time>) of a finished `train.py -m` sweep"
        )
    runs = [Path(f.read_text(encoding="utf-8").strip()) for f in files]
    return list(dict.fromkeys(runs))


def _job_number(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (-1, name)


def compare_runs(run_dirs: Sequence[str | Path], splits: Sequence[str] | None = None) -> Comparison:
    """Evaluations of several runs side by side (per split, category and noun count), with
    differences against the first run and, for runs on the same dataset version, a paired
    test of each against the first.

    Args:
        run_dirs: Run directories (each with ``manifest.json`` and ``eval/``).
        splits: Splits to keep; default every evaluated split.

    Raises:
        RegistryError: A run that is not finished, has no evaluation yet, or lacks a
            requested split, naming it.
    """
    if len(run_dirs) < 1:
        raise RegistryError("runs: give at least one run to compare")
    manifests = [RunManifest.load(run_dir) for run_dir in run_dirs]
    results = {}
    datasets = {}
    for label, manifest in zip(run_labels(manifests), manifests, strict=True):
        datasets[label] = str(manifest.dataset.get("version", ""))
        if manifest.status != "finished":
            raise RegistryError(
                f"run {manifest.run_id} is {manifest.status}, not finished; only finished runs "
                f"can be compared (resume it: python scripts/train.py resume={manifest.run_dir})"
            )
        eval_dir = manifest.run_dir / "eval"
        if not eval_dir.is_dir():
            raise RegistryError(
                f"run {manifest.run_id} has no evaluation (status {manifest.status}); "
                f"evaluate it first: python scripts/evaluate.py run={manifest.run_dir}"
            )
        try:
            by_split = load_split_results(eval_dir)
        except (ValueError, KeyError) as error:  # no or damaged evaluation.json
            raise RegistryError(
                f"run {manifest.run_id}: cannot read its evaluation ({error}); evaluate it "
                f"again: python scripts/evaluate.py run={manifest.run_dir}"
            ) from None
        missing = [split for split in splits or () if split not in by_split]
        if missing:
            raise RegistryError(
                f"splits: {missing} not evaluated in run {manifest.run_id}; it has "
                f"{sorted(by_split)}"
            )
        results[label] = {s: r for s, r in by_split.items() if splits is None or s in splits}
    return compare_results(results, datasets=datasets)


def progressive_difficulty(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Accuracy by model, category and noun count over every evaluated split but ``train``,
    pooling the runs of one model preset (e.g. its seeds): the data of the
    progressive-difficulty plot (:func:`metrics.plots.progressive_difficulty_png`).

    Args:
        run_dirs: Finished, evaluated runs (as for :func:`compare_runs`).
    """
    from metrics.plots import difficulty_table

    runs: dict[str, list[dict[str, EvaluationResult]]] = {}
    for run_dir in run_dirs:
        manifest = RunManifest.load(run_dir)
        runs.setdefault(manifest.model, []).append(load_split_results(manifest.run_dir / "eval"))
    return difficulty_table(runs)


def seed_summary(run_dirs: Sequence[str | Path], metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` on each split as mean and standard deviation over the runs of each model
    preset and dataset (e.g. the seeds of a sweep), from the runs' manifests.

    Args:
        run_dirs: Finished, evaluated runs.
        metric: An overall score of the evaluation (``accuracy``, ``loss``, ``roc_auc``...).

    Returns:
        One row per (model, dataset version): ``model, dataset, runs``, then ``<split> mean`` and
        ``<split> std`` (sample standard deviation; NaN for a single run) per split.
    """
    import pandas as pd

    rows = []
    for run_dir in run_dirs:
        manifest = RunManifest.load(run_dir)
        row: dict[str, object] = {
            "model": manifest.model,
            "dataset": manifest.dataset.get("version") or manifest.dataset.get("name", ""),
        }
        for split, scores in manifest.evaluation.items():
            if metric in scores:
                row[split] = scores[metric]
        rows.append(row)
    frame = pd.DataFrame(rows)
    splits = ordered_splits(set(frame.columns) - {"model", "dataset"})
    grouped = frame.groupby(["model", "dataset"], sort=False)
    summary = grouped.size().rename("runs").to_frame()
    for split in splits:
        summary[f"{split} mean"] = grouped[split].mean()
        summary[f"{split} std"] = grouped[split].std()
    return summary.reset_index()


def format_seed_summary(summary: pd.DataFrame) -> str:
    """The summary as text, each split as ``mean ± std``.

    Example:
        >>> import pandas as pd
        >>> summary = pd.DataFrame({"model": ["lstm"], "dataset": ["all_4dir"], "runs": [3],
        ...                         "test mean": [0.5123], "test std": [0.0101]})
        >>> print(format_seed_summary(summary))
        model  dataset   runs  test
        lstm   all_4dir  3     0.512 ± 0.010
    """
    table = seed_summary_frame(summary).astype(str)
    widths = {c: max(len(c), *(len(v) for v in table[c])) for c in table.columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in table.columns).rstrip()]
    lines += [
        "  ".join(v.ljust(widths[c]) for c, v in zip(table.columns, values, strict=True)).rstrip()
        for values in table.itertuples(index=False)
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class ComparisonFiles:
    """What :func:`save_comparison` wrote.

    Attributes:
        html: The page (``<name>.html``).
        csv: Every row (``<name>.csv``).
        others: The other files beside them: the headline, the paired tests, the seed
            summary, the plot and its data (those that apply).
    """

    html: Path
    csv: Path
    others: tuple[Path, ...] = ()

    @property
    def all(self) -> tuple[Path, ...]:
        """Every file written."""
        return (self.html, self.csv, *self.others)


def save_comparison(
    comparison: Comparison, path: Path, run_dirs: Sequence[str | Path], lead: str = ""
) -> ComparisonFiles:
    """Save a comparison of finished runs beside ``path``: the page
    (:func:`metrics.report.write_comparison_page`: the headline, the paired tests and the
    plot first, the runs linking to their reports, the breakdowns folded below), every row
    as CSV (``<name>.csv``), the headline (``<name>-headline.csv``), the paired tests
    (``<name>-paired.csv``), the mean ± std over seeds when a model ran more than once
    (``<name>-seeds.csv``) and the accuracy-by-noun-count plot with its data.

    Args:
        comparison: The comparison (:func:`compare_runs` of ``run_dirs``).
        path: The page to write (``<sweep dir>/comparison.html``).
        run_dirs: The compared runs, in the comparison's order.
        lead: One line under the page's title.
    """
    from metrics.plots import DIFFICULTY_FILE, progressive_difficulty_png
    from metrics.report import ComparedRun, write_comparison_page

    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.stem
    others: list[Path] = []
    files: dict[str, str] = {"every row (CSV)": f"{stem}.csv"}
    headline = path.with_name(f"{stem}-headline.csv")
    comparison.headline_frame().to_csv(headline, index=False)
    others.append(headline)
    files["headline (CSV)"] = headline.name
    if comparison.paired:
        paired = path.with_name(f"{stem}-paired.csv")
        comparison.paired_frame().to_csv(paired, index=False)
        others.append(paired)
        files["paired tests (CSV)"] = paired.name
    summary = seed_summary(run_dirs)
    seeds = None
    if (summary["runs"] > 1).any():
        seeds_file = path.with_name(f"{stem}-seeds.csv")
        summary.to_csv(seeds_file, index=False)
        others.append(seeds_file)
        files["mean ± std over seeds (CSV)"] = seeds_file.name
        seeds = seed_summary_frame(summary)
    difficulty = progressive_difficulty(run_dirs)
    png = progressive_difficulty_png(difficulty)
    plot = None
    if png is not None:
        plot_file = path.with_name(f"{stem}-{DIFFICULTY_FILE}")
        plot_file.write_bytes(png)
        difficulty.to_csv(plot_file.with_suffix(".csv"), index=False)
        others += [plot_file, plot_file.with_suffix(".csv")]
        plot = plot_file.name
        files["accuracy by noun count (CSV)"] = plot_file.with_suffix(".csv").name
    manifests = [RunManifest.load(run_dir) for run_dir in run_dirs]
    labels = run_labels(manifests)
    curves = _save_learning_curves(path, dict(zip(labels, manifests, strict=True)))
    if curves is not None:
        others += list(curves)
        files["learning curves (CSV)"] = curves[1].name
    runs = [
        ComparedRun(
            label=label,
            run_id=manifest.run_id,
            model=manifest.model,
            seed=manifest.seed,
            dataset=str(manifest.dataset.get("version") or manifest.dataset.get("name", "")),
            report=_relative_link(manifest.run_dir / "report.html", path.parent),
            best_epoch=manifest.best.get("epoch"),
            best_val_accuracy=manifest.best.get("val_accuracy"),
        )
        for label, manifest in zip(labels, manifests, strict=True)
    ]
    csv = path.with_suffix(".csv")
    comparison.to_frame().to_csv(csv, index=False)
    page = write_comparison_page(
        path,
        comparison,
        runs,
        plot=plot,
        curves=curves[0].name if curves else None,
        seeds=seeds,
        files=files,
        lead=lead,
    )
    return ComparisonFiles(html=page, csv=csv, others=tuple(others))


def _save_learning_curves(
    path: Path, manifests: Mapping[str, RunManifest]
) -> tuple[Path, Path] | None:
    """``<name>-learning_curves.png`` and its data (``.csv``): each run's validation accuracy
    by epoch and by minutes of training; ``None`` when no run logged one."""
    from metrics.history import epoch_history
    from metrics.plots import LEARNING_CURVES_FILE, learning_curves_png, learning_curves_table

    histories = {
        label: epoch_history(manifest.run_dir / "metrics.jsonl")
        for label, manifest in manifests.items()
        if (manifest.run_dir / "metrics.jsonl").is_file()
    }
    table = learning_curves_table(histories)
    png = learning_curves_png(table)
    if png is None:
        return None
    plot = path.with_name(f"{path.stem}-{LEARNING_CURVES_FILE}")
    plot.write_bytes(png)
    table.to_csv(plot.with_suffix(".csv"), index=False)
    return plot, plot.with_suffix(".csv")


def _relative_link(target: Path, start: Path) -> str | None:
    """A link from a page in ``start`` to ``target`` (relative, ``/``-separated); ``None``
    when ``target`` does not exist."""
    if not target.is_file():
        return None
    try:
        return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return target.resolve().as_uri()


def seed_summary_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`seed_summary` for display: ``model, dataset, runs`` and one ``mean ± std``
    column per split."""
    import pandas as pd

    table = summary[["model", "dataset", "runs"]].copy()
    for column in summary.columns:
        if column.endswith(" mean"):
            split = column.removesuffix(" mean")
            table[split] = [
                f"{mean:.3f} ± {std:.3f}" if std == std else f"{mean:.3f}"
                for mean, std in zip(summary[column], summary[f"{split} std"], strict=True)
            ]
    return pd.DataFrame(table)
