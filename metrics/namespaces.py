"""The one place where tracker metric names are built.

Every name that reaches ``metrics.jsonl``, Neptune, MLflow or TensorBoard comes from a
function in this module, so the Lightning and Keras trainers can only ever log the same names.
The layout (listed in full in docs/namespaces.md)::

    parameters/<flattened config>            data/version, data/hash, data/<split>/size
    metrics/{train,val}/{loss,accuracy}                                   per epoch
    metrics/val/by_category/<category>/accuracy                           per epoch
    metrics/val/by_noun_count/<n>/accuracy                                per epoch
    metrics/val/by_category_noun/<category>/noun_<n>/accuracy             per epoch
    best/{epoch,step,val_accuracy,val_loss,checkpoint}        (step: val_check_interval)
    top_epochs/<rank>/{epoch,step,val_accuracy,checkpoint}                rank 1..k
    eval/<split>/{loss,accuracy,precision,recall,f1,roc_auc}
    eval/<split>/by_category/..., by_noun_count/..., by_category_noun/...  (accuracy, count)
    metrics/train/{learning_rate,examples_per_second}, metrics/epoch/seconds  per epoch
    metrics/epoch/progress                        per validation, with val_check_interval

"Per epoch" is per validation when ``trainer.val_check_interval`` is set: the values are then
logged at the step the validation follows, not at the epoch (see ``trainers/periods.py``).
    context/<field>       (model, framework, dataset, seed, sweep, git/..., user, command...)
    model/{parameters,trainable_parameters}
    artifacts/{checkpoints,plots,eval,run,model}/<file>
    sweep/<field>, artifacts/sweep/<file>          (a sweep's own MLflow run)

Example:
    >>> from metrics import namespaces as ns
    >>> ns.epoch_metric("val", "accuracy")
    'metrics/val/accuracy'
    >>> ns.breakdown_path(("category", "noun_count"), ("dense", 15))
    'by_category_noun/dense/noun_15'
    >>> ns.eval_breakdown("test", ("noun_count",), (24,), "count")
    'eval/test/by_noun_count/24/count'
    >>> ns.top_epoch(1, "val_accuracy")
    'top_epochs/1/val_accuracy'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

SEP: Final = "/"

PARAMETERS: Final = "parameters"
DATA: Final = "data"
METRICS: Final = "metrics"
BEST: Final = "best"
TOP_EPOCHS: Final = "top_epochs"
EVAL: Final = "eval"
ARTIFACTS: Final = "artifacts"
CONTEXT: Final = "context"
MODEL: Final = "model"

Stage = Literal["train", "val"]
EPOCH_STAGES: Final[tuple[str, ...]] = ("train", "val")
EPOCH_METRICS: Final[tuple[str, ...]] = ("loss", "accuracy")
EVAL_METRICS: Final[tuple[str, ...]] = ("loss", "accuracy", "precision", "recall", "f1", "roc_auc")
BREAKDOWN_METRICS: Final[tuple[str, ...]] = ("accuracy", "count")
#: ``step`` only with ``trainer.val_check_interval``: the step the validation followed.
BEST_FIELDS: Final[tuple[str, ...]] = ("epoch", "step", "val_accuracy", "val_loss", "checkpoint")
TOP_EPOCH_FIELDS: Final[tuple[str, ...]] = ("epoch", "step", "val_accuracy", "checkpoint")
ARTIFACT_KINDS: Final[tuple[str, ...]] = (
    "checkpoints",
    "plots",
    "eval",
    "run",
    "model",
    "sweep",  # a sweep's own MLflow run: its comparison and search results
)
#: Per-epoch series besides loss and accuracy: the optimiser's learning rate at the end of the
#: epoch and training throughput (``metrics/train/...``), and the epoch's wall-clock seconds
#: (``metrics/epoch/seconds``).
TRAIN_STATS: Final[tuple[str, ...]] = ("learning_rate", "examples_per_second")
EPOCH: Final = "epoch"
EPOCH_SECONDS: Final = "seconds"
#: Epochs trained at a validation (``1.5``: half-way through the second epoch), logged with
#: each validation when ``trainer.val_check_interval`` is set: the step-to-epoch key.
EPOCH_PROGRESS: Final = "progress"
#: What a run records about where it came from (``context/<field>``); ``sweep`` only in a sweep,
#: ``git/...`` only when the code runs from a git checkout.
CONTEXT_FIELDS: Final[tuple[str, ...]] = (
    "run_id",
    "model",
    "framework",
    "dataset",
    "seed",
    "sweep",
    "description",
    "user",
    "command",
    "source",
    "storyqa_version",
    "git/commit",
    "git/branch",
    "git/dirty",
)
#: Context fields that are also the run's short tags (``<key>:<value>`` labels in Neptune,
#: ``<key>`` tags in MLflow).
RUN_TAG_KEYS: Final[tuple[str, ...]] = ("model", "framework", "dataset", "seed", "sweep")
MODEL_FIELDS: Final[tuple[str, ...]] = ("parameters", "trainable_parameters")
#: The roles of the dataset inputs a training run records (MLflow's ``mlflow.data.context``).
DATASET_INPUT_CONTEXTS: Final[tuple[str, ...]] = ("training", "validation")
#: What a sweep's own MLflow run (the parent of its jobs' runs) records about it
#: (``sweep/<field>``): its jobs, how many of them trained, resumed an interrupted run or were
#: skipped (finished before), and for a search the best value and its trial.
SWEEP: Final = "sweep"
SWEEP_FIELDS: Final[tuple[str, ...]] = (
    "jobs",
    "trained",
    "resumed",
    "skipped",
    "best_value",
    "best_trial",
)

#: Default breakdowns: per category, per noun count, per (category, noun count).
DEFAULT_BREAKDOWNS: Final[tuple[tuple[str, ...], ...]] = (
    ("category",),
    ("noun_count",),
    ("category", "noun_count"),
)

#: Metadata values that mean "not known": a row with one is left out of every breakdown over
#: that column (a user's story whose actor count is neither given nor readable from it has
#: ``noun_count`` 0), and still counts in the overall scores.
UNKNOWN_VALUES: Final[Mapping[str, object]] = {"noun_count": 0}

#: Short forms used when a column is not the first key of a combined breakdown
#: (``by_category_noun/<category>/noun_<n>``).
SHORT_KEY_NAMES: Final[Mapping[str, str]] = {"noun_count": "noun"}


def join(*parts: object) -> str:
    """Join name parts with ``/``, skipping empty parts.

    Example:
        >>> join("eval", "test", "accuracy")
        'eval/test/accuracy'
    """
    return SEP.join(str(part) for part in parts if str(part) != "")


def sanitize(value: object) -> str:
    """Make a group value safe as one path segment (no ``/``, no surrounding spaces).

    Example:
        >>> sanitize(" a/b ")
        'a_b'
    """
    text = str(value).strip().replace(SEP, "_")
    return text or "_"


def _short(key: str) -> str:
    return SHORT_KEY_NAMES.get(key, key)


def breakdown_name(keys: Sequence[str]) -> str:
    """Name of a breakdown over ``keys``: ``by_category``, ``by_noun_count``, ``by_category_noun``.

    Example:
        >>> breakdown_name(("category", "noun_count"))
        'by_category_noun'
    """
    if not keys:
        raise ValueError("a breakdown needs at least one key")
    if len(keys) == 1:
        return f"by_{keys[0]}"
    return "by_" + "_".join([keys[0], *(_short(k) for k in keys[1:])])


def group_label(keys: Sequence[str], values: Sequence[object]) -> str:
    """Label of one group: ``dense``, ``15``, or ``dense/noun_15`` for a combined breakdown.

    This is also the label the console report prints.

    Example:
        >>> group_label(("category", "noun_count"), ("simple", 8))
        'simple/noun_8'
    """
    if len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys but {len(values)} values")
    parts = [sanitize(values[0])]
    parts += [f"{_short(k)}_{sanitize(v)}" for k, v in zip(keys[1:], values[1:], strict=True)]
    return join(*parts)


def breakdown_path(keys: Sequence[str], values: Sequence[object]) -> str:
    """``<breakdown name>/<group label>``, e.g. ``by_noun_count/24``."""
    return join(breakdown_name(keys), group_label(keys, values))


# --- parameters and data ----------------------------------------------------------------


def parameter(key: str) -> str:
    """``parameters/<key>`` where ``key`` is a dotted or slashed config path."""
    return join(PARAMETERS, key.replace(".", SEP))


def flatten_parameters(config: Mapping[str, Any], prefix: str = PARAMETERS) -> dict[str, Any]:
    """Flatten a nested config into ``{"parameters/a/b": value}``.

    Lists and tuples become strings (trackers store scalars); ``None`` becomes ``"None"``.

    Example:
        >>> flatten_parameters({"model": {"lr": 0.001, "layers": [64, 64]}})
        {'parameters/model/lr': 0.001, 'parameters/model/layers': '[64, 64]'}
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = join(prefix, sanitize(key))
        if isinstance(value, Mapping):
            flat.update(flatten_parameters(value, name))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        elif isinstance(value, list | tuple):
            flat[name] = str(list(value))
        else:
            flat[name] = str(value)
    return flat


