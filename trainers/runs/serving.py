"""A run's model in MLflow: logged at the end of a run, served by MLflow's own tools,
registered under a name.

With the ``mlflow`` sink on, :func:`log_run_model` (called at the end of
:func:`~trainers.runs.pipeline.run_pipeline`) logs the best model with
``mlflow.pyfunc.log_model(name="model", ...)`` as an MLflow 3 logged model of the run's
experiment, made by the run (its source run, and one of the run's outputs): a python-function
model (:class:`~trainers.runs.pyfunc.StoryQAModel`) whose input is a DataFrame with ``story``
and ``question`` and whose output has ``probability`` and ``answer``, with its signature, an
input example, pinned pip requirements, the vocabulary, and the network saved with MLflow's
flavour for its framework (``pytorch`` or ``keras``) underneath. The model carries the run's
parameters and its short tags, and the run's overall evaluation metrics (``eval/<split>/...``)
are linked to it, each with the dataset it was computed on (the run's training and validation
inputs for ``train`` and ``valid_a``; the dataset version with the split for the others). MLflow's
UI lists it in the run's "Logged models" and the experiment's Models tab. The run folder
records where it went (:data:`RECORD_FILE`). Then::

    mlflow.pyfunc.load_model("models:/<model id>").predict(frame)
    mlflow.pyfunc.load_model("runs:/<mlflow run id>/model").predict(frame)   # the same model
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
from collections.abc import Iterable, Iterator, Mapping
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
#: The variable MLflow reads (and sets) for its global tracking URI.
TRACKING_URI_VARIABLE: Final = "MLFLOW_TRACKING_URI"
#: Rows of the input example (from the run's validation split).
EXAMPLE_ROWS: Final = 2
#: The longest dataset digest MLflow keeps (as the sink's inputs).
MAX_DIGEST_LENGTH: Final = 36


class ServingError(TrainerError):
    """A run's model cannot be logged or registered (the message says why and what to do)."""


@dataclass(frozen=True)
class LoggedModel:
    """Where a run's model was logged in MLflow.

    Attributes:
        tracking_uri: The MLflow tracking URI (``sqlite:///.../mlflow.db`` by default).
        run_id: The MLflow run id.
        artifact_path: The model's name in that run (``runs:/<run id>/<name>``).
        model_id: The MLflow logged model's id (``m-...``); ``None`` in a record written before
            storyqa logged MLflow 3 models (the model is then the run's artifacts).
        experiment_id: The MLflow experiment of the run.
    """

    FILENAME: ClassVar[str] = RECORD_FILE

    tracking_uri: str
    run_id: str
    artifact_path: str = MODEL_ARTIFACT_PATH
    model_id: str | None = None
    experiment_id: str | None = None

    @property
    def model_uri(self) -> str:
        """``runs:/<run id>/model``."""
        return f"runs:/{self.run_id}/{self.artifact_path}"

    @property
    def logged_model_uri(self) -> str | None:
        """``models:/<model id>``, or ``None`` without a logged model."""
        return f"models:/{self.model_id}" if self.model_id else None

    def save(self, run_dir: Path) -> Path:
        """Write the record into the run folder."""
        from trainers.records.io import write_json_atomic

        path = run_dir / self.FILENAME
        record = {**asdict(self), "model_uri": self.model_uri}
        if self.logged_model_uri:
            record["logged_model_uri"] = self.logged_model_uri
        write_json_atomic(path, record)
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
        return cls(
            data["tracking_uri"],
            data["run_id"],
            data.get("artifact_path", MODEL_ARTIFACT_PATH),
            data.get("model_id"),
            data.get("experiment_id"),
        )


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


