"""A run's model in MLflow: logged at the end of a run, served by MLflow's own tools,
registered under a name.

With the ``mlflow`` sink on, :func:`log_run_model` (called at the end of
:func:`~trainers.runs.pipeline.run_pipeline`) logs the best model to the run's MLflow run at
the artifact path ``model``: a python-function model (:class:`~trainers.runs.pyfunc.StoryQAModel`)
whose input is a DataFrame with ``story`` and ``question`` and whose output has
``probability`` and ``answer``, with its signature, an input example, the vocabulary, and the
network saved with MLflow's flavour for its framework (``pytorch`` or ``keras``) underneath.
The run folder records where it went (:data:`RECORD_FILE`). Then::

    mlflow.pyfunc.load_model("runs:/<mlflow run id>/model").predict(frame)
    mlflow models serve -m runs:/<mlflow run id>/model --env-manager local -h 127.0.0.1

:func:`register_run_model` puts it into MLflow's model registry under a name, with an alias
(``python scripts/registry.py register <run id> --name storyqa``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from trainers.errors import TrainerError
from trainers.runs.inputs import input_encoding

if TYPE_CHECKING:
    from stories import StoryDataset
    from trainers.base import ModelTrainer
    from trainers.tracking import Tracker

logger = logging.getLogger(__name__)

#: Where the model goes in the MLflow run's artifacts.
MODEL_ARTIFACT_PATH: Final = "model"
#: The run folder's record of the logged model.
RECORD_FILE: Final = "mlflow_model.json"
#: The alias :func:`register_run_model` gives by default.
DEFAULT_ALIAS: Final = "champion"
#: MLflow's switch for its artifact download bars.
PROGRESS_BAR_VARIABLE: Final = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
#: Rows of the input example (from the run's validation split).
EXAMPLE_ROWS: Final = 2


class ServingError(TrainerError):
    """A run's model cannot be logged or registered (the message says why and what to do)."""


@dataclass(frozen=True)
class LoggedModel:
    """Where a run's model was logged in MLflow.

    Attributes:
        tracking_uri: The MLflow tracking URI (``sqlite:///.../mlflow.db`` by default).
        run_id: The MLflow run id.
        artifact_path: The model's artifact path in that run.
    """

    FILENAME: ClassVar[str] = RECORD_FILE

    tracking_uri: str
    run_id: str
    artifact_path: str = MODEL_ARTIFACT_PATH

    @property
    def model_uri(self) -> str:
        """``runs:/<run id>/model``."""
        return f"runs:/{self.run_id}/{self.artifact_path}"

    def save(self, run_dir: Path) -> Path:
        """Write the record into the run folder."""
        from trainers.records.io import write_json_atomic

        path = run_dir / self.FILENAME
        write_json_atomic(path, {**asdict(self), "model_uri": self.model_uri})
        return path

    @classmethod
    def load(cls, run_dir: Path) -> LoggedModel:
        """The record of the run folder.

        Raises:
            ServingError: The run logged no model to MLflow.
        """
        path = run_dir / cls.FILENAME
        if not path.is_file():
            raise ServingError(
                f"run {run_dir.name} logged no model to MLflow (no {cls.FILENAME}); train with "
                "the MLflow sink on (tracker.sinks=[jsonl,mlflow])"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["tracking_uri"], data["run_id"], data.get("artifact_path", "model"))


@dataclass(frozen=True)
class ModelSpec:
    """What the MLflow model is made of.

    Attributes:
        framework: ``lightning`` or ``keras``.
        encoding: ``transformer`` or ``lstm`` (the inputs the network reads).
        threshold: A probability above it answers ``yes``.
        batch_size: Rows per prediction batch.
        vocabulary_source: How the vocabulary was built (for error messages).
        run_id: The storyqa run id.
    """

    framework: str
    encoding: str
    threshold: float
    batch_size: int
    vocabulary_source: str
    run_id: str