def data_field(field: Literal["version", "hash", "name", "path"]) -> str:
    """``data/version``, ``data/hash`` and the like."""
    return join(DATA, field)


def data_split_size(split: str) -> str:
    """``data/<split>/size``."""
    return join(DATA, split, "size")


# --- per-epoch --------------------------------------------------------------------------


def epoch_metric(stage: str, metric: str) -> str:
    """``metrics/{train,val}/{loss,accuracy}``, logged once per epoch."""
    if stage not in EPOCH_STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {EPOCH_STAGES}")
    return join(METRICS, stage, metric)


def epoch_breakdown(
    keys: Sequence[str], values: Sequence[object], metric: str = "accuracy", stage: str = "val"
) -> str:
    """``metrics/val/by_category/<category>/accuracy`` and the other per-epoch breakdowns."""
    return join(epoch_metric(stage, breakdown_path(keys, values)), metric)


def best(field: str) -> str:
    """``best/{epoch,step,val_accuracy,val_loss,checkpoint}``."""
    if field not in BEST_FIELDS:
        raise ValueError(f"unknown best field {field!r}; expected one of {BEST_FIELDS}")
    return join(BEST, field)


def top_epoch(rank: int, field: str) -> str:
    """``top_epochs/<rank>/{epoch,step,val_accuracy,checkpoint}``; ranks start at 1."""
    if rank < 1:
        raise ValueError(f"ranks start at 1, got {rank}")
    if field not in TOP_EPOCH_FIELDS:
        raise ValueError(f"unknown top-epoch field {field!r}; expected one of {TOP_EPOCH_FIELDS}")
    return join(TOP_EPOCHS, rank, field)


