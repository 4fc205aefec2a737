"""``MetricsProcessor`` turns predictions into an :class:`EvaluationResult`.

Both trainers call this one class (per epoch on the validation split, and for the final
evaluation of every split), so the two frameworks are scored by the same code. The numbers
come from :mod:`metrics.functional`; this module holds the class API and the result type.

Example:
    >>> import pandas as pd
    >>> meta = pd.DataFrame({"category": ["simple", "simple", "dense", "dense"],
    ...                      "noun_count": [2, 3, 2, 2]})
    >>> result = MetricsProcessor().evaluate([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.3], meta)
    >>> result.accuracy, result.roc_auc
    (0.75, 1.0)
    >>> result.breakdown("category").to_dict(orient="list")
    {'category': ['dense', 'simple'], 'accuracy': [0.5, 1.0], 'count': [2, 2]}
    >>> result.as_namespaces("eval/test")["eval/test/by_category/dense/accuracy"]
    0.5
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrics import functional as F
from metrics import namespaces as ns
from metrics import report
from metrics.plots import DEFAULT_SPLIT_RANGES

#: File names written by :meth:`EvaluationResult.save`.
EVALUATION_FILE = "evaluation.json"
BREAKDOWN_FILE = "breakdown.csv"
MISCLASSIFIED_FILE = "misclassified.jsonl"
PLOTS_DIR = "plots"
SCHEMA_VERSION = 1

Breakdown = tuple[str, ...]
BreakdownSpec = Iterable[Sequence[str] | str]
Examples = pd.DataFrame | Sequence[Mapping[str, Any]]

#: The breakdown the console report lists when it is configured.
CONSOLE_BREAKDOWN: Breakdown = ("category", "noun_count")


def normalise_breakdowns(breakdowns: BreakdownSpec) -> tuple[Breakdown, ...]:
    """Validate breakdowns: a bare string is a one-column breakdown; duplicates are refused.

    Example:
        >>> normalise_breakdowns(["category", ("category", "noun_count")])
        (('category',), ('category', 'noun_count'))
    """
    normalised: list[Breakdown] = []
    for item in breakdowns:
        keys = (item,) if isinstance(item, str) else tuple(item)
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise ValueError(f"a breakdown must be one or more column names, got {item!r}")
        if len(set(keys)) != len(keys):
            raise ValueError(f"breakdown {keys} repeats a column")
        if keys in normalised:
            raise ValueError(f"breakdown {keys} is given twice")
        normalised.append(keys)
    return tuple(normalised)


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Everything measured on one set of predictions.

    Attributes:
        n_samples: Number of predictions.
        loss: Mean per-example loss if given, else binary cross-entropy of the clipped
            probabilities.
        accuracy: Fraction of correct predictions at ``threshold``.
        precision: Positive-class precision (0.0 when nothing is predicted positive).
        recall: Positive-class recall (0.0 when there are no positive labels).
        f1: Positive-class F1 (0.0 when precision and recall are both undefined or 0).
        roc_auc: ROC-AUC, ``None`` when undefined (a single class in ``y_true``).
        confusion: Confusion-matrix counts.
        breakdowns: ``{keys: frame}``; each frame has columns ``*keys, accuracy, count``, one
            row per non-empty group, sorted by the keys.
        misclassified: Wrong predictions, most confident first (see
            :func:`metrics.functional.misclassified_examples`).
        threshold: A probability strictly above it is predicted positive.
    """

    n_samples: int
    loss: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    confusion: F.ConfusionMatrix
    breakdowns: Mapping[Breakdown, pd.DataFrame] = field(repr=False)
    misclassified: pd.DataFrame = field(repr=False)
    threshold: float = F.DEFAULT_THRESHOLD

    # --- access ---------------------------------------------------------------------------

    def scores(self) -> dict[str, float]:
        """Overall metrics in ``namespaces.EVAL_METRICS`` order; ``roc_auc`` absent if
        undefined."""
        return {name: value for name, value in self._overall().items() if value is not None}

    def _overall(self) -> dict[str, float | None]:
        # Overall metrics by their ``namespaces.EVAL_METRICS`` names (attributes of the same name).
        return {name: getattr(self, name) for name in ns.EVAL_METRICS}

    def breakdown(self, *keys: str) -> pd.DataFrame:
        """The table of one breakdown, e.g. ``result.breakdown("category", "noun_count")``."""
        try:
            return self.breakdowns[tuple(keys)]
        except KeyError:
            raise ValueError(
                f"no breakdown {tuple(keys)}; available: {list(self.breakdowns)}"
            ) from None

    def correct_mask(self) -> F.BoolArray | None:
        """Which examples were predicted right, by position: from :attr:`misclassified`, so
        ``None`` when that table is not complete (e.g. ``misclassified.jsonl`` is missing).

        Example:
            >>> meta = pd.DataFrame({"category": ["dense"] * 3})
            >>> result = MetricsProcessor(breakdowns=["category"]).evaluate(
            ...     [1, 0, 1], [0.9, 0.8, 0.2], meta)
            >>> result.correct_mask().tolist()
            [True, False, False]
        """
        wrong = self.confusion.fp + self.confusion.fn
        if "position" not in self.misclassified or len(self.misclassified) != wrong:
            return None
        mask = np.ones(self.n_samples, dtype=bool)
        mask[self.misclassified["position"].to_numpy(dtype=np.int64)] = False
        return mask

    def report_breakdown(self) -> Breakdown | None:
        """The breakdown the console report lists: ``(category, noun_count)`` if present,
        else the finest configured one (most keys, first on ties); ``None`` if there are none.
        """
        if CONSOLE_BREAKDOWN in self.breakdowns:
            return CONSOLE_BREAKDOWN
        return max(self.breakdowns, key=len, default=None)

    def to_frame(self) -> pd.DataFrame:
        """All breakdowns as one long, tidy frame.

        Columns: ``breakdown`` (``by_category``...), ``group`` (the label the console and the
        trackers use, e.g. ``dense/noun_15``), one column per key column of any breakdown
        (``<NA>`` where a breakdown does not use it), ``accuracy``, ``count``.
        """
        frames = []
        for keys, table in self.breakdowns.items():
            labelled = table.copy()
            labelled.insert(0, "breakdown", ns.breakdown_name(keys))
            labelled.insert(1, "group", _group_labels(keys, table))
            frames.append(labelled)
        key_columns = list(dict.fromkeys(key for keys in self.breakdowns for key in keys))
        columns = ["breakdown", "group", *key_columns, "accuracy", "count"]
        if not frames:
            return pd.DataFrame(columns=columns)
        long = pd.concat(frames, ignore_index=True)[columns]
        for key in key_columns:
            long[key] = long[key].convert_dtypes()
        return long

    # --- rendering --------------------------------------------------------------------------

    def console_report(self) -> str:
        """The console report both frameworks print (see :func:`metrics.report.console_report`)."""
        return report.console_report(self)

    def _repr_html_(self) -> str:
        return report.evaluation_html(self)

    # --- tracker fields ---------------------------------------------------------------------

    def as_namespaces(self, prefix: str) -> dict[str, float | int]:
        """Flat tracker fields under ``prefix``: overall metrics, and accuracy and count per group.

        Args:
            prefix: e.g. ``namespaces.eval_prefix("test")`` (``"eval/test"``).

        Example:
            >>> import pandas as pd
            >>> result = MetricsProcessor(breakdowns=["category"]).evaluate(
            ...     [1, 0], [0.8, 0.6], pd.DataFrame({"category": ["dense", "dense"]}))
            >>> fields = result.as_namespaces("eval/test")
            >>> list(fields)
            ['eval/test/loss', 'eval/test/accuracy', 'eval/test/precision', 'eval/test/recall', \
'eval/test/f1', 'eval/test/roc_auc', 'eval/test/by_category/dense/accuracy', \
'eval/test/by_category/dense/count']
            >>> fields["eval/test/by_category/dense/count"]
            2
        """
        fields: dict[str, float | int] = {
            ns.prefixed_metric(prefix, name): value for name, value in self.scores().items()
        }
        for keys, values, accuracy, count in self._groups():
            fields[ns.prefixed_breakdown(prefix, keys, values, "accuracy")] = accuracy
            fields[ns.prefixed_breakdown(prefix, keys, values, "count")] = count
        return fields

    def epoch_namespaces(self, stage: str = "val") -> dict[str, float]:
        """Per-epoch tracker fields: ``metrics/<stage>/{loss,accuracy}`` and the accuracy per
        group (``metrics/val/by_category/<c>/accuracy``...), no counts."""
        fields = {
            ns.epoch_metric(stage, "loss"): self.loss,
            ns.epoch_metric(stage, "accuracy"): self.accuracy,
        }
        for keys, values, accuracy, _ in self._groups():
            fields[ns.epoch_breakdown(keys, values, "accuracy", stage)] = accuracy
        return fields

    def _groups(self) -> Iterable[tuple[Breakdown, tuple[Any, ...], float, int]]:
        """``(keys, values, accuracy, count)`` per group, as plain Python scalars."""
        for keys, table in self.breakdowns.items():
            columns = [table[key].tolist() for key in keys]
            groups = zip(*columns, table["accuracy"].tolist(), table["count"].tolist(), strict=True)
            for *values, accuracy, count in groups:
                yield keys, tuple(values), float(accuracy), int(count)

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no misclassified rows), the content of ``evaluation.json``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "n_samples": self.n_samples,
            "threshold": self.threshold,
            **self._overall(),
            "confusion_matrix": {
                "tn": self.confusion.tn,
                "fp": self.confusion.fp,
                "fn": self.confusion.fn,
                "tp": self.confusion.tp,
            },
            "breakdowns": [
                {
                    "name": ns.breakdown_name(keys),
                    "keys": list(keys),
                    "groups": table.to_dict(orient="records"),
                }
                for keys, table in self.breakdowns.items()
            ],
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], misclassified: pd.DataFrame | None = None
    ) -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict` output."""
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported evaluation schema_version {data.get('schema_version')!r}; "
                f"expected {SCHEMA_VERSION}"
            )
        breakdowns = {
            tuple(item["keys"]): pd.DataFrame(
                item["groups"], columns=[*item["keys"], "accuracy", "count"]
            )
            for item in data["breakdowns"]
        }
        return cls(
            n_samples=int(data["n_samples"]),
            loss=float(data["loss"]),
            accuracy=float(data["accuracy"]),
            precision=float(data["precision"]),
            recall=float(data["recall"]),
            f1=float(data["f1"]),
            roc_auc=None if data["roc_auc"] is None else float(data["roc_auc"]),
            confusion=F.ConfusionMatrix(**data["confusion_matrix"]),
            breakdowns=breakdowns,
            misclassified=_empty_misclassified() if misclassified is None else misclassified,
            threshold=float(data["threshold"]),
        )

    def save(
        self,
        directory: str | Path,
        plots: bool = True,
        split_ranges: Mapping[str, tuple[int, int]] = DEFAULT_SPLIT_RANGES,
    ) -> list[Path]:
        """Write ``evaluation.json``, ``breakdown.csv``, ``misclassified.jsonl`` and, if
        ``plots``, PNGs in ``plots/`` (see :func:`metrics.plots.evaluation_plots`).

        Returns:
            The paths written.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        evaluation = directory / EVALUATION_FILE
        evaluation.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        breakdown = directory / BREAKDOWN_FILE
        self.to_frame().to_csv(breakdown, index=False)
        misclassified = directory / MISCLASSIFIED_FILE
        self.misclassified.to_json(misclassified, orient="records", lines=True, force_ascii=False)
        written = [evaluation, breakdown, misclassified]
        if plots:
            from metrics.plots import evaluation_plots

            plot_dir = directory / PLOTS_DIR
            plot_dir.mkdir(exist_ok=True)
            for name, png in evaluation_plots(self, split_ranges).items():
                path = plot_dir / name
                path.write_bytes(png)
                written.append(path)
        return written

    @classmethod
    def load(cls, directory: str | Path) -> EvaluationResult:
        """Read a result written by :meth:`save` (``misclassified.jsonl`` if present)."""
        directory = Path(directory)
        data = json.loads((directory / EVALUATION_FILE).read_text())
        misclassified_path = directory / MISCLASSIFIED_FILE
        misclassified = None
        if misclassified_path.exists():
            lines = misclassified_path.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines if line.strip()]
            if records:
                misclassified = pd.DataFrame(records)
        return cls.from_dict(data, misclassified)


def _group_labels(keys: Breakdown, table: pd.DataFrame) -> list[str]:
    columns = [table[key].tolist() for key in keys]
    return [ns.group_label(keys, values) for values in zip(*columns, strict=True)]


def _empty_misclassified() -> pd.DataFrame:
    return pd.DataFrame(columns=list(F.MISCLASSIFIED_COLUMNS))


class MetricsProcessor:
    """Scores binary predictions overall and per metadata group.

    Args:
        breakdowns: Metadata column tuples to break accuracy down by; a bare string is a
            one-column breakdown. Default: per category, per noun_count, per
            (category, noun_count).
        threshold: A probability strictly above it is predicted positive (default 0.5).
        max_misclassified: Keep at most this many misclassified examples (``None``: all).
        unknown: Metadata values that mean "not known", left out of the breakdowns over
            their column (default :data:`metrics.namespaces.UNKNOWN_VALUES`: noun_count 0).

    Example:
        >>> import pandas as pd
        >>> processor = MetricsProcessor(breakdowns=[("category",)], threshold=0.5)
        >>> meta = pd.DataFrame({"category": ["a", "b"]})
        >>> result = processor.evaluate([1, 0], [0.7, 0.6], meta)
        >>> result.accuracy, result.confusion.as_lists()
        (0.5, [[0, 1], [0, 1]])
    """

    def __init__(
        self,
        breakdowns: BreakdownSpec = ns.DEFAULT_BREAKDOWNS,
        threshold: float = F.DEFAULT_THRESHOLD,
        max_misclassified: int | None = None,
        unknown: Mapping[str, object] = ns.UNKNOWN_VALUES,
    ) -> None:
        self.breakdowns = normalise_breakdowns(breakdowns)
        self.unknown = dict(unknown)
        self.threshold = F.check_threshold(threshold)
        if max_misclassified is not None and max_misclassified < 0:
            raise ValueError(f"max_misclassified must be >= 0, got {max_misclassified}")
        self.max_misclassified = max_misclassified

    def __repr__(self) -> str:
        return (
            f"MetricsProcessor(breakdowns={self.breakdowns!r}, threshold={self.threshold!r}, "
            f"max_misclassified={self.max_misclassified!r})"
        )

    def evaluate(
        self,
        y_true: object,
        y_prob: object,
        metadata: pd.DataFrame,
        losses: object | None = None,
        examples: Examples | None = None,
    ) -> EvaluationResult:
        """Score one set of predictions.

        Args:
            y_true: 0/1 labels (list, array or Series), length n.
            y_prob: Probabilities of label 1 in [0, 1], shape ``(n,)`` or ``(n, 1)``.
            metadata: n rows holding at least the breakdown columns, aligned by position.
            losses: Optional per-example losses; their mean becomes ``loss``.
            examples: Optional n rows (a frame or a list of dicts, e.g. with ``story`` and
                ``question``) for the misclassified table; defaults to ``metadata``.

        Raises:
            ValueError: On empty input, a length mismatch, labels other than 0/1,
                probabilities outside [0, 1] or NaN, non-finite losses, or a missing or
                incomplete breakdown column.
        """
        labels = F.as_labels(y_true)
        probabilities = F.as_probabilities(y_prob)
        n_samples = labels.size
        F.check_length("y_prob", probabilities.size, n_samples)
        if not isinstance(metadata, pd.DataFrame):
            raise ValueError(f"metadata must be a pandas DataFrame, got {type(metadata).__name__}")
        F.check_length("metadata", len(metadata), n_samples)
        if examples is not None:
            examples = (
                pd.DataFrame(examples) if not isinstance(examples, pd.DataFrame) else examples
            )
            F.check_length("examples", len(examples), n_samples)
        if losses is None:
            loss = F.binary_cross_entropy(labels, probabilities)
        else:
            loss = float(F.as_losses(losses, n_samples).mean())

        predictions = F.predict(probabilities, self.threshold)
        confusion = F.confusion_matrix(labels, predictions)
        correct = predictions == labels.astype(bool)
        return EvaluationResult(
            n_samples=n_samples,
            loss=loss,
            accuracy=confusion.accuracy(),
            precision=confusion.precision(),
            recall=confusion.recall(),
            f1=confusion.f1(),
            roc_auc=F.roc_auc(labels, probabilities),
            confusion=confusion,
            breakdowns=F.breakdown_tables(correct, metadata, self.breakdowns, self.unknown),
            misclassified=F.misclassified_examples(
                labels,
                probabilities,
                metadata if examples is None else examples,
                self.threshold,
                self.max_misclassified,
            ),
            threshold=self.threshold,
        )
