"""Answer new stories with a finished run's model: :class:`Predictor`.

A run folder holds everything needed: the manifest (the model's settings and framework), the
vocabulary it was trained with (``vocab.json``) and its checkpoints. :meth:`Predictor.from_run`
rebuilds the model through the run's own trainer (``trainer.build_model``,
``trainer.load_checkpoint``), so every model the trainers can train is read the same way, and
:meth:`Predictor.predict` encodes the rows as the trainer does for that model and predicts with
``trainer.predict``: the probabilities are those ``scripts/evaluate.py`` computes for the same
rows. Rows are checked first (:func:`stories.rows.check_rows`)::

    from trainers import Predictor
    predictor = Predictor.from_run("models_out/runs/<run_id>")           # best checkpoint
    out = predictor.predict(["Ava walks north. Ben follows Ava."],
                            ["Is Ben going in the same direction as Ava?"])
    out.probabilities, out.answers                                      # [0.97...], ('yes',)
    predictor.predict_frame(df)              # df with story and question: + probability, answer
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.settings import SettingsError
from stories.vocab import Vocabulary
from trainers.base import ModelTrainer
from trainers.errors import CheckpointError
from trainers.records.manifest import RunManifest
from trainers.records.registry import output_root_of
from trainers.records.run import DatasetInfo
from trainers.runs.inputs import encode_for, input_encoding
from trainers.runs.pipeline import VOCAB_FILE, PipelineConfig, load_run_manifest, trainer_class

if TYPE_CHECKING:
    from stories import StoryDataset

#: The split name rows are encoded under.
ROWS_SPLIT = "rows"


@dataclass(frozen=True)
class Prediction:
    """What a model answers for some rows, in row order.

    Attributes:
        probabilities: ``float [N]``: the probability of ``yes``.
        answers: ``yes`` where the probability is above ``threshold``, else ``no``.
        threshold: The decision threshold (the run's evaluation threshold).
    """

    probabilities: np.ndarray
    answers: tuple[str, ...]
    threshold: float = 0.5

    def __len__(self) -> int:
        return len(self.answers)

    @property
    def labels(self) -> np.ndarray:
        """``int [N]``: 1 for ``yes``, 0 for ``no``."""
        return (np.asarray(self.probabilities) > self.threshold).astype(np.int64)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``probability`` and ``answer``."""
        return pd.DataFrame(
            {
                "probability": np.asarray(self.probabilities, dtype=np.float64),
                "answer": self.answers,
            }
        )


def answers_for(probabilities: np.ndarray, threshold: float) -> tuple[str, ...]:
    """``yes`` above ``threshold``, else ``no`` (as the evaluation decides).

    Example:
        >>> answers_for(np.array([0.2, 0.5, 0.9]), 0.5)
        ('no', 'no', 'yes')
    """
    return tuple("yes" if p > threshold else "no" for p in np.asarray(probabilities).tolist())


@dataclass
class RunModel:
    """A finished run's model, loaded: what :class:`Predictor`, the exports and the MLflow
    model are made from.

    Attributes:
        run_dir: The run folder.
        manifest: Its manifest.
        config: Its validated config.
        trainer: The run's trainer (no tracker opened).
        model: The network with the checkpoint's weights.
        vocab: The vocabulary it was trained with.
        checkpoint: The checkpoint file loaded.
    """

    run_dir: Path
    manifest: RunManifest
    config: PipelineConfig
    trainer: ModelTrainer
    model: Any
    vocab: Vocabulary
    checkpoint: Path
    encoding: str = field(init=False)

    def __post_init__(self) -> None:
        self.encoding = input_encoding(self.trainer, self.model)

    @property
    def framework(self) -> str:
        return str(self.manifest.framework)

    def vocabulary_source(self) -> str:
        """How the vocabulary was built, for messages."""
        version = self.manifest.dataset.get("version") or self.manifest.dataset.get("name", "")
        return f"the train split of {version}, saved as {self.run_dir / VOCAB_FILE}"

    def dataset(self, stories: Sequence[str], questions: Sequence[str]) -> StoryDataset:
        """The rows as a one-split dataset with the run's vocabulary (nothing cached)."""
        from stories import StoryDataset

        frame = pd.DataFrame(
            {
                "story": list(stories),
                "question": list(questions),
                "label": np.zeros(len(stories), dtype=np.int64),
                "category": "unknown",
                "noun_count": np.zeros(len(stories), dtype=np.int64),
            }
        )
        return StoryDataset(
            ROWS_SPLIT, self.run_dir, {ROWS_SPLIT: frame}, {"hash": ""}, self.vocab, None
        )

    def encode(self, stories: Sequence[str], questions: Sequence[str]) -> Any:
        """The rows encoded as the trainer encodes them for this model."""
        return encode_for(self.trainer, self.dataset(stories, questions), ROWS_SPLIT, self.model)


def load_run_model(
    run: str | Path, checkpoint: str | Path | None = None, *, keras_backend: str | None = None
) -> RunModel:
    """Load a finished run's model with its vocabulary and config.

    Args:
        run: The run folder (``models_out/runs/<run_id>``).
        checkpoint: ``best`` (default), ``last``, or a checkpoint file (absolute, or relative
            to the run folder).
        keras_backend: For a Keras run, the backend to load it on (default: the run's own;
            the weights file is the same for every backend).

    Raises:
        SettingsError: Not a run, a damaged manifest, no saved config, a run that is not
            ``finished``, or no ``vocab.json``.
        CheckpointError: The checkpoint is missing, damaged or does not fit the model.
    """
    run_dir = Path(run).expanduser().resolve()
    manifest = load_run_manifest(run_dir, "run")
    if not manifest.config:
        raise SettingsError(f"run: {run_dir} has no saved config; its model cannot be rebuilt")
    if manifest.status != "finished":
        why = f": {_first_line(manifest.error)}" if manifest.error else ""
        raise SettingsError(
            f"run: {manifest.run_id} is {manifest.status}, not finished{why}; its model is not "
            f"final: resume it (python scripts/train.py resume={run_dir}) or use a finished run "
            "(python scripts/registry.py list)"
        )
    path = checkpoint_path(run_dir, manifest, checkpoint)
    vocab_path = run_dir / VOCAB_FILE
    if not vocab_path.is_file():
        raise SettingsError(
            f"run: {run_dir} has no {VOCAB_FILE} (the vocabulary it was trained with); its "
            "model cannot read new stories"
        )
    vocab = Vocabulary.load(vocab_path)
    config = PipelineConfig.from_mapping(manifest.config)
    changes: dict[str, Any] = {"progress": False}
    if keras_backend is not None and config.model.framework == "keras":
        changes["keras_backend"] = keras_backend
    trainer = trainer_class(config.model.framework)(
        run_dir,
        config=config.trainer.replace(**changes),
        tracker=config.tracker,
        seed=config.seed,
        dataset=DatasetInfo.from_dict(manifest.dataset, ModelTrainer.DEFAULT_DATASET_NAME),
        output_root=output_root_of(run_dir),
        run_config=manifest.config,
    )
    model = trainer.build_model(config.model, tokens=vocab.tokens)
    trainer.load_checkpoint(model, path)
    return RunModel(run_dir, manifest, config, trainer, model, vocab, path)


def checkpoint_path(run_dir: Path, manifest: RunManifest, checkpoint: str | Path | None) -> Path:
    """The checkpoint file named by ``checkpoint`` (``best``, ``last`` or a path).

    Raises:
        CheckpointError: The run has no such checkpoint, or the file is missing.
    """
    name = "best" if checkpoint is None else str(checkpoint)
    if name in ("best", "last"):
        relative = manifest.checkpoints.get(name)
        if not relative:
            raise CheckpointError(
                f"run {manifest.run_id} has no {name} checkpoint; resume it first: python "
                f"scripts/train.py resume={run_dir}"
            )
        path = run_dir / relative
    else:
        given = Path(name).expanduser()
        path = given if given.is_absolute() else run_dir / given
    if not path.is_file():
        kept = ", ".join(sorted(p.name for p in (run_dir / "checkpoints").glob("*.*")))
        raise CheckpointError(
            f"run {manifest.run_id}: checkpoint {path} is missing; give best, last or one of "
            f"its files ({kept or 'none left'})"
        )
    return path


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:300] if lines else ""


