"""Export a finished run's model as a self-contained folder a plain runtime can load.

``export_run(run_dir, formats)`` writes ``<run_dir>/export/<format>/``: the model, the run's
``vocab.json`` and ``model_card.md``. The formats are :data:`FORMATS` of the run's framework:
``onnx`` and ``torchscript`` for PyTorch models (:mod:`trainers.runs.export_torch`; both output
the probability of ``yes``), ``keras`` and ``saved_model`` for Keras models
(:mod:`trainers.runs.export_keras`; the model's own sigmoid output).

Every export is checked before it is kept: loaded back from its files with the format's own
runtime, it must give the run's probabilities to :data:`TOLERANCE` on rows of every split of
the run's data (the shortest, the longest and some between, :data:`PROBE_ROWS` per split).
A format that cannot hold the model (a custom layer, data-dependent Python control flow, an
operator the exporter lacks) is refused with the reason and the formats that do hold it.
Formats named explicitly are all-or-nothing: one refused, none is written. Without formats,
every format that holds the model is written and the others are reported.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from trainers.errors import TrainerError
from trainers.runs.inputs import cut_batch, input_arrays, sorted_batches
from trainers.runs.model_card import CardFacts, render
from trainers.runs.predict import RunModel, load_run_model

#: Export formats by framework, in preference order.
FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "lightning": ("onnx", "torchscript"),
    "keras": ("keras", "saved_model"),
}
#: The export folder inside a run folder.
EXPORT_DIR: Final = "export"
#: Largest difference allowed between an export's probabilities and the run's.
TOLERANCE: Final = 1e-5
#: Rows of each split an export is checked on.
PROBE_ROWS: Final = 48


class ExportError(TrainerError):
    """An export cannot be made (the message says why and which formats work)."""


@dataclass(frozen=True)
class Exported:
    """One written export.

    Attributes:
        format: The format.
        folder: ``<run_dir>/export/<format>``.
        files: Its files.
        rows_checked: Rows of the run's data it was checked on.
        max_difference: Largest difference from the run's probabilities there.
        limits: Limits found while exporting.
    """

    format: str
    folder: Path
    files: tuple[str, ...]
    rows_checked: int
    max_difference: float
    limits: tuple[str, ...] = ()


@dataclass
class ExportReport:
    """What :func:`export_run` wrote and refused."""

    exported: list[Exported] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """Rows of one split, encoded, with the run's probabilities for them."""

    split: str
    batches: list[dict[str, np.ndarray]]
    rows: list[np.ndarray]
    expected: np.ndarray

    @property
    def longest(self) -> int:
        return max(max(ids.shape[1] for ids in batch.values()) for batch in self.batches)


@dataclass(frozen=True)
class FormatSpec:
    """How one format is written, loaded back and described."""

    write: Callable[[Any, Path, list[dict[str, np.ndarray]]], list[str]]
    runner: Callable[[Path], Callable[[dict[str, np.ndarray]], np.ndarray]]
    files: Callable[[Path], tuple[str, ...]]
    output: str

    TORCH_OUTPUT: ClassVar[str] = (
        "`probability`: `float32 [batch]`, the probability that the answer is `yes` (the "
        "sigmoid of the network's logit is part of the exported graph)."
    )
    KERAS_OUTPUT: ClassVar[str] = (
        "The model's output: `float32 [batch, 1]`, the probability that the answer is `yes`."
    )


def export_run(
    run: str | Path,
    formats: Sequence[str] | None = None,
    *,
    checkpoint: str | Path | None = None,
    echo: Callable[[str], object] = print,
) -> ExportReport:
    """Export a finished run's model (see the module).

    Args:
        run: The run folder.
        formats: Formats to write (all-or-nothing); default every format that holds the model.
        checkpoint: ``best`` (default), ``last`` or a checkpoint file of the run.
        echo: Prints progress lines.

    Raises:
        ExportError: An unknown format, a named format that cannot hold the model, or no format
            at all that holds it.
        SettingsError: Not a finished run.
    """
    loaded = load_run_model(run, checkpoint, keras_backend="tensorflow")
    available = FORMATS[loaded.framework]
    chosen = _chosen(formats, available, loaded.framework)
    probes = probe_rows(loaded)
    report = ExportReport()
    staged: dict[str, Path] = {}
    root = loaded.run_dir / EXPORT_DIR
    try:
        for name in chosen:
            echo(f"exporting {name}...")
            outcome = _stage(loaded, name, probes, root)
            if isinstance(outcome, str):
                report.refused[name] = outcome
            else:
                staged[name] = outcome[0]
                report.exported.append(outcome[1])
        _check_refusals(loaded, report, explicit=bool(formats), available=available, probes=probes)
        for name, folder in staged.items():
            _put_in_place(folder, root / name)
    finally:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
    return report