def mlflow_run_of(tracker: Tracker | None) -> tuple[str, str] | None:
    """``(tracking uri, run id)`` of the tracker's MLflow sink, or ``None`` without one."""
    if tracker is None:
        return None
    for sink in tracker.sinks:
        run_id = getattr(sink, "run_id", None)
        uri = getattr(sink, "tracking_uri", None)
        if getattr(sink, "name", "") == "mlflow" and run_id and uri:
            return str(uri), str(run_id)
    return None


def log_run_model(trainer: ModelTrainer, model: Any, dataset: StoryDataset) -> LoggedModel | None:
    """Log the run's model (its best weights loaded) to the run's MLflow run, when the
    ``mlflow`` sink is on; warn and go on when that fails (the run itself is complete).

    Returns:
        Where it was logged, or ``None`` (no MLflow sink, or logging failed).
    """
    target = mlflow_run_of(trainer.tracker)
    if target is None or dataset.vocab is None:
        return None
    version = trainer.dataset.to_dict().get("version") or trainer.dataset.name
    spec = ModelSpec(
        framework=trainer.FRAMEWORK,
        encoding=input_encoding(trainer, model),
        threshold=float(trainer.processor.threshold),
        batch_size=int(trainer.config.eval_batch_size),
        vocabulary_source=f"the train split of {version}",
        run_id=trainer.run_dir.name,
    )
    example = _example(dataset)
    try:
        logged = log_model(target, model, dataset.vocab.tokens, spec, example)
    except Exception as error:  # the run is complete; its MLflow model is an extra
        logger.warning(
            "the run's model was not logged to MLflow (%s: %s); the run itself is complete",
            type(error).__name__,
            str(error).strip().splitlines()[0][:300] if str(error).strip() else "",
        )
        return None
    logged.save(trainer.run_dir)
    trainer.echo(
        f"MLflow model: {logged.model_uri} (serve it: MLFLOW_TRACKING_URI={logged.tracking_uri} "
        f"mlflow models serve -m {logged.model_uri} --env-manager local -h 127.0.0.1)"
    )
    return logged


def _example(dataset: StoryDataset) -> Any:
    split = "valid_a" if "valid_a" in dataset.splits else next(iter(dataset.splits))
    return dataset[split][["story", "question"]].head(EXAMPLE_ROWS).reset_index(drop=True)


def log_model(
    target: tuple[str, str], model: Any, tokens: Iterable[str], spec: ModelSpec, example: Any
) -> LoggedModel:
    """Save the MLflow model in a temporary folder and log it to run ``target``
    (``(tracking uri, run id)``) at :data:`MODEL_ARTIFACT_PATH`."""
    from mlflow.tracking import MlflowClient

    tracking_uri, run_id = target
    folder = Path(tempfile.mkdtemp(prefix="storyqa-mlflow-model-"))
    try:
        path = save_model(folder / MODEL_ARTIFACT_PATH, model, tokens, spec, example)
        client = MlflowClient(tracking_uri=tracking_uri)
        with quiet_mlflow():
            client.log_artifacts(run_id, str(path), MODEL_ARTIFACT_PATH)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return LoggedModel(tracking_uri, run_id)