# --- final evaluation -------------------------------------------------------------------


def eval_prefix(split: str) -> str:
    """``eval/<split>``: the prefix of one evaluated split, for :func:`prefixed_metric`.

    Example:
        >>> eval_prefix("test")
        'eval/test'
    """
    return join(EVAL, sanitize(split))


def epoch_prefix(stage: str) -> str:
    """``metrics/<stage>``: the prefix of the per-epoch metrics of ``train`` or ``val``.

    Example:
        >>> epoch_prefix("val")
        'metrics/val'
    """
    return epoch_metric(stage, "")


def prefixed_metric(prefix: str, metric: str) -> str:
    """An overall metric under any prefix, e.g. ``eval/test/f1`` or ``metrics/val/loss``.

    Example:
        >>> prefixed_metric(eval_prefix("test"), "f1") == eval_metric("test", "f1")
        True
    """
    return join(prefix, metric)


def eval_metric(split: str, metric: str) -> str:
    """``eval/<split>/<metric>`` for the overall metrics of one evaluated split."""
    return join(EVAL, sanitize(split), metric)


def eval_breakdown(
    split: str, keys: Sequence[str], values: Sequence[object], metric: str = "accuracy"
) -> str:
    """``eval/<split>/by_category_noun/<category>/noun_<n>/{accuracy,count}``."""
    return join(EVAL, sanitize(split), breakdown_path(keys, values), metric)


def prefixed_breakdown(
    prefix: str, keys: Sequence[str], values: Sequence[object], metric: str
) -> str:
    """Breakdown name under any prefix, e.g. ``eval/test`` or ``metrics/val``."""
    return join(prefix, breakdown_path(keys, values), metric)


# --- per-epoch statistics -----------------------------------------------------------------


def train_stat(name: str) -> str:
    """``metrics/train/learning_rate`` or ``metrics/train/examples_per_second``, per epoch.

    Example:
        >>> train_stat("learning_rate")
        'metrics/train/learning_rate'
    """
    if name not in TRAIN_STATS:
        raise ValueError(f"unknown training statistic {name!r}; expected one of {TRAIN_STATS}")
    return join(METRICS, "train", name)