def _chosen(formats: Sequence[str] | None, available: tuple[str, ...], framework: str) -> list[str]:
    chosen = list(dict.fromkeys(formats or available))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        others = [f for fw, names in FORMATS.items() if fw != framework for f in names]
        hint = (
            f" ({', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} for the other "
            "framework's models)"
            if set(unknown) <= set(others)
            else ""
        )
        raise ExportError(
            f"format: {', '.join(map(repr, unknown))} cannot export a {framework} model{hint}; "
            f"choose from {list(available)}"
        )
    return chosen


def probe_rows(loaded: RunModel) -> list[Probe]:
    """The rows every export is checked on: :data:`PROBE_ROWS` of each split of the run's data
    (the shortest, the longest and some between), batched as the trainers predict."""
    from stories import open_dataset
    from trainers.records.registry import output_root_of

    config = loaded.config
    dataset = open_dataset(
        config.data,
        seed=config.data_seed,
        output_dir=output_root_of(loaded.run_dir),
        progress=False,
    )
    probes = []
    for split in dataset.splits:
        frame = dataset[split]
        picked = _spread(frame["story"].str.len().to_numpy() + frame["question"].str.len())
        rows = frame.iloc[picked]
        data = loaded.encode(rows["story"].tolist(), rows["question"].tolist())
        expected, _ = loaded.trainer.predict(loaded.model, data)
        inputs, lengths = input_arrays(data)
        batches = sorted_batches(lengths, int(loaded.trainer.config.eval_batch_size))
        probes.append(
            Probe(split, [cut_batch(inputs, b) for b in batches], batches, np.asarray(expected))
        )
    return probes


def _spread(lengths: np.ndarray) -> np.ndarray:
    """Row indices: the shortest and longest third of :data:`PROBE_ROWS`, and the rest spread
    evenly."""
    order = np.argsort(lengths, kind="stable")
    if len(order) <= PROBE_ROWS:
        return order
    third = PROBE_ROWS // 3
    between = order[np.linspace(third, len(order) - third - 1, PROBE_ROWS - 2 * third).astype(int)]
    return np.unique(np.concatenate([order[:third], between, order[-third:]]))


def _stage(
    loaded: RunModel, name: str, probes: list[Probe], root: Path
) -> str | tuple[Path, Exported]:
    """Write, load back and check one format in a temporary folder; the reason it was refused,
    or the folder and what it holds."""
    spec = format_spec(loaded.framework, name)
    folder = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    batches = [batch for probe in probes for batch in probe.batches]
    limits: list[str] = []
    try:
        limits = spec.write(prepared_model(loaded, name, batches), folder, batches)
        checked, difference = check_export(spec.runner(folder), probes)
    except Exception as error:
        shutil.rmtree(folder, ignore_errors=True)
        reason = str(error) if isinstance(error, ExportRefusal) else _one_line(error)
        return "; ".join([reason, *limits])
    files = spec.files(folder)
    shutil.copy(loaded.run_dir / "vocab.json", folder / "vocab.json")
    facts = CardFacts(
        format=name,
        files=files,
        load=load_snippet(name, loaded.encoding),
        inputs=_inputs_text(loaded.encoding, name),
        output=spec.output,
        limits=limits,
        checked=(
            f"{checked} rows of the run's data, every split, up to "
            f"{max(p.longest for p in probes)} tokens per input: largest difference from the "
            f"run's probabilities {difference:.2e} (tolerance {TOLERANCE:g})"
        ),
    )
    (folder / "model_card.md").write_text(render(loaded, facts), encoding="utf-8")
    return folder, Exported(name, root / name, files, checked, difference, tuple(limits))