def log_run_model(
    trainer: ModelTrainer, model: Any, dataset: StoryDataset, valid_split: str = "valid_a"
) -> LoggedModel | None:
    """Log the run's model (its best weights loaded) to the run's MLflow run, when the
    ``mlflow`` sink is on; warn and go on when that fails (the run itself is complete).
    ``valid_split`` is the split that picked the best epoch (the run's validation input).

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
    identity = DatasetIdentity(str(version), str(trainer.dataset.hash or ""), valid_split)
    try:
        logged = log_model(target, model, dataset.vocab.tokens, spec, example, identity)
    except Exception as error:  # the run is complete; its MLflow model is an extra
        logger.warning(
            "the run's model was not logged to MLflow (%s: %s); the run itself is complete",
            type(error).__name__,
            str(error).strip().splitlines()[0][:300] if str(error).strip() else "",
        )
        return None
    logged.save(trainer.run_dir)
    trainer.echo(
        f"MLflow model: {logged.logged_model_uri} = {logged.model_uri} (serve it: "
        f"MLFLOW_TRACKING_URI={logged.tracking_uri} mlflow models serve -m {logged.model_uri} "
        "--env-manager local -h 127.0.0.1)"
    )
    return logged


def _example(dataset: StoryDataset) -> Any:
    split = "valid_a" if "valid_a" in dataset.splits else next(iter(dataset.splits))
    return dataset[split][["story", "question"]].head(EXAMPLE_ROWS).reset_index(drop=True)


def log_model(
    target: tuple[str, str],
    model: Any,
    tokens: Iterable[str],
    spec: ModelSpec,
    example: Any,
    dataset: DatasetIdentity | None = None,
) -> LoggedModel:
    """Log the MLflow model of run ``target`` (``(tracking uri, run id)``): a logged model named
    :data:`MODEL_ARTIFACT_PATH` made by that run, with the run's parameters and short tags, and
    the run's evaluation metrics linked to it (each with its split's dataset, when
    ``dataset`` is given).

    Raises:
        Exception: Whatever MLflow raises (a model created before the failure is marked
            ``FAILED`` by MLflow).
    """
    import mlflow.pyfunc
    from mlflow.entities import LoggedModelOutput
    from mlflow.tracking import MlflowClient

    from trainers.runs.pyfunc import ARTIFACT, StoryQAModel

    tracking_uri, run_id = target
    folder = Path(tempfile.mkdtemp(prefix="storyqa-mlflow-model-"))
    try:
        staging = write_artifacts(folder / ARTIFACT, model, tokens, spec)
        client = MlflowClient(tracking_uri=tracking_uri)
        run = client.get_run(run_id)
        experiment_id = str(run.info.experiment_id)
        created = client.create_logged_model(
            experiment_id,
            name=MODEL_ARTIFACT_PATH,
            source_run_id=run_id,
            tags=model_tags(run.data.tags),
            params=dict(run.data.params),
            model_type=run.data.tags.get("model"),
        )
        with quiet_mlflow(), tracking_uri_set(tracking_uri):
            mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_PATH,
                python_model=StoryQAModel(),
                artifacts={ARTIFACT: str(staging)},
                signature=signature(),
                input_example=example,
                pip_requirements=requirements(spec.framework),
                model_id=created.model_id,
            )
        linked = evaluation_metrics(client, run, created.model_id, dataset)
        step = max((metric.step for metric in linked), default=0)
        client.log_outputs(run_id, models=[LoggedModelOutput(created.model_id, step)])
        if linked:
            client.log_batch(run_id, metrics=linked)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return LoggedModel(tracking_uri, run_id, model_id=created.model_id, experiment_id=experiment_id)


def model_tags(run_tags: Mapping[str, str]) -> dict[str, str]:
    """The run's tags that its logged model carries too: the storyqa run id, who made it and
    from where (MLflow's user, source and git commit) and the short tags (``model``...).

    Example:
        >>> model_tags({"model": "lstm", "mlflow.user": "ada", "context/command": "python"})
        {'mlflow.user': 'ada', 'model': 'lstm'}
    """
    from metrics import namespaces as ns
    from trainers.tracking.sinks.mlflow import MlflowSink

    keys = (
        MlflowSink.RUN_ID_TAG,
        MlflowSink.USER_TAG,
        MlflowSink.SOURCE_NAME_TAG,
        MlflowSink.SOURCE_TYPE_TAG,
        MlflowSink.GIT_COMMIT_TAG,
        *ns.RUN_TAG_KEYS,
    )
    return {key: run_tags[key] for key in keys if key in run_tags}


@dataclass(frozen=True)
class DatasetIdentity:
    """The dataset a run's splits come from, as its MLflow inputs name it.

    Attributes:
        name: The dataset version (``all_4dir-default-f3154c65``).
        hash: Its content hash.
        valid_split: The split that picked the best epoch (the run's validation input).
    """

    name: str
    hash: str
    valid_split: str = "valid_a"

    def split_inputs(self) -> dict[str, str]:
        """The run input (its ``mlflow.data.context``) each split's metrics are linked to:
        ``train`` to the training input, the validation split to the validation input; other
        splits to the dataset version with the split as digest.

        Example:
            >>> DatasetIdentity("mine-1a2b3c4d", "f" * 64, "dev").split_inputs()
            {'train': 'training', 'dev': 'validation'}
        """
        return {"train": "training", self.valid_split: "validation"}

    def digest(self, split: str) -> str:
        """The digest of ``split`` when no run input names it: ``<hash[:24]>-<split>``.

        Example:
            >>> DatasetIdentity("all_4dir-tiny-1a2b3c4d", "f" * 64).digest("test")
            'ffffffffffffffffffffffff-test'
        """
        return (f"{self.hash[:24]}-{split}" if self.hash else split)[:MAX_DIGEST_LENGTH]


def evaluation_metrics(
    client: Any, run: Any, model_id: str, dataset: DatasetIdentity | None
) -> list[Any]:
    """The run's overall evaluation metrics (``eval/<split>/<metric>``, the latest point of
    each) as MLflow ``Metric`` objects of logged model ``model_id``, each with the dataset of
    its split: the run's input for the split (:meth:`DatasetIdentity.split_inputs`), else
    ``dataset`` with :meth:`DatasetIdentity.digest` (none without it)."""
    from mlflow.entities import Metric

    from metrics import namespaces as ns
    from trainers.tracking.sinks.mlflow import MlflowSink

    inputs = {}
    for item in getattr(run.inputs, "dataset_inputs", None) or []:
        for tag in item.tags:
            if tag.key == MlflowSink.DATASET_CONTEXT_TAG:
                inputs[tag.value] = (item.dataset.name, item.dataset.digest)
    linked = []
    for key in sorted(run.data.metrics):
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != ns.EVAL or parts[2] not in ns.EVAL_METRICS:
            continue
        split = parts[1]
        name: str | None = None
        digest: str | None = None
        split_inputs = dataset.split_inputs() if dataset is not None else {}
        if split_inputs.get(split) in inputs:
            name, digest = inputs[split_inputs[split]]
        elif dataset is not None:
            name, digest = dataset.name, dataset.digest(split)
        latest = client.get_metric_history(run.info.run_id, key)[-1]
        linked.append(
            Metric(
                key,
                latest.value,
                latest.timestamp,
                latest.step,
                model_id=model_id,
                run_id=run.info.run_id,
                dataset_name=name,
                dataset_digest=digest,
            )
        )
    return linked


def write_artifacts(folder: Path, model: Any, tokens: Iterable[str], spec: ModelSpec) -> Path:
    """Write the model's artifact folder (a new one): the vocabulary, the settings and the
    network in its framework's flavour."""
    from stories.vocab import Vocabulary
    from trainers.runs.pyfunc import NETWORK_DIR, SETTINGS_FILE, VOCAB_FILE

    folder.mkdir(parents=True)
    Vocabulary(tuple(tokens)).save(folder / VOCAB_FILE)
    (folder / SETTINGS_FILE).write_text(json.dumps(asdict(spec), indent=1) + "\n")
    with quiet_mlflow():
        _save_network(folder / NETWORK_DIR, model, spec.framework)
    return folder


@contextlib.contextmanager
def tracking_uri_set(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI set to ``uri`` for the block (``mlflow.pyfunc.log_model``
    logs to that one), then as it was: the URI set before, or none (with the
    ``MLFLOW_TRACKING_URI`` variable as it was)."""
    import mlflow

    variable = os.environ.get(TRACKING_URI_VARIABLE)
    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None: unset
        if variable is None:
            os.environ.pop(TRACKING_URI_VARIABLE, None)
        else:
            os.environ[TRACKING_URI_VARIABLE] = variable


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


def link_version(client: Any, model_id: str, name: str, version: int) -> None:
    """Add version ``version`` of registered model ``name`` to the versions logged model
    ``model_id`` lists (its ``mlflow.modelVersions`` tag, as ``mlflow.register_model`` keeps it;
    MLflow's UI shows them on the model's page)."""
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    model = client.get_logged_model(model_id)
    versions = json.loads(model.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    versions.append({"name": name, "version": version})
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(versions)})


def register_run_model(
    run_dir: str | Path, name: str, alias: str | None = DEFAULT_ALIAS
) -> dict[str, Any]:
    """Register the MLflow model a run logged under ``name`` (a new version of its logged
    model, ``models:/<model id>``), with ``alias``.

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
        if logged.logged_model_uri:  # the logged model: a version of it, linked to it
            source = logged.logged_model_uri
        else:  # a record of the run's artifacts, written before storyqa logged MLflow 3 models
            source = f"{client.get_run(logged.run_id).info.artifact_uri}/{logged.artifact_path}"
        with tracking_uri_set(logged.tracking_uri):  # MLflow resolves models:/ on the global URI
            version = client.create_model_version(
                name, source, run_id=logged.run_id, model_id=logged.model_id
            )
        if logged.model_id:
            link_version(client, logged.model_id, name, int(version.version))
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