def epoch_seconds() -> str:
    """``metrics/epoch/seconds``: wall-clock seconds of one epoch (training and validation)."""
    return join(METRICS, EPOCH, EPOCH_SECONDS)


def epoch_progress() -> str:
    """``metrics/epoch/progress``: epochs trained at a validation, with
    ``trainer.val_check_interval`` (its values are logged at steps).

    Example:
        >>> epoch_progress()
        'metrics/epoch/progress'
    """
    return join(METRICS, EPOCH, EPOCH_PROGRESS)


def wall_clock_series() -> tuple[str, ...]:
    """The per-epoch series that measure time (``metrics/epoch/seconds``,
    ``metrics/train/examples_per_second``): they differ between two runs of the same config
    and seed, so checks of reproducibility leave them out.

    Example:
        >>> "metrics/epoch/seconds" in wall_clock_series()
        True
    """
    return (epoch_seconds(), train_stat("examples_per_second"))


# --- run context and model ----------------------------------------------------------------


def context_field(field: str) -> str:
    """``context/<field>``: where a run came from (``context/git/commit``, ``context/user``).

    Example:
        >>> context_field("git/commit")
        'context/git/commit'
    """
    if field not in CONTEXT_FIELDS:
        raise ValueError(f"unknown context field {field!r}; expected one of {CONTEXT_FIELDS}")
    return join(CONTEXT, field)


def run_tag(key: str) -> str:
    """The key of one of the run's short tags (``model``, ``framework``, ``dataset``, ``seed``,
    ``sweep``); Neptune shows them as ``<key>:<value>`` labels.

    Example:
        >>> run_tag("dataset")
        'dataset'
    """
    if key not in RUN_TAG_KEYS:
        raise ValueError(f"unknown run tag {key!r}; expected one of {RUN_TAG_KEYS}")
    return key


def run_label(key: str, value: object) -> str:
    """A short tag as one label, ``<key>:<value>`` (Neptune's ``sys/tags``).

    Example:
        >>> run_label("seed", 0)
        'seed:0'
    """
    return f"{run_tag(key)}:{value}"


def model_field(field: str) -> str:
    """``model/parameters`` or ``model/trainable_parameters``.

    Example:
        >>> model_field("parameters")
        'model/parameters'
    """
    if field not in MODEL_FIELDS:
        raise ValueError(f"unknown model field {field!r}; expected one of {MODEL_FIELDS}")
    return join(MODEL, field)


def sweep_field(field: str) -> str:
    """``sweep/<field>``: a value of a sweep's own MLflow run (the parent of its jobs' runs).

    Example:
        >>> sweep_field("jobs")
        'sweep/jobs'
    """
    if field not in SWEEP_FIELDS:
        raise ValueError(f"unknown sweep field {field!r}; expected one of {SWEEP_FIELDS}")
    return join(SWEEP, field)


# --- artifacts --------------------------------------------------------------------------


def artifact(kind: str, filename: str) -> str:
    """``artifacts/<kind>/<file>``; kinds: ``checkpoints``, ``plots``, ``eval`` (a split's
    evaluation files, ``<split>-<file>``), ``run`` (``report.html``, ``manifest.json``,
    ``config.yaml``, ``vocab.json``) and ``model`` (``model_summary.txt``)."""
    if kind not in ARTIFACT_KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {ARTIFACT_KINDS}")
    return join(ARTIFACTS, kind, sanitize(filename))


# --- checkpoint monitor (appended for trainers/checkpoints.py) -----------------------------


def monitor_key(stage: str, metric: str) -> str:
    """``<stage>/<metric>``, e.g. ``val/accuracy``: the key a trainer reports for the top-k
    checkpoint monitor (Lightning's ``ModelCheckpoint(monitor=...)``); not a tracker name.

    Example:
        >>> monitor_key("val", "accuracy")
        'val/accuracy'
    """
    if stage not in EPOCH_STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {EPOCH_STAGES}")
    if metric not in EPOCH_METRICS:
        raise ValueError(f"unknown epoch metric {metric!r}; expected one of {EPOCH_METRICS}")
    return join(stage, metric)