class ExportRefusal(Exception):
    """This format cannot hold the model (the message says why)."""


def prepared_model(loaded: RunModel, name: str, batches: list[dict[str, np.ndarray]]) -> Any:
    """The model as the format's writer takes it: a PyTorch network wrapped to output
    probabilities and warmed up on the longest probe rows; a Keras model as it is."""
    if loaded.framework == "keras":
        return loaded.model
    from trainers.runs.export_torch import probability_module, warm_up

    module = probability_module(loaded.model)
    if set(batches[0]) != {"input_ids"}:
        raise ExportRefusal(
            f"{name} exports read one input_ids array; this model reads {sorted(batches[0])}"
        )
    warm_up(module, batches)
    return module


def check_export(
    run: Callable[[dict[str, np.ndarray]], np.ndarray], probes: list[Probe]
) -> tuple[int, float]:
    """Rows checked and the largest difference between ``run``'s probabilities and the run's.

    Raises:
        ExportRefusal: It fails on some rows, or differs by more than :data:`TOLERANCE`.
    """
    rows, largest = 0, 0.0
    for probe in probes:
        got = np.empty(len(probe.expected), dtype=np.float64)
        for batch, indices in zip(probe.batches, probe.rows, strict=True):
            try:
                got[indices] = run(batch)
            except Exception as error:
                width = max(ids.shape[1] for ids in batch.values())
                raise ExportRefusal(
                    f"the export fails on the run's own {probe.split} rows ({len(indices)} rows "
                    f"of up to {width} tokens): {_one_line(error)}"
                ) from None
        difference = float(np.max(np.abs(got - probe.expected)))
        if not difference <= TOLERANCE:
            raise ExportRefusal(
                f"the export's probabilities differ from the run's by {difference:.2e} on its "
                f"{probe.split} rows (tolerance {TOLERANCE:g})"
            )
        rows += len(probe.expected)
        largest = max(largest, difference)
    return rows, largest


def format_spec(framework: str, name: str) -> FormatSpec:
    """How format ``name`` is written, loaded back and described."""
    if framework == "keras":
        from trainers.runs import export_keras as k

        return {
            "keras": FormatSpec(
                _refusing(lambda model, folder, _: k.export_keras(model, folder), k.ExportFailure),
                k.keras_runner,
                lambda folder: (k.KERAS_FILE,),
                FormatSpec.KERAS_OUTPUT,
            ),
            "saved_model": FormatSpec(
                _refusing(
                    lambda model, folder, _: k.export_saved_model(model, folder), k.ExportFailure
                ),
                k.saved_model_runner,
                lambda folder: (k.SAVED_MODEL_DIR + "/",),
                FormatSpec.KERAS_OUTPUT,
            ),
        }[name]
    from trainers.runs import export_torch as t

    return {
        "onnx": FormatSpec(
            _refusing(
                lambda module, folder, batches: t.export_onnx(
                    module, t.example_input(batches), folder
                ),
                t.ExportFailure,
            ),
            t.onnx_runner,
            lambda folder: tuple(sorted(p.name for p in folder.glob("model.onnx*"))),
            FormatSpec.TORCH_OUTPUT,
        ),
        "torchscript": FormatSpec(
            _refusing(_torchscript_writer(t), t.ExportFailure),
            t.torchscript_runner,
            lambda folder: (t.TORCHSCRIPT_FILE,),
            FormatSpec.TORCH_OUTPUT,
        ),
    }[name]


def _torchscript_writer(t: Any) -> Callable[[Any, Path, list[dict[str, np.ndarray]]], list[str]]:
    def write(module: Any, folder: Path, batches: list[dict[str, np.ndarray]]) -> list[str]:
        fixed = t.export_torchscript(module, t.example_input(batches), folder)
        if not fixed:
            return []
        return [
            "the trace fixed the Python branches and loops of the model's code to those of "
            f"its example ({', '.join(fixed)}): inputs unlike the rows it was checked on may "
            "fail"
        ]

    return write