class Predictor:
    """A finished run's model, ready to answer stories.

    Args:
        loaded: The run's model (from :func:`load_run_model`).
        allow_unknown_words: Read words the run never saw as ``[UNK]`` (with a warning)
            instead of refusing the rows.

    Attributes:
        threshold: The run's decision threshold (a probability above it answers ``yes``).
    """

    def __init__(self, loaded: RunModel, *, allow_unknown_words: bool = False):
        self.loaded = loaded
        self.allow_unknown_words = allow_unknown_words
        self.threshold = float(loaded.trainer.processor.threshold)

    @classmethod
    def from_run(
        cls,
        run: str | Path,
        checkpoint: str | Path | None = None,
        *,
        allow_unknown_words: bool = False,
    ) -> Predictor:
        """The model of the finished run in folder ``run``.

        Args:
            run: The run folder.
            checkpoint: ``best`` (default), ``last``, or a checkpoint file of the run.
            allow_unknown_words: See :class:`Predictor`.

        Raises:
            SettingsError: Not a finished run, or no ``vocab.json``.
            CheckpointError: The checkpoint is missing or damaged.
        """
        return cls(load_run_model(run, checkpoint), allow_unknown_words=allow_unknown_words)

    @property
    def run_dir(self) -> Path:
        return self.loaded.run_dir

    @property
    def framework(self) -> str:
        return self.loaded.framework

    @property
    def vocab(self) -> Vocabulary:
        return self.loaded.vocab

    @property
    def model(self) -> Any:
        return self.loaded.model

    def check(
        self,
        stories: Sequence[Any],
        questions: Sequence[Any],
        row_names: Sequence[str] | None = None,
    ) -> None:
        """Refuse rows the model cannot answer (see :func:`stories.rows.check_rows`).

        Raises:
            stories.rows.RowError: Naming the first bad row.
        """
        from stories.rows import check_rows

        check_rows(
            stories,
            questions,
            self.vocab,
            allow_unknown_words=self.allow_unknown_words,
            row_names=row_names,
            vocabulary_source=self.loaded.vocabulary_source(),
        )

    def predict(
        self,
        stories: Sequence[str],
        questions: Sequence[str],
        *,
        row_names: Sequence[str] | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> Prediction:
        """The probability of ``yes`` and the answer for each (story, question) row.

        Args:
            stories: One story per row.
            questions: One question per row.
            row_names: How rows are named in errors (default ``row <n>``).
            progress: Called with the number of rows done after each prediction batch
                (a progress bar's ``update``).

        Raises:
            stories.rows.RowError: A row the model cannot answer (nothing is predicted).
        """
        stories, questions = list(stories), list(questions)
        self.check(stories, questions, row_names)
        if not stories:
            return Prediction(np.empty(0, dtype=np.float64), (), self.threshold)
        data = self.loaded.encode(stories, questions)
        predicted, _ = self.loaded.trainer.predict(self.model, data, progress=progress)
        probabilities = np.asarray(predicted, dtype=np.float64)
        return Prediction(probabilities, answers_for(probabilities, self.threshold), self.threshold)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (columns ``story`` and ``question``) with ``probability`` and ``answer``
        added (an ``answer`` column already there is kept as ``expected_answer``).

        Raises:
            stories.rows.RowError: A column is missing, or a row the model cannot answer.
        """
        from stories.rows import QUESTION_FIELDS, RowError

        missing = [name for name in QUESTION_FIELDS if name not in frame.columns]
        if missing:
            raise RowError(
                f"the rows have no {' or '.join(missing)} column; give story and question "
                f"(columns: {list(frame.columns)})"
            )
        prediction = self.predict(frame["story"].tolist(), frame["question"].tolist())
        out = frame.rename(columns={"answer": "expected_answer"}).copy()
        out["probability"] = prediction.probabilities
        out["answer"] = prediction.answers
        return out


@dataclass(frozen=True)
class FilePrediction:
    """What :func:`predict_file` did.

    Attributes:
        output: The file written.
        rows: Rows predicted.
        evaluation: The scores of the rows that gave an answer (``None`` when none did).
        scored: How many rows gave an answer.
    """

    output: Path
    rows: int
    evaluation: Any = None
    scored: int = 0


def default_output(source: Path) -> Path:
    """``<stem>.predictions.jsonl`` beside ``source``.

    Example:
        >>> default_output(Path("data/mine.jsonl")).as_posix()
        'data/mine.predictions.jsonl'
    """
    return source.with_name(f"{source.stem}.predictions.jsonl")


def predict_file(
    predictor: Predictor,
    source: str | Path,
    output: str | Path | None = None,
    *,
    progress: bool = True,
) -> FilePrediction:
    """Predict every row of a JSONL file into another, in input order: each output row is the
    input row plus ``probability`` (of ``yes``) and ``answer`` (an input ``answer`` is kept as
    ``expected_answer`` and scored). The output is written to a temporary file and renamed
    into place: a failure leaves nothing half-written.

    Raises:
        stories.errors.DataFileError: A malformed row (naming file and line).
        stories.rows.RowError: A row the model cannot answer (naming file and line).
        SettingsError: ``output`` is ``source`` or a folder, or its folder does not exist.
    """
    from tqdm.auto import tqdm

    from stories.rows import read_question_file

    source = Path(source)
    target = output_file(source, output)
    rows = read_question_file(source)
    names = [f"{source}:{line}" for line in rows.lines]
    predictor.check(rows.stories, rows.questions, names)
    with tqdm(total=len(rows), unit="story", disable=not progress, desc="predicting") as bar:
        prediction = predictor.predict(
            rows.stories, rows.questions, row_names=names, progress=bar.update
        )
    _write_atomically(target, _output_records(rows.records, prediction))
    evaluation, scored = _score(predictor, rows, prediction)
    return FilePrediction(target, len(rows), evaluation, scored)


def output_file(source: str | Path, output: str | Path | None = None) -> Path:
    """The file :func:`predict_file` writes (``output``, default :func:`default_output`),
    checked before any work: ``scripts/predict.py`` calls it before loading the model.

    Raises:
        SettingsError: ``output`` is the input file or a folder, or its folder does not exist.
    """
    source = Path(source)
    target = default_output(source) if output is None else Path(output)
    if target.resolve() == source.resolve():
        raise SettingsError(
            f"output: {target} is the input file; give another file (output=predictions.jsonl)"
        )
    if target.is_dir():
        raise SettingsError(
            f"output: {target} is a folder; give the file to write, e.g. "
            f"output={target / default_output(source).name}"
        )
    if not target.parent.is_dir():
        raise SettingsError(
            f"output: folder {target.parent} does not exist; create it or choose another file"
        )
    return target


def _output_records(records: list[dict[str, Any]], prediction: Prediction) -> list[dict[str, Any]]:
    out = []
    for record, probability, answer in zip(
        records, prediction.probabilities.tolist(), prediction.answers, strict=True
    ):
        row = {("expected_answer" if k == "answer" else k): v for k, v in record.items()}
        row.update(probability=round(float(probability), 10), answer=answer)
        out.append(row)
    return out


def _write_atomically(target: Path, records: list[dict[str, Any]]) -> None:
    import json
    import os
    import tempfile

    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _score(predictor: Predictor, rows: Any, prediction: Prediction) -> tuple[Any, int]:
    """The evaluation of the rows that gave an answer (the console report's scores)."""
    known = [i for i, label in enumerate(rows.labels) if label is not None]
    if not known:
        return None, 0
    records = [rows.records[i] for i in known]
    metadata = pd.DataFrame(
        {
            "category": [str(r.get("category") or "unknown") for r in records],
            "noun_count": [_noun_count(r.get("noun_count")) for r in records],
        }
    )
    labels = np.asarray([rows.labels[i] for i in known], dtype=np.int64)
    evaluation = predictor.loaded.trainer.processor.evaluate(
        labels, prediction.probabilities[known], metadata
    )
    return evaluation, len(known)


def _noun_count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