def save_model(
    path: Path, model: Any, tokens: Iterable[str], spec: ModelSpec, example: Any
) -> Path:
    """Write the MLflow model to ``path`` (a new folder): the pyfunc, its signature and input
    example, and under its artifacts the vocabulary, the settings and the network in its
    framework's flavour."""
    import mlflow.pyfunc

    from stories.vocab import Vocabulary
    from trainers.runs.pyfunc import (
        ARTIFACT,
        NETWORK_DIR,
        SETTINGS_FILE,
        VOCAB_FILE,
        StoryQAModel,
    )

    staging = path.parent / f".{path.name}-artifacts"
    staging.mkdir(parents=True)
    Vocabulary(tuple(tokens)).save(staging / VOCAB_FILE)
    (staging / SETTINGS_FILE).write_text(json.dumps(asdict(spec), indent=1) + "\n")
    with quiet_mlflow():
        _save_network(staging / NETWORK_DIR, model, spec.framework)
        mlflow.pyfunc.save_model(
            str(path),
            python_model=StoryQAModel(),
            artifacts={ARTIFACT: str(staging)},
            signature=signature(),
            input_example=example,
            pip_requirements=requirements(spec.framework),
        )
    return path


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's advice while saving (pickled models, missing signatures of the inner network,
    type hints) and its download bars, which say nothing about this model: silenced."""
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.ERROR)
    bar = os.environ.get(PROGRESS_BAR_VARIABLE)
    os.environ[PROGRESS_BAR_VARIABLE] = "false"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        mlflow_logger.setLevel(level)
        if bar is None:
            os.environ.pop(PROGRESS_BAR_VARIABLE, None)
        else:
            os.environ[PROGRESS_BAR_VARIABLE] = bar


def signature() -> Any:
    """The MLflow signature: ``story``, ``question`` in; ``probability``, ``answer`` out; the
    ``allow_unknown_words`` parameter."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from trainers.runs.pyfunc import ALLOW_UNKNOWN_PARAM

    return ModelSignature(
        inputs=Schema([ColSpec("string", "story"), ColSpec("string", "question")]),
        outputs=Schema([ColSpec("double", "probability"), ColSpec("string", "answer")]),
        params=ParamSchema([ParamSpec(ALLOW_UNKNOWN_PARAM, "boolean", False)]),
    )


def requirements(framework: str) -> list[str]:
    """The model's pip requirements, pinned to this environment (storyqa itself must be
    installed where the model is served: ``--env-manager local``)."""
    from importlib.metadata import version

    names = ["mlflow", "numpy", "pandas"]
    names += ["keras", "tensorflow-cpu"] if framework == "keras" else ["torch"]
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name).split('+')[0]}")
        except Exception:  # not installed under that name
            pins.append(name)
    return pins


def _save_network(folder: Path, model: Any, framework: str) -> None:
    if framework == "keras":
        import mlflow.keras

        mlflow.keras.save_model(model, str(folder), pip_requirements=requirements(framework))
        return
    import mlflow.pytorch

    # Pickled (the whole module, by reference to its class): any PyTorch model, whatever its
    # control flow; "pt2" would trace it (see scripts/export.py for traced formats).
    mlflow.pytorch.save_model(
        model,
        str(folder),
        serialization_format="pickle",
        pip_requirements=requirements(framework),
    )


def register_run_model(
    run_dir: str | Path, name: str, alias: str | None = DEFAULT_ALIAS
) -> dict[str, Any]:
    """Register the MLflow model a run logged under ``name`` (a new version), with ``alias``.

    Returns:
        ``name``, ``version``, ``alias``, ``source`` and ``model_uri``
        (``models:/<name>@<alias>``, or ``models:/<name>/<version>``).

    Raises:
        ServingError: The run logged no model, or MLflow refused (naming why).
    """
    from mlflow.tracking import MlflowClient

    logged = LoggedModel.load(Path(run_dir))
    client = MlflowClient(tracking_uri=logged.tracking_uri, registry_uri=logged.tracking_uri)
    try:
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
        source = f"{client.get_run(logged.run_id).info.artifact_uri}/{logged.artifact_path}"
        version = client.create_model_version(name, source, run_id=logged.run_id)
        if alias:
            client.set_registered_model_alias(name, alias, version.version)
    except Exception as error:
        raise ServingError(f"cannot register {logged.model_uri} as {name!r}: {error}") from None
    uri = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version.version}"
    return {
        "name": name,
        "version": int(version.version),
        "alias": alias,
        "source": source,
        "model_uri": uri,
        "tracking_uri": logged.tracking_uri,
    }