def _refusing(
    write: Callable[..., list[str]], failure: type[Exception]
) -> Callable[[Any, Path, list[dict[str, np.ndarray]]], list[str]]:
    def wrapped(model: Any, folder: Path, batches: list[dict[str, np.ndarray]]) -> list[str]:
        try:
            return write(model, folder, batches)
        except failure as error:
            raise ExportRefusal(str(error)) from None

    return wrapped


def _inputs_text(encoding: str, name: str) -> str:
    dtype = "int32" if name in ("keras", "saved_model") else "int64"
    if encoding == "lstm":
        return (
            f"Two inputs by name: `story` and `question`, each `{dtype} [batch, length]` "
            "(token ids, right-padded with 0; their lengths may differ)."
        )
    return f"One input, `input_ids`: `{dtype} [batch, length]` (token ids, right-padded with 0)."


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"


def _check_refusals(
    loaded: RunModel,
    report: ExportReport,
    *,
    explicit: bool,
    available: tuple[str, ...],
    probes: list[Probe],
) -> None:
    """Raise :class:`ExportError` for a refused named format (naming those that work) or when
    no format holds the model."""
    if not report.refused or (not explicit and report.exported):
        return
    holds = [e.format for e in report.exported]
    for name in available:
        if name not in report.refused and name not in holds and _holds(loaded, name, probes):
            holds.append(name)
    reasons = "; ".join(
        f"format={name} cannot hold model {loaded.manifest.model!r}: {why}"
        for name, why in report.refused.items()
    )
    if holds:
        fix = f"use format={holds[0]}, which holds it"
    else:
        fix = (
            "no export format holds this model; use it from Python "
            f"(Predictor.from_run('{loaded.run_dir}')), predict with scripts/predict.py, or "
            "serve the MLflow model the run logged (tracker.sinks with mlflow; "
            "mlflow models serve)"
        )
    raise ExportError(f"{reasons}. {fix[0].upper()}{fix[1:]}")


def _holds(loaded: RunModel, name: str, probes: list[Probe]) -> bool:
    """Whether format ``name`` holds the model (tried in a scratch folder, not kept)."""
    outcome = _stage(loaded, name, probes, loaded.run_dir / EXPORT_DIR)
    if isinstance(outcome, str):
        return False
    shutil.rmtree(outcome[0], ignore_errors=True)
    return True


def _put_in_place(staged: Path, final: Path) -> None:
    """Replace ``final`` with ``staged`` (renames: never half a folder in place)."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)


_ENCODE = """import json, re, numpy as np
tokens = json.load(open("vocab.json"))["tokens"]; ids = {t: i for i, t in enumerate(tokens)}
encode = lambda text: [ids.get(t, 1) for t in re.findall(r"\\w+|[^\\w\\s]", text.lower())]
story, question = "Ava walks north. Ben follows Ava.", "Is Ben going in the same direction as Ava?"
"""
_ROW = "input_ids = np.array([[2, *encode(story), 3, *encode(question)]], dtype=np.{dtype})\n"
_PAIR = (
    "inputs = {{'story': np.array([encode(story)], dtype=np.int32),\n"
    "          'question': np.array([encode(question)], dtype=np.int32)}}\n"
)
_CALLS: Final[dict[str, str]] = {
    "onnx": "import onnxruntime\nsession = onnxruntime.InferenceSession('model.onnx')\n"
    "probability = session.run(None, {{'input_ids': input_ids}})[0][0]\n",
    "torchscript": "import torch\nmodel = torch.jit.load('model.pt')\n"
    "probability = model(torch.from_numpy(input_ids))[0].item()\n",
    "keras": "import keras\nmodel = keras.saving.load_model('model.keras', compile=False)\n"
    "probability = model.predict_on_batch({inputs})[0, 0]\n",
    "saved_model": "import tensorflow as tf\nmodel = tf.saved_model.load('saved_model')\n"
    "probability = float(model.serve({inputs})[0, 0])\n",
}


def load_snippet(name: str, encoding: str) -> str:
    """Python that loads format ``name`` and answers one story, without storyqa."""
    dtype = "int32" if name in ("keras", "saved_model") else "int64"
    if encoding == "lstm":
        return _ENCODE + _PAIR.format() + _CALLS[name].format(inputs="inputs")
    return _ENCODE + _ROW.format(dtype=dtype) + _CALLS[name].format(inputs="input_ids")
