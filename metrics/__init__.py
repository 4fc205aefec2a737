"""Framework-agnostic metrics for storyqa: predictions in; numbers, tables, plots and tracker
fields out.

``import metrics`` imports numpy and pandas only: no ML framework, and matplotlib, scipy and
the plotting code load on first use.

Example:
    >>> import pandas as pd
    >>> from metrics import MetricsProcessor, namespaces
    >>> meta = pd.DataFrame({"category": ["simple", "dense"], "noun_count": [8, 15]})
    >>> result = MetricsProcessor().evaluate([1, 0], [0.9, 0.6], meta)
    >>> result.accuracy
    0.5
    >>> result.as_namespaces(namespaces.eval_prefix("test"))["eval/test/accuracy"]
    0.5
"""

from metrics import namespaces
from metrics.compare import Comparison, compare_results, load_split_results
from metrics.functional import DEFAULT_THRESHOLD, ConfusionMatrix
from metrics.history import MetricRecord, epoch_history, read_metrics_jsonl
from metrics.plots import DEFAULT_SPLIT_RANGES, plot_learning_curve
from metrics.processor import EvaluationResult, MetricsProcessor
from metrics.report import write_run_report

__all__ = [
    "DEFAULT_SPLIT_RANGES",
    "DEFAULT_THRESHOLD",
    "Comparison",
    "ConfusionMatrix",
    "EvaluationResult",
    "MetricRecord",
    "MetricsProcessor",
    "compare_results",
    "epoch_history",
    "load_split_results",
    "namespaces",
    "plot_learning_curve",
    "read_metrics_jsonl",
    "write_run_report",
]
