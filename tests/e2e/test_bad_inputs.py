"""Every bad input the command line must refuse cleanly: one table, run here as tests and
printed as ``docs/bad-inputs.md``.

Each :class:`Case` is a row of the doc and a test. The test runs the real command in a
subprocess, as a user would, and checks that it

* exits with the row's (non-zero) code and prints the row's message (a substring of stderr,
  with ``{out}``, ``{tmp}``, ``{run}`` and ``{dataset}`` filled in) and no ``Traceback``;
* leaves no run folder that says ``finished`` where there was none, no new run folder at all
  (unless the row expects a ``failed`` one), no new sweep folder, no new empty folder, no new
  dataset version and an unchanged registry.

The doc is generated from the table, and :func:`test_doc_lists_every_case` fails with a diff
when it is out of date. Regenerate it with::

    .venv/bin/python -m tests.e2e.test_bad_inputs --write-doc

Expensive set-up is shared: one tiny dataset (the session's ``tiny_4dir``) and one trained
LSTM run (1 epoch) per module; a case that damages a run or a dataset works on its own copy.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from stories import DatasetConfig
from stories.build import dataset_version
from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "bad-inputs.md"
REGENERATE = ".venv/bin/python -m tests.e2e.test_bad_inputs --write-doc"
SMALL_LSTM = ("model=lstm", "model.hidden=8", "model.embedding_dim=8", "trainer.max_epochs=1")
SMALL_TRANSFORMER = ("model=transformer", "model.d_model=16", "model.nhead=2", "model.d_hid=32",
                     "model.nlayers=1", "trainer.max_epochs=1")  # fmt: skip
QUIET = ("data.size=tiny", "trainer.progress=false", "tracker.sinks=[jsonl]", "progress=false")
#: How placeholders read in the doc.
SHOWN = {"{tmp}/": "", "{out}": "OUT", "{run}": "<run_id>", "{dataset}": "all_4dir-tiny-<hash8>",
         "{cores}": "N"}  # fmt: skip
#: The CPU cores this machine gives a process: fills ``{cores}``.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
#: A file-size limit (RLIMIT_FSIZE) that lets a tiny run train but not finish writing its
#: evaluation: how a full disk is simulated without root (``File too large``, errno EFBIG).
FULL_DISK_BYTES = 100_000
#: The version folder of the tiny dataset (``data.size=tiny``, seed 0): fills ``{dataset}``.
DATASET = dataset_version(DatasetConfig.preset("all_4dir", size="tiny"), 0)


@dataclass
class Context:
    """What a case's set-up works with; ``run`` fills ``{run}``."""

    case_id: str
    tmp: Path
    out: Path
    dataset: str
    trained_run: Path | None = None
    run: str = ""

    def fill(self, text: str) -> str:
        for key, value in (
            ("{tmp}", str(self.tmp)),
            ("{out}", str(self.out)),
            ("{run}", self.run),
            ("{dataset}", self.dataset),
            ("{cores}", str(CORES)),
        ):
            text = text.replace(key, value)
        return text


Setup = Callable[[Context], None]


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: Test id.
        group: Doc section.
        input: What is wrong, for the doc (Markdown).
        script: The entry point in ``scripts/``.
        args: Its arguments (placeholders allowed).
        message: What stderr must contain (placeholders allowed).
        exit: The exit code; 0 for an input that is no error but was mishandled once: the
            command does the sane thing, ``message`` (a warning, or what it prints) shows
            exactly once on its console (stdout or stderr), and a warning is in the ``run.log``
            of each run it trains, which finishes.
        root: The output root it runs against: ``empty`` (a new folder), ``dataset`` (a new
            folder holding a copy of the tiny dataset) or ``trained`` (the module's output
            root with the trained run; damage only copies of it).
        setup: Prepares the damage.
        file_size_limit: RLIMIT_FSIZE of the command, in bytes.
        leaves_failed_run: A new run folder is expected, and must not say ``finished``.
        slow: Needs the trained run, a framework or a training.
        skip: Returns why the case cannot run here, or ``None``.
    """

    id: str
    group: str
    input: str
    script: str
    args: tuple[str, ...]
    message: str
    exit: int = 2
    root: Literal["empty", "dataset", "trained"] = "empty"
    setup: Setup | None = None
    file_size_limit: int | None = None
    leaves_failed_run: bool = False
    slow: bool = False
    skip: Callable[[], str | None] | None = field(default=None, compare=False)


# --- set-ups ----------------------------------------------------------------------------------


def write_file(name: str, text: str) -> Setup:
    def setup(ctx: Context) -> None:
        (ctx.tmp / name).write_text(text, encoding="utf-8")

    return setup


def both(*setups: Setup) -> Setup:
    """Each of ``setups``, in turn."""

    def setup(ctx: Context) -> None:
        for step in setups:
            step(ctx)

    return setup


def model_config(name: str, text: str) -> Setup:
    """A user's model config ``{tmp}/my_conf/model/<name>.yaml``."""

    def setup(ctx: Context) -> None:
        folder = ctx.tmp / "my_conf" / "model"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")

    return setup


def folder_with_file(name: str) -> Setup:
    """A folder ``{tmp}/<name>`` holding a file of the user's."""

    def setup(ctx: Context) -> None:
        (ctx.tmp / name).mkdir()
        (ctx.tmp / name / "notes.txt").write_text("mine\n", encoding="utf-8")

    return setup


def user_folder(**files: str | bytes) -> Setup:
    """A user's dataset folder ``{tmp}/mine`` holding ``files`` (name -> content; a name's
    ``_`` before the suffix stands for its dot: ``train_jsonl`` is ``train.jsonl``)."""

    def setup(ctx: Context) -> None:
        folder = ctx.tmp / "mine"
        folder.mkdir()
        for name, content in files.items():
            path = folder / ".".join(name.rsplit("_", 1))
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    return setup


def story_line(direction: str, answer: str, actor: str = "Ava", turns: int = 0) -> str:
    """A JSONL row of the grammar: ``actor`` and Ben, the answer as given."""
    story = f"{actor} walks north. Ben walks {direction}." + " Ben turns left." * turns
    question = f"Is {actor} going in the same direction as Ben?"
    return json.dumps({"story": story, "question": question, "answer": answer}) + "\n"


#: Rows with both answers, distinct per split: what a trainable user split holds.
BOTH = {
    split: story_line("north", "yes", actor) + story_line("south", "no", actor)
    + story_line("north", "yes", actor, 1) + story_line("south", "no", actor, 1)
    for split, actor in (("train", "Ava"), ("valid", "Cy"), ("test", "Dee"))
}  # fmt: skip


def earlier_export(name: str, version: str) -> Setup:
    """A folder ``{tmp}/<name>`` holding a Parquet data export of ``version`` (its card)."""

    def setup(ctx: Context) -> None:
        (ctx.tmp / name).mkdir()
        card = f"---\nstoryqa:\n  format: parquet\n  version: {version}\n---\n\n# Data\n"
        (ctx.tmp / name / "README.md").write_text(card, encoding="utf-8")

    return setup


def make_dir(name: str, mode: int | None = None) -> Setup:
    def setup(ctx: Context) -> None:
        folder = ctx.tmp / name
        folder.mkdir()
        if mode is not None:
            folder.chmod(mode)

    return setup


def _edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def run_copy(damage: Callable[[Path], None] | None = None) -> Setup:
    """A copy of the trained run in ``runs/<case id>`` (its own run id), then ``damage``."""

    def setup(ctx: Context) -> None:
        assert ctx.trained_run is not None
        copy = ctx.out / "runs" / ctx.case_id
        shutil.copytree(ctx.trained_run, copy)
        _edit_json(copy / "manifest.json", lambda m: m.update(run_id=copy.name))
        ctx.run = copy.name
        if damage is not None:
            damage(copy)

    return setup


def bare_run_folder(ctx: Context) -> None:
    """What Hydra leaves of a run killed before its manifest was written."""
    folder = ctx.out / "runs" / ctx.case_id
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("seed: 0\n", encoding="utf-8")
    ctx.run = folder.name


def garbage(relative: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        (run_dir / relative).write_bytes(b"\x00not an HDF5 file\x00" * 16)

    return damage


def truncate(relative: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        path = run_dir / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])

    return damage


def remove(relative: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        (run_dir / relative).unlink()

    return damage


def register(run_dir: Path) -> None:
    """Register the copy: a finished, evaluated and registered run has nothing left to do."""
    from trainers.records.registry import Registry

    Registry(run_dir.parent.parent).register_run(run_dir)


def grow_vocabulary(run_dir: Path) -> None:
    _edit_json(run_dir / "vocab.json", lambda v: v["tokens"].extend(f"extra{i}" for i in range(50)))


def manifest_status(status: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        _edit_json(run_dir / "manifest.json", lambda m: m.update(status=status))

    return damage


def killed_in_first_epoch(seed: int) -> Callable[[Path], None]:
    """What a SIGKILL during its first epoch leaves of a run of ``seed``: a manifest that says
    ``running`` after no epoch, and no checkpoint or backup to continue from."""

    def edit(manifest: dict[str, Any]) -> None:
        manifest.update(status="running", ended_at=None, epochs_completed=0, best={},
                        checkpoints={}, evaluation={}, seed=seed)  # fmt: skip
        manifest["config"]["seed"] = seed

    def damage(run_dir: Path) -> None:
        for name in ("backup", "checkpoints", "eval"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
        (run_dir / "report.html").unlink(missing_ok=True)
        _edit_json(run_dir / "manifest.json", edit)

    return damage


def damage_manifest(run_dir: Path) -> None:
    (run_dir / "manifest.json").write_text('{"run_id": ', encoding="utf-8")


def best_is_a_lightning_file(run_dir: Path) -> None:
    shutil.copy(run_dir / "checkpoints" / "best.weights.h5", run_dir / "checkpoints" / "best.ckpt")
    _edit_json(
        run_dir / "manifest.json", lambda m: m["checkpoints"].update(best="checkpoints/best.ckpt")
    )


def config_says_transformer(run_dir: Path) -> None:
    small = {"d_model": 16, "nhead": 2, "d_hid": 32, "nlayers": 1}
    model = {"framework": "lightning", "name": "transformer", **small}
    _edit_json(run_dir / "manifest.json", lambda m: m["config"].update(model=model))


def dataset_file(action: Literal["edit", "remove"], name: str) -> Setup:
    def setup(ctx: Context) -> None:
        path = ctx.out / "datasets" / ctx.dataset / name
        if action == "remove":
            path.unlink()
        else:
            path.write_text("tampered\n", encoding="utf-8")

    return setup


def damaged_registry(ctx: Context) -> None:
    ctx.out.mkdir()
    (ctx.out / "registry.json").write_text("{oops", encoding="utf-8")


def is_root() -> str | None:
    if os.geteuid() == 0:
        return "running as root: permission bits do not stop root (see the /sys row)"
    return None


def not_linux() -> str | None:
    return None if sys.platform == "linux" else "needs Linux's read-only /sys"


def has_cuda() -> str | None:
    """The row is about a machine without a CUDA GPU."""
    import torch

    return "a CUDA GPU is visible here" if torch.cuda.is_available() else None


def in_multi_node_job() -> str | None:
    """The row is about a process started outside a multi-node launch."""
    names = ("MASTER_ADDR", "NODE_RANK", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "LSB_JOBID")
    found = [name for name in names if name in os.environ]
    return f"started inside a multi-node launch ({found[0]} is set)" if found else None


def run_id_leading_out(ctx: Context) -> None:
    """A run id whose folder in ``runs/`` is a link to a folder elsewhere."""
    (ctx.tmp / "elsewhere").mkdir()
    (ctx.out / "runs").mkdir(parents=True)
    (ctx.out / "runs" / ctx.case_id).symlink_to(ctx.tmp / "elsewhere")
    ctx.run = ctx.case_id


# --- the catalogue --------------------------------------------------------------------------

CONFIG = "Config values"
MODELS = "Model configs (`_target_`, docs/models.md)"
PLACEMENT = "Devices, strategies and precision (`trainer.*`)"
OVERRIDES = "Command-line overrides"
USER_DATA = "User data (`data.path`: JSONL, CSV, Parquet, Hugging Face)"
DATASETS = "Dataset folders"
CHECKPOINTS = "Checkpoints"
RUNS = "Run ids and run folders"
OUTPUT = "Output folders"
USING = "Predicting, exporting and registering a trained model"
SERVICE = "The training service (`storyqa-service`)"
GROUPS = (
    CONFIG, MODELS, PLACEMENT, OVERRIDES, USER_DATA, DATASETS, CHECKPOINTS, RUNS, OUTPUT, USING,
    SERVICE,
)  # fmt: skip

OUT = "paths.output_dir={out}"
PREDICT_LINE = (
    '{"story": "Ava walks north.", "question": "Is Ava going in the same direction as Ava?"}\n'
)
GOOD_LINE = '{"story": "Ava walks north.", "question": "Is Ava going in the same direction as Ava?", "answer": "yes"}\n'  # noqa: E501
#: A line whose actor is a name the run never saw in training (it knows "Zoe", not "Zoë").
ZOE_LINE = GOOD_LINE.replace("Ava", "Zoë")
KERAS_ONE_DEVICE = (
    "the Keras trainer trains on one device (it has no multi-device training); use "
    "trainer.devices=1 (trainer.num_threads=N gives it more CPU threads), or a Lightning model "
    "(model=transformer) for several devices"
)

CASES: tuple[Case, ...] = (
    # --- config values: unknown presets, types, ranges, unknown keys, missing values ---
    Case("unknown-model-preset", CONFIG, "unknown model preset", "train.py",
         ("model=gpt", OUT), "In 'train': Could not find 'model/gpt'", exit=1),
    Case("unknown-data-preset", CONFIG, "unknown data preset", "generate_data.py",
         ("data=all_5dir", OUT), "In 'generate_data': Could not find 'data/all_5dir'",
         exit=1),
    Case("unknown-data-size", CONFIG, "unknown dataset size", "train.py",
         ("data.size=huge", OUT),
         "error: data.size: unknown size 'huge'; choose one of ['tiny', 'default', 'paper', "
         "'large']"),
    Case("wrong-type-float", CONFIG, "text for a float hyperparameter", "train.py",
         ("model=lstm", "model.lr=abc", OUT), "error: model.lr: expected float, got 'abc'"),
    Case("wrong-type-int", CONFIG, "text for an integer setting", "train.py",
         ("trainer.max_epochs=abc", OUT), "error: trainer.max_epochs: expected int, got 'abc'"),
    Case("wrong-type-fraction", CONFIG, "a fraction for an integer setting", "train.py",
         ("trainer.max_epochs=1.5", OUT), "error: trainer.max_epochs: expected int, got 1.5"),
    Case("wrong-type-data", CONFIG, "text for an integer generator setting",
         "generate_data.py", ("data.max_events=abc", OUT),
         "Value 'abc' of type 'str' could not be converted to Integer", exit=1),
    Case("out-of-range-size", CONFIG, "a model size of 0", "train.py",
         ("model=lstm", "model.hidden=0", OUT), "error: model.hidden: must be > 0, got 0"),
    Case("out-of-range-dropout", CONFIG, "dropout outside [0, 1)", "train.py",
         ("model=lstm", "model.dropout=1.5", OUT),
         "error: model.dropout: must be in [0, 1), got 1.5"),
    Case("out-of-range-epochs", CONFIG, "zero epochs", "train.py",
         ("trainer.max_epochs=0", OUT), "error: trainer.max_epochs: must be > 0, got 0"),
    Case("out-of-range-top-k", CONFIG, "a negative top-k other than -1", "train.py",
         ("trainer.top_k=-2", OUT),
         "error: trainer.top_k: must be -1 (keep all), 0 (none) or a positive count, got -2"),
    Case("out-of-range-val-check-fraction", CONFIG,
         "a validation interval above one epoch given as a fraction", "train.py",
         ("trainer.val_check_interval=1.5", OUT),
         "error: trainer.val_check_interval: a fraction of an epoch must be in (0, 1] (e.g. "
         "0.25), got 1.5; give a whole number for a count of training steps"),
    Case("out-of-range-val-check-steps", CONFIG, "a validation interval of 0 steps", "train.py",
         ("trainer.val_check_interval=0", OUT),
         "error: trainer.val_check_interval: must be a positive number of training steps (e.g. "
         "500) or a fraction of an epoch in (0, 1] (e.g. 0.25), got 0"),
    Case("negative-seed", CONFIG, "a negative seed", "train.py",
         ("seed=-1", OUT), "error: seed: must be a non-negative integer, got -1"),
    Case("bad-choice-precision", CONFIG, "a precision that does not exist", "train.py",
         ("trainer.precision=8", OUT),
         "error: trainer.precision: '8' is not one of ['auto', '32', '16-mixed', 'bf16-mixed']"),
    Case("bad-choice-backend", CONFIG, "an unknown Keras backend", "train.py",
         ("trainer.keras_backend=mxnet", OUT),
         "error: trainer.keras_backend: 'mxnet' is not one of ['tensorflow', 'jax', 'torch']"),
    Case("bad-choice-sink", CONFIG, "an unknown tracking sink", "train.py",
         ("tracker.sinks=[jsonl,wandb]", OUT), "error: tracker.sinks: unknown sink 'wandb'"),
    Case("password-in-tracking-uri", CONFIG, "a password inside the MLflow tracking URI",
         "train.py", ("tracker.mlflow_tracking_uri=https://alice:s3cret@mlflow.example.com", OUT),
         "error: tracker.mlflow_tracking_uri: holds a password "
         "(https://alice:***@mlflow.example.com); the config is saved with every run"),
    Case("sweep-bad-value", CONFIG, "a bad value in a sweep (`-m`)", "train.py",
         ("-m", "model.lr=-1", OUT), "error: model.lr: must be > 0, got -1.0"),
    Case("sweep-storage-unopenable", CONFIG, "a search whose study storage cannot be opened",
         "train.py",
         ("-m", "hparams_search=lstm_optuna", "hydra.sweeper.storage=sqlite:////proc/no/optuna.db",
          OUT),
         "error: hydra.sweeper.storage: cannot open sqlite:////proc/no/optuna.db"),
    Case("bad-choice-split", CONFIG, "a misspelt split to evaluate", "train.py",
         ("evaluate_splits=[tset]", OUT),
         "error: evaluate_splits: 'tset' is not one of ['train', 'valid_a', 'valid_comp', "
         "'test']"),
    Case("wrong-framework-for-model", CONFIG, "a framework that does not train the model",
         "train.py", ("model.framework=keras", OUT),
         "error: model.framework: transformer (models.transformer.StoryTransformer) is trained "
         "by the lightning trainer, not keras; pick a keras model (e.g. model=lstm)"),
    Case("bad-directions", CONFIG, "3 directions", "generate_data.py",
         ("data.directions=3", OUT), "error: data.directions: must be 2 or 4"),
    Case("unknown-category", CONFIG, "an unknown story category", "generate_data.py",
         ("data.categories=[simple,weird]", OUT),
         "error: data.categories: unknown category 'weird'; choose from ['simple', 'deeper', "
         "'less_dense', 'dense', 'superdense']"),
    Case("empty-noun-range", CONFIG, "an actor range with min > max", "generate_data.py",
         ("data.noun_ranges.test=[31,30]", OUT), "error: data.noun_ranges.test: min 31 > max 30"),
    Case("zero-split-size", CONFIG, "an empty split", "generate_data.py",
         ("data.split_sizes.train=0", OUT),
         "error: data.split_sizes.train: must be a positive integer, got 0"),
    Case("unknown-data-key", CONFIG, "an unknown generator key", "generate_data.py",
         ("data.colour=red", OUT), "Key 'colour' not in 'DatasetConfig'", exit=1),
    Case("unknown-export-format", CONFIG, "an unknown data export format", "generate_data.py",
         ("data.size=tiny", "format=csv", OUT),
         "error: format: 'csv' is not one of ['parquet', 'jsonl', 'hf']"),
    Case("export-out-without-format", CONFIG, "an export folder without a format",
         "generate_data.py", ("data.size=tiny", "out={tmp}/export", OUT),
         "error: out: {tmp}/export given without format=; add format=parquet, format=jsonl or "
         "format=hf"),
    Case("unknown-model-key", CONFIG, "a key of another model (`d_model` for the LSTM)",
         "train.py", ("model=lstm", "model.d_model=4", OUT), "Key 'd_model' is not in struct",
         exit=1),
    Case("unknown-top-level-key", CONFIG, "an unknown key", "train.py",
         ("colour=red", OUT), "Could not override 'colour'", exit=1),
    Case("added-unknown-key", CONFIG, "an unknown key added with `+`", "train.py",
         ("+colour=red", OUT),
         "error: colour: unknown key; valid keys are ['model', 'data', 'trainer', 'tracker', "
         "'output_dir', 'seed', 'data_seed', 'run_id', 'evaluate_splits']"),
    Case("missing-required-value", CONFIG, "a required value (`???`) not given", "evaluate.py",
         (OUT,), "error: run: required; give run=<value> on the command line"),
    # --- model configs: the target, its arguments, what it builds ---
    Case("model-target-not-importable", MODELS, "a `_target_` that cannot be imported",
         "train.py", ("model=transformer", "model._target_=my_models.Missing", OUT),
         "error: model._target_: cannot import 'my_models.Missing' (ModuleNotFoundError: No "
         "module named 'my_models'); check the name, and that its folder is on PYTHONPATH"),
    Case("model-unknown-argument", MODELS, "an argument the model does not take", "train.py",
         ("model=transformer", "+model.hiden=3", OUT),
         "error: model.hiden: unknown key; valid keys are ['d_hid', 'd_model', 'dropout', "
         "'nhead', 'nlayers', 'norm_first']"),
    Case("model-constructor-rejects", MODELS, "a value the model's constructor rejects",
         "train.py", ("hydra.searchpath=[file://{tmp}/my_conf]", "model=mean", "model.width=-1",
                      *QUIET, OUT),
         "error: model._target_: tests.e2e.user_models.MeanEmbedding rejected its arguments "
         "(ValueError: width must be positive, got -1); check the model.* keys",
         root="dataset", setup=model_config(
             "mean", "_target_: tests.e2e.user_models.MeanEmbedding\nframework: lightning\n"
             "width: 8\n"), slow=True),
    Case("model-wrong-shape", MODELS, "a model that returns two values per example",
         "train.py", ("hydra.searchpath=[file://{tmp}/my_conf]", "model=two", *QUIET, OUT),
         "error: model._target_: forward(input_ids) must return one logit per example, shape "
         "[2] or [2, 1] for 2 rows; got Tensor of shape [2, 2]", root="dataset",
         setup=model_config(
             "two", "_target_: tests.e2e.user_models.TwoLogits\nframework: lightning\n"),
         slow=True),
    Case("model-framework-mismatch", MODELS, "a PyTorch model with `framework: keras`",
         "train.py", ("hydra.searchpath=[file://{tmp}/my_conf]", "model=mean", *QUIET, OUT),
         "error: model.framework: keras trains a keras.Model, but "
         "tests.e2e.user_models.MeanEmbedding built a tests.e2e.user_models.MeanEmbedding; it "
         "is a PyTorch module: set model.framework=lightning", root="dataset",
         setup=model_config(
             "mean", "_target_: tests.e2e.user_models.MeanEmbedding\nframework: keras\n"),
         slow=True),
    # --- devices, strategies and precision: checked against this machine before the run ---
    Case("accelerator-gpu-without-gpu", PLACEMENT, "a GPU on a machine without one",
         "train.py", ("model=transformer", "trainer.accelerator=gpu", OUT),
         "error: trainer.accelerator: 'gpu' asked for, but this machine has no CUDA GPU "
         "(PyTorch ", skip=has_cuda),
    Case("devices-beyond-the-machine", PLACEMENT, "more devices than the machine has (on CPU "
         "a device is one training process, at most one per core)", "train.py",
         ("trainer.devices=512", OUT),
         "error: trainer.devices: 512 asked for on CPU, where each device is one training "
         "process, and this machine has no CUDA GPU and {cores} CPU cores; use "
         "trainer.devices={cores} or fewer (trainer.num_threads=N gives each process more "
         "threads)", skip=has_cuda),
    Case("unknown-strategy", PLACEMENT, "a strategy Lightning does not know (`dp`: gone since "
         "Lightning 2)", "train.py", ("trainer.strategy=dp", OUT),
         "error: trainer.strategy: 'dp' is not a Lightning strategy; use one of auto, ddp, "),
    Case("strategy-needs-gpu", PLACEMENT, "a strategy that needs a GPU (`fsdp`) on CPU",
         "train.py", ("trainer.strategy=fsdp", OUT),
         "error: trainer.strategy: Lightning cannot train with trainer.strategy=fsdp on this "
         "machine: The strategy `fsdp` requires a GPU accelerator", skip=has_cuda),
    Case("num-nodes-outside-a-cluster", PLACEMENT, "several nodes from a plain command (it "
         "would wait for the other nodes forever)", "train.py", ("trainer.num_nodes=2", OUT),
         "error: trainer.num_nodes: 2 asked for, but this process was not started as one node "
         "of a multi-node job (no SLURM, torchrun, or MASTER_ADDR and NODE_RANK environment)",
         skip=in_multi_node_job),
    Case("fp16-on-cpu", PLACEMENT, "float16 mixed precision on CPU", "train.py",
         ("trainer.precision=16-mixed", OUT),
         "error: trainer.precision: '16-mixed' (float16 mixed precision) needs a CUDA GPU, and "
         "this run trains on the CPU (Lightning would silently use bf16-mixed); use "
         "trainer.precision=bf16-mixed or 32", skip=has_cuda),
    Case("keras-devices", PLACEMENT, "several devices for the Keras trainer (it trains on one)",
         "train.py",
         ("model=lstm", "trainer.strategy=ddp", "trainer.devices=2", OUT),
         f"error: trainer.devices: 2 asked for, but {KERAS_ONE_DEVICE}"),
    Case("keras-strategy", PLACEMENT, "a distribution strategy for the Keras trainer",
         "train.py", ("model=lstm", "trainer.strategy=mirrored", OUT),
         "error: trainer.strategy: 'mirrored' asked for, but the Keras trainer has no "
         "distribution strategies (it trains on one device); use trainer.strategy=auto"),
    Case("keras-num-nodes", PLACEMENT, "several nodes for the Keras trainer", "train.py",
         ("model=lstm", "trainer.num_nodes=2", OUT),
         "error: trainer.num_nodes: 2 asked for, but the Keras trainer trains on one machine; "
         "use trainer.num_nodes=1, or a Lightning model (model=transformer) across nodes"),
    Case("keras-mps", PLACEMENT, "Apple's GPU (MPS) for the Keras trainer", "train.py",
         ("model=lstm", "trainer.accelerator=mps", OUT),
         "error: trainer.accelerator: 'mps' asked for, but the Keras trainer trains on the CPU "
         "or a CUDA GPU; use trainer.accelerator=cpu, gpu or auto"),
    Case("keras-gpu-without-gpu", PLACEMENT, "a GPU for the Keras trainer, which its backend "
         "does not see", "train.py", ("model=lstm", "trainer.accelerator=gpu", OUT),
         "error: trainer.accelerator: 'gpu' asked for, but the Keras tensorflow backend sees "
         "no GPU on this machine (the tensorflow-cpu package has no GPU support); use "
         "trainer.accelerator=cpu, or auto (a GPU when there is one)", skip=has_cuda),
    Case("keras-mixed-precision-on-cpu", PLACEMENT, "mixed precision for the Keras trainer on "
         "CPU (it trains in float32 there)", "train.py",
         ("model=lstm", "trainer.precision=bf16-mixed", OUT),
         "error: trainer.precision: 'bf16-mixed' asked for, but the Keras trainer trains in "
         "float32 on CPU (mixed precision only on a GPU), and the Keras tensorflow backend "
         "sees no GPU on this machine", skip=has_cuda),
    Case("keras-backend-for-lightning", PLACEMENT, "a Keras backend for a model the Keras "
         "trainer does not train (a warning, not an error: one sweep over models of both "
         "frameworks may share it)", "train.py",
         (*SMALL_TRANSFORMER, "trainer.keras_backend=jax", *QUIET, OUT),
         "warning: trainer.keras_backend=jax is not applied: it picks the backend of Keras "
         "models only (e.g. model=lstm), and this run's model is trained by the lightning "
         "trainer", exit=0, root="dataset", slow=True),
    Case("ddp-two-processes-on-cpu", PLACEMENT, "two DDP processes on CPU (every rank runs the "
         "command; only rank zero prints the run's summary, the others end quietly)", "train.py",
         (*SMALL_TRANSFORMER, "trainer.devices=2", "trainer.strategy=ddp", *QUIET, OUT),
         "Run:    {out}/runs/transformer-all_4dir-", exit=0, root="dataset", slow=True),
    # --- command-line syntax and resume overrides ---
    Case("override-without-value", OVERRIDES, "an override without `=`", "train.py",
         ("model.hidden", OUT), "Error parsing override 'model.hidden'", exit=1),
    Case("override-bad-syntax", OVERRIDES, "an unclosed list", "train.py",
         ("model.hidden=[", OUT), "no viable alternative at input '['", exit=1),
    Case("resume-changes-setting", OVERRIDES, "a setting other than the epoch budget changed "
         "on resume", "train.py", ("resume={out}/runs/{run}", "trainer.top_k=5"),
         "error: trainer.top_k: a resumed run keeps its own saved config; only "
         "['trainer.max_epochs', 'trainer.max_minutes'] may be given with resume=",
         root="trained", setup=run_copy(), slow=True),
    Case("resume-key-of-its-model", OVERRIDES, "a key of the resumed run's own model that the "
         "default model lacks (`model.hidden` of an LSTM run)", "train.py",
         ("resume={out}/runs/{run}", "model.hidden=8"),
         "error: model.hidden: a resumed run keeps its own saved config; only "
         "['trainer.max_epochs', 'trainer.max_minutes'] may be given with resume=",
         root="trained", setup=run_copy(), slow=True),
    Case("resume-nothing-left", OVERRIDES, "resume of a finished run without more epochs",
         "train.py", ("resume={out}/runs/{run}",), "raise trainer.max_epochs",
         root="trained", setup=run_copy(register), slow=True),
    Case("resume-damaged-keras-backup", CHECKPOINTS, "a damaged Keras backup on resume",
         "train.py", ("resume={out}/runs/{run}", "trainer.max_epochs=3"),
         "error: {out}/runs/{run}: cannot resume: {out}/runs/{run}/backup/"
         "training_metadata.json: damaged Keras backup metadata", root="trained",
         setup=run_copy(garbage("backup/training_metadata.json")), slow=True),
    # --- user JSONL files ---
    Case("user-file-missing-field", USER_DATA, "a line without `answer`", "evaluate.py",
         ("run={run}", "data.path={tmp}/mine.jsonl", OUT),
         "error: {tmp}/mine.jsonl:1: field 'answer' is missing (required: story, question, "
         "answer)", root="trained",
         setup=write_file("mine.jsonl", '{"story": "Ava walks north.", "question": "Is Ava '
                          'going in the same direction as Ava?"}\n'), slow=True),
    Case("user-file-bad-answer", USER_DATA, "an answer that is not yes/no", "evaluate.py",
         ("run={run}", "data.path={tmp}/mine.jsonl", OUT),
         "error: {tmp}/mine.jsonl:2: field 'answer' has unknown value 'maybe' (expected one "
         "of yes, no, true, false, 1, 0)", root="trained",
         setup=write_file("mine.jsonl", GOOD_LINE + GOOD_LINE.replace('"yes"', '"maybe"')),
         slow=True),
    Case("user-file-bad-noun-count", USER_DATA, "a `noun_count` that is not an integer",
         "diagnose.py", ("run={run}", "data.path={tmp}/test.jsonl", OUT),
         "error: {tmp}/test.jsonl:1: field 'noun_count' must be a non-negative integer, "
         "got 'five'", root="trained",
         setup=write_file("test.jsonl", GOOD_LINE.replace("}", ', "noun_count": "five"}')),
         slow=True),
    Case("user-file-invalid-json", USER_DATA, "a line that is not JSON", "evaluate.py",
         ("run={run}", "data.path={tmp}/mine.jsonl", OUT),
         "error: {tmp}/mine.jsonl:2: malformed JSON (Expecting property name enclosed in "
         "double quotes at column 2)", root="trained",
         setup=write_file("mine.jsonl", GOOD_LINE + "{oops\n"), slow=True),
    Case("user-file-empty", USER_DATA, "an empty file", "evaluate.py",
         ("run={run}", "data.path={tmp}/mine.jsonl", OUT),
         "error: {tmp}/mine.jsonl: the file is empty; it needs one JSON object per line",
         root="trained", setup=write_file("mine.jsonl", ""), slow=True),
    Case("user-file-not-found", USER_DATA, "a path that does not exist", "evaluate.py",
         ("run={run}", "data.path={tmp}/nope.jsonl", OUT),
         "error: {tmp}/nope.jsonl: no such file or folder; give a dataset folder or a split "
         "file", root="trained", slow=True),
    Case("user-folder-without-splits", USER_DATA, "a folder without split files",
         "evaluate.py", ("run={run}", "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine: no split files; give one file per split (train.jsonl, "
         "valid.jsonl, test.jsonl; or .csv or .parquet) or a Hugging Face dataset saved with "
         "save_to_disk", root="trained",
         setup=make_dir("mine"), slow=True),
    Case("user-file-split-not-there", USER_DATA, "a split the user data does not have",
         "diagnose.py", ("run={run}", "data.path={tmp}/mine.jsonl", "split=test", OUT),
         "error: split: 'test' not in the data; it has ['mine']", root="trained",
         setup=write_file("mine.jsonl", GOOD_LINE), slow=True),
    Case("user-file-unknown-words", USER_DATA, "a name the run never saw in training (`Zoë`; "
         "`allow_unknown_words=true` evaluates anyway, with a warning)", "evaluate.py",
         ("run={run}", "data.path={tmp}/mine.jsonl", OUT),
         "error: data.path: {tmp}/mine.jsonl: 1 word the run never saw in training (rows "
         "counted from 1): 'zoë' (rows 1, 3). The run knows only its training split's words "
         "({out}/runs/{run}/vocab.json, 96 tokens) and reads any other as [UNK], so two "
         "unknown names become one actor and the accuracy means nothing; use the names and "
         "words of the training stories, or give allow_unknown_words=true to evaluate anyway",
         root="trained", setup=write_file("mine.jsonl", ZOE_LINE + GOOD_LINE + ZOE_LINE),
         slow=True),
    Case("split-not-in-data", USER_DATA, "a split that does not exist", "evaluate.py",
         ("run={run}", "splits=[tset]", OUT),
         "error: splits: 'tset' not in the data; it has ['train', 'valid_a', 'valid_comp', "
         "'test']", root="trained", slow=True),
    # --- training on a user's dataset folder (data.path) ---
    Case("user-data-no-train-split", USER_DATA, "a folder without a `train` split",
         "train.py", (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine: no train split to train on; it has ['valid', 'test']: add "
         "train.jsonl (or .csv, .parquet), one file per split",
         setup=user_folder(valid_jsonl=BOTH["valid"], test_jsonl=BOTH["test"])),
    Case("user-data-empty-split", USER_DATA, "a CSV split with a header and no rows",
         "train.py", (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine/valid.csv: the split is empty; it needs at least one row",
         setup=user_folder(train_csv="story,question,answer\nAva walks north.,Is Ava going "
                           "in the same direction as Ava?,yes\n",
                           valid_csv="story,question,answer\n")),
    Case("user-data-one-class", USER_DATA, "a train split whose answers are all `yes`",
         "train.py", (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine/train.jsonl: split 'train' has only 'yes' answers (2 rows); a "
         "yes/no model needs both answers in every split it trains or is scored on: add rows "
         "with the other answer",
         setup=user_folder(train_jsonl=story_line("north", "yes") * 2, valid_jsonl=BOTH["valid"])),
    Case("user-data-one-class-validation", USER_DATA, "a validation split with one answer only "
         "(trains, with a warning)", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", "trainer.progress=false", "progress=false",
          "tracker.sinks=[jsonl]", OUT),
         "warning: data.path: {tmp}/mine/valid.jsonl: split 'valid' has only 'no' answers (1 "
         "rows): its accuracy picks the best epoch but says little", exit=0,
         setup=user_folder(train_jsonl=BOTH["train"], valid_jsonl=story_line("south", "no", "Cy"),
                           test_jsonl=BOTH["test"]), slow=True),
    Case("user-data-leakage", USER_DATA, "test rows that are also in train (trains, with a "
         "warning: leakage)", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", "trainer.progress=false", "progress=false",
          "tracker.sinks=[jsonl]", OUT),
         "warning: data.path: {tmp}/mine/test.jsonl: 4 of 4 rows of 'test' (a test split) are "
         "also in train (same story and question): leakage, its accuracy overstates what the "
         "model learnt", exit=0,
         setup=user_folder(train_jsonl=BOTH["train"], valid_jsonl=BOTH["valid"],
                           test_jsonl=BOTH["train"]), slow=True),
    Case("user-data-unreadable", USER_DATA, "a `.parquet` file that is not Parquet", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine/train.parquet: cannot be read as Parquet (",
         setup=user_folder(train_parquet=b"story,question,answer\n", valid_parquet=b"PAR1")),
    Case("user-data-mixed-formats", USER_DATA, "JSONL and CSV splits in one folder", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine: mixed formats (CSV and JSONL: train.jsonl, valid.csv); keep one "
         "format per folder, one file per split",
         setup=user_folder(train_jsonl=BOTH["train"], valid_csv="story,question,answer\n")),
    Case("user-data-bad-csv-row", USER_DATA, "a CSV row whose answer is not yes/no", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine/train.csv: row 2: field 'answer' has unknown value 'maybe'",
         setup=user_folder(train_csv="story,question,answer\nAva walks north.,Is Ava going "
                           "north?,yes\nAva walks north.,Is Ava going north?,maybe\n")),
    Case("user-data-hf-single-dataset", USER_DATA, "a Hugging Face `Dataset` saved alone, not "
         "a `DatasetDict` of splits", "train.py", (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine: holds one Hugging Face Dataset, not a DatasetDict of splits; save "
         "a DatasetDict({'train': ..., 'valid': ...}) with save_to_disk",
         setup=user_folder(state_json="{}", **{"data-00000-of-00001_arrow": b""})),
    Case("user-data-row-too-long", USER_DATA, "a question longer than the entity-memory model "
         "reads (`model.max_sentence_tokens`; a story sentence alike)", "train.py",
         ("model=entity_memory", "model.max_sentence_tokens=4", "trainer.max_epochs=1",
          "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine/train.jsonl: row 1: the question has 10 tokens, more than "
         "model.max_sentence_tokens=4 (model entity_memory); raise that setting or shorten the "
         "row", setup=user_folder(train_jsonl=BOTH["train"], valid_jsonl=BOTH["valid"])),
    Case("user-data-not-a-folder", USER_DATA, "`data.path` naming a file", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine/train.jsonl", OUT),
         "error: data.path: {tmp}/mine/train.jsonl is not a folder; give a folder with one file "
         "per split (train.jsonl, valid.jsonl, test.jsonl; or .csv, .parquet) or a Hugging Face "
         "dataset saved with save_to_disk", setup=user_folder(train_jsonl=BOTH["train"])),
    Case("user-data-no-validation-split", USER_DATA, "no split to pick the best epoch on",
         "train.py", (*SMALL_LSTM, "data.path={tmp}/mine", OUT),
         "error: {tmp}/mine: no validation split (valid_a or valid) to pick the best epoch; "
         "it has ['train', 'test']: add valid.jsonl (or .csv, .parquet) or name one with "
         "data.valid_split=<split>",
         setup=user_folder(train_jsonl=BOTH["train"], test_jsonl=BOTH["test"])),
    Case("user-data-evaluate-split-missing", USER_DATA, "`evaluate_splits` naming a split the "
         "folder does not have", "train.py",
         (*SMALL_LSTM, "data.path={tmp}/mine", "evaluate_splits=[test]", OUT),
         "error: evaluate_splits: 'test' is not a split of {tmp}/mine; it has ['train', "
         "'valid']", setup=user_folder(train_jsonl=BOTH["train"], valid_jsonl=BOTH["valid"])),
    # --- dataset folders ---
    Case("dataset-file-edited", DATASETS, "a dataset file edited after generation",
         "generate_data.py", ("data.size=tiny", OUT),
         "error: dataset {out}/datasets/{dataset}: train.jsonl no longer matches the sha256 in "
         "manifest.json (edited or corrupt). Delete the folder (rm -r "
         "'{out}/datasets/{dataset}') and run the same command again to rebuild it.",
         root="dataset", setup=dataset_file("edit", "train.jsonl")),
    Case("dataset-file-missing", DATASETS, "a dataset file deleted", "train.py",
         (*SMALL_LSTM, *QUIET, OUT),
         "error: dataset {out}/datasets/{dataset}: test.jsonl is missing. Delete the folder (rm -r "
         "'{out}/datasets/{dataset}') and run the same command again to rebuild it.",
         root="dataset", setup=dataset_file("remove", "test.jsonl")),
    Case("dataset-manifest-damaged", DATASETS, "a dataset `manifest.json` that is not JSON",
         "generate_data.py", ("data.size=tiny", OUT),
         "error: dataset {out}/datasets/{dataset}: cannot read manifest.json (",
         root="dataset", setup=dataset_file("edit", "manifest.json")),
    # --- checkpoints ---
    Case("checkpoint-corrupt", CHECKPOINTS, "a best checkpoint that is not a weights file",
         "evaluate.py", ("run={run}", "splits=[test]", OUT),
         "error: {out}/runs/{run}/checkpoints/best.weights.h5: cannot be loaded into this model "
         "(OSError: Unable to synchronously open file (file signature not found)); the file is "
         "corrupt or truncated", root="trained",
         setup=run_copy(garbage("checkpoints/best.weights.h5")), slow=True),
    Case("checkpoint-truncated", CHECKPOINTS, "a truncated best checkpoint", "evaluate.py",
         ("run={run}", "splits=[test]", OUT),
         "error: {out}/runs/{run}/checkpoints/best.weights.h5: cannot be loaded into this model "
         "(OSError: Unable to synchronously open file (truncated file", root="trained",
         setup=run_copy(truncate("checkpoints/best.weights.h5")), slow=True),
    Case("checkpoint-vocabulary-size", CHECKPOINTS, "a checkpoint for another vocabulary size "
         "(the run's `vocab.json` changed)", "evaluate.py", ("run={run}", "splits=[test]", OUT),
         "error: {out}/runs/{run}/checkpoints/best.weights.h5: saved for another vocabulary "
         "size or model size: its story_embedding weights have shape (96, 8), this model's "
         "(146, 8); load it with the vocabulary (the run's vocab.json) and model settings it "
         "was trained with", root="trained", setup=run_copy(grow_vocabulary), slow=True),
    Case("checkpoint-lightning-for-keras", CHECKPOINTS, "a Lightning `.ckpt` as the best "
         "checkpoint of a Keras run", "diagnose.py", ("run={run}", OUT),
         "error: {out}/runs/{run}/checkpoints/best.ckpt: KerasTrainer loads Keras weights "
         "files (.weights.h5) only (a Lightning checkpoint: load it with LightningTrainer)",
         root="trained", setup=run_copy(best_is_a_lightning_file), slow=True),
    Case("checkpoint-keras-for-lightning", CHECKPOINTS, "a Keras `.weights.h5` as the best "
         "checkpoint of a Lightning run", "evaluate.py", ("run={run}", "splits=[test]", OUT),
         "error: {out}/runs/{run}/checkpoints/best.weights.h5: a Keras weights file; the "
         "Lightning trainer loads .ckpt files (use KerasTrainer for LSTM checkpoints)",
         root="trained", setup=run_copy(config_says_transformer), slow=True),
    Case("checkpoint-missing", CHECKPOINTS, "the best checkpoint deleted", "evaluate.py",
         ("run={run}", OUT),
         "error: run {run}: its best checkpoint {out}/runs/{run}/checkpoints/best.weights.h5 "
         "is missing; restore the file, or train the run again", root="trained",
         setup=run_copy(remove("checkpoints/best.weights.h5")), slow=True),
    # --- run ids and run folders ---
    Case("run-path-not-a-run", RUNS, "a folder that is not a run folder (a run folder may lie "
         "anywhere)", "evaluate.py", ("run={tmp}/elsewhere", OUT),
         "error: run='{tmp}/elsewhere': {tmp}/elsewhere is not a run (no manifest.json); list "
         "runs with: python scripts/registry.py list", setup=make_dir("elsewhere")),
    Case("run-absolute-path-not-a-run", RUNS, "an absolute path that is not a run folder",
         "diagnose.py", ("run=/etc", OUT),
         "error: run='/etc': /etc is not a run (no manifest.json)"),
    Case("run-id-leads-out", RUNS, "a run id whose folder links out of the runs folder",
         "evaluate.py", ("run={run}", OUT),
         "error: run='{run}': a run id names a folder in {out}/runs, and this one leads out of "
         "it (a link?); give the path of the run folder itself", setup=run_id_leading_out),
    Case("run-id-unknown", RUNS, "a run id that does not exist", "evaluate.py",
         ("run=nope", OUT),
         "error: run='nope': {out}/runs/nope is not a run (no manifest.json); list runs with: "
         "python scripts/registry.py list"),
    Case("run-folder-without-manifest", RUNS, "a run folder without a manifest (killed before "
         "it started)", "diagnose.py", ("run={run}", OUT),
         "error: run='{run}': {out}/runs/{run} is not a run (no manifest.json)",
         setup=bare_run_folder),
    Case("run-not-finished", RUNS, "a run whose manifest says `running`", "evaluate.py",
         ("run={run}", OUT),
         "error: run: {run} is running, not finished; resume it (python scripts/train.py "
         "resume={out}/runs/{run}) or start a new run", root="trained",
         setup=run_copy(manifest_status("running")), slow=True),
    Case("compare-not-finished", RUNS, "comparing a run whose manifest says `interrupted`",
         "compare.py", ("runs=[{run}]", OUT),
         "error: run {run} is interrupted, not finished; only finished runs can be compared",
         root="trained", setup=run_copy(manifest_status("interrupted")), slow=True),
    Case("run-manifest-damaged", RUNS, "a run `manifest.json` that is not JSON", "evaluate.py",
         ("run={run}", OUT),
         "error: run='{run}': {out}/runs/{run}/manifest.json: not valid JSON (Expecting value: "
         "line 1 column 12 (char 11)); the run folder is damaged", root="trained",
         setup=run_copy(damage_manifest), slow=True),
    Case("sweep-job-killed-in-first-epoch", RUNS, "a sweep started again after its job's run "
         "was killed in its first epoch (nothing to resume: the job trains the run again from "
         "the start, in its folder; its MLflow run, if any, is closed as KILLED)", "train.py",
         ("-m", "seed=1", *SMALL_LSTM, *QUIET, OUT),
         "was interrupted before it finished an epoch (nothing to resume); training it again "
         "from the start", exit=0, root="trained", setup=run_copy(killed_in_first_epoch(1)),
         slow=True),
    Case("resume-not-a-run", RUNS, "resume of a folder that is not a run", "train.py",
         ("resume={tmp}/nowhere",),
         "error: resume='{tmp}/nowhere': {tmp}/nowhere is not a run (no manifest.json)"),
    Case("resume-manifest-damaged", RUNS, "resume of a run whose `manifest.json` is not JSON",
         "train.py", ("resume={out}/runs/{run}",),
         "error: resume: {out}/runs/{run}/manifest.json: not valid JSON", root="trained",
         setup=run_copy(damage_manifest), slow=True),
    Case("compare-nothing", RUNS, "compare without runs", "compare.py", (OUT,),
         "error: runs: give runs=[<run id or dir>,...] or sweep=<multirun dir>"),
    Case("compare-not-a-sweep", RUNS, "a folder that is not a sweep's multirun folder",
         "compare.py", ("sweep={tmp}/elsewhere", OUT),
         "error: sweep={tmp}/elsewhere: no job folder with run_dir.txt; give the multirun "
         "folder (models_out/multirun/<time>) of a finished `train.py -m` sweep",
         setup=make_dir("elsewhere")),
    Case("compare-split-not-evaluated", RUNS, "comparing on a split the run was not evaluated "
         "on", "compare.py", ("runs={run}", "splits=[tset]", OUT),
         "error: splits: ['tset'] not evaluated in run {run}; it has ['test', 'train', "
         "'valid_a', 'valid_comp']", root="trained", setup=run_copy(), slow=True),
    Case("registry-unknown-id", RUNS, "`registry.py show` of an unknown id", "registry.py",
         ("show", "run=nope", OUT),
         "error: run 'nope' is not in {out}/registry.json (latest: none); list them with: "
         "python scripts/registry.py list"),
    Case("registry-damaged", RUNS, "a `registry.json` that is not JSON", "registry.py",
         ("list", OUT),
         "error: {out}/registry.json is damaged (JSONDecodeError: Expecting property name enclosed "
         "in double quotes: line 1 column 2 (char 1)); restore it from a backup or delete it and "
         "re-register the runs (python scripts/registry.py rebuild)",
         setup=damaged_registry),
    # --- output folders ---
    Case("output-dir-is-a-file", OUTPUT, "an output folder below a file", "train.py",
         ("paths.output_dir={tmp}/file/out",),
         "error: cannot write to output directory {tmp}/file/out/runs: Not a directory. Choose "
         "a writable folder (paths.output_dir=... on the command line).",
         setup=write_file("file", "")),
    Case("output-dir-is-a-file-data", OUTPUT, "an output folder below a file",
         "generate_data.py", ("paths.output_dir={tmp}/file/out",),
         "error: cannot write to output directory {tmp}/file/out/datasets: Not a directory. Choose "
         "a writable folder (paths.output_dir=... on the command line).",
         setup=write_file("file", "")),
    Case("output-dir-read-only", OUTPUT, "an output folder without write permission",
         "train.py", ("paths.output_dir={tmp}/locked/out",),
         "error: cannot write to output directory {tmp}/locked/out/runs: Permission denied.",
         setup=make_dir("locked", 0o555), skip=is_root),
    Case("output-dir-read-only-filesystem", OUTPUT, "an output folder on a read-only file "
         "system (`/sys`)", "generate_data.py", ("paths.output_dir=/sys/storyqa-out",),
         "error: cannot write to output directory /sys/storyqa-out/datasets: ", skip=not_linux),
    Case("export-target-below-a-file", OUTPUT, "a data export folder below a file",
         "generate_data.py", ("data.size=tiny", "format=parquet", "out={tmp}/file/export", OUT),
         "error: cannot write the export to {tmp}/file/export: {tmp}/file is not a folder. "
         "Choose a writable folder (out=...).", setup=write_file("file", "")),
    Case("export-target-read-only-filesystem", OUTPUT, "a data export folder on a read-only "
         "file system (`/sys`)", "generate_data.py",
         ("data.size=tiny", "format=parquet", "out=/sys/storyqa-export", OUT),
         "error: cannot write the export to /sys/storyqa-export: /sys: ", skip=not_linux),
    Case("export-target-not-an-export", OUTPUT, "a data export folder that holds other files",
         "generate_data.py", ("data.size=tiny", "format=parquet", "out={tmp}/mine", OUT),
         "error: out: {tmp}/mine already exists and is not a storyqa data export; choose a new "
         "folder, or delete it first", setup=folder_with_file("mine")),
    Case("export-target-other-version", OUTPUT, "a data export folder that holds the export "
         "of another dataset version", "generate_data.py",
         ("data.size=tiny", "format=parquet", "out={tmp}/old", OUT),
         "error: out: {tmp}/old holds the export of version all_4dir-tiny-00000000, not "
         "{dataset}; choose a new folder, or delete it first",
         setup=earlier_export("old", "all_4dir-tiny-00000000")),
    Case("export-target-in-datasets", OUTPUT, "a data export folder among the dataset "
         "versions", "generate_data.py",
         ("data.size=tiny", "format=parquet", "out={out}/datasets/mine", OUT),
         "error: out: {out}/datasets/mine is inside {out}/datasets, where dataset versions live "
         "(a version's manifest covers its files); choose a folder outside it"),
    Case("disk-full-generating", OUTPUT, "the disk fills up while the dataset is written "
         f"(simulated: a {FULL_DISK_BYTES // 1000} kB file-size limit)", "generate_data.py",
         ("data.size=tiny", "progress=false", OUT),
         "error: cannot write dataset {out}/datasets/{dataset}: File too large. Free some "
         "space, or choose a folder on another disk (paths.output_dir=...).",
         file_size_limit=FULL_DISK_BYTES),
    Case("disk-full-evaluating", OUTPUT, "the disk fills up after training, while the run is "
         "evaluated (simulated as above; the run is marked `failed`)", "train.py",
         (*SMALL_LSTM, *QUIET, OUT),
         "error: cannot write the output folder: File too large. Free some space, or choose a "
         "folder on another disk (paths.output_dir=...).", root="dataset",
         file_size_limit=FULL_DISK_BYTES, leaves_failed_run=True, slow=True),
    # --- using a trained model: predict.py, export.py, registry.py register ---
    Case("predict-unknown-word", USING, "a story with a word the run never saw", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", "output={tmp}/out.jsonl", OUT),
         "error: {tmp}/stories.jsonl:1: 'zed' is not in the run's vocabulary. The model knows "
         "only the 96 tokens of its training stories and questions (the train split of "
         "{dataset}, saved as {out}/runs/{run}/vocab.json) and would read any other word as "
         "[UNK], so two unknown names would become one actor; use the names and words of the "
         "training stories, or give allow_unknown_words=true to read unknown words as [UNK]",
         root="trained", setup=write_file("stories.jsonl", PREDICT_LINE.replace("Ava", "Zed")),
         slow=True),
    Case("predict-malformed-json", USING, "a line that is not JSON", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", OUT),
         "error: {tmp}/stories.jsonl:2: malformed JSON (Expecting property name enclosed in "
         "double quotes at column 2); each line must be one JSON object", root="trained",
         setup=write_file("stories.jsonl", PREDICT_LINE + "{oops\n"), slow=True),
    Case("predict-missing-field", USING, "a line without `question`", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", OUT),
         "error: {tmp}/stories.jsonl:1: field 'question' is missing (required: story, question; "
         "answer is optional)", root="trained",
         setup=write_file("stories.jsonl", '{"story": "Ava walks north."}\n'), slow=True),
    Case("predict-wrong-type", USING, "a story that is not text", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", OUT),
         "error: {tmp}/stories.jsonl:1: field 'story' must be a string, got int 7",
         root="trained", slow=True, setup=write_file(
             "stories.jsonl", PREDICT_LINE.replace('"Ava walks north."', "7"))),
    Case("predict-empty-story", USING, "an empty story", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", OUT),
         "error: {tmp}/stories.jsonl:1: the story is empty; give the story to answer",
         root="trained", slow=True, setup=write_file(
             "stories.jsonl", PREDICT_LINE.replace('"Ava walks north."', '" "'))),
    Case("predict-actor-not-in-story", USING, "a question about an actor the story does not "
         "name", "predict.py", ("run={run}", "story=Ava walks north.",
         "question=Is Ben going in the same direction as Ava?", OUT),
         "error: row 1: the question asks about 'Ben', who is not in the story (it names Ava); "
         "ask about two actors of the story", root="trained", slow=True),
    Case("predict-no-input", USING, "neither a file nor a story", "predict.py",
         ("run={run}", OUT),
         "error: input: give input=<stories.jsonl> (one story and question per line), or "
         'story="..." question="..."', root="trained", slow=True),
    Case("predict-output-is-a-folder", USING, "an existing folder as the output file (refused "
         "before the model is loaded)", "predict.py",
         ("run={run}", "input={tmp}/stories.jsonl", "output={tmp}/predictions", OUT),
         "error: output: {tmp}/predictions is a folder; give the file to write, e.g. "
         "output={tmp}/predictions/stories.predictions.jsonl", root="trained", slow=True,
         setup=both(write_file("stories.jsonl", PREDICT_LINE), make_dir("predictions"))),
    Case("predict-run-not-finished", USING, "predicting with a run whose manifest says "
         "`running`", "predict.py", ("run={run}", "story=Ava walks north.",
         "question=Is Ava going in the same direction as Ava?", OUT),
         "error: run: {run} is running, not finished; its model is not final: resume it "
         "(python scripts/train.py resume={out}/runs/{run}) or use a finished run",
         root="trained", setup=run_copy(manifest_status("running")), slow=True),
    Case("export-format-of-other-framework", USING, "an ONNX export of a Keras model",
         "export.py", ("run={run}", "format=onnx", OUT),
         "error: format: 'onnx' cannot export a keras model (onnx is for the other framework's "
         "models); choose from ['keras', 'saved_model']", root="trained", slow=True),
    Case("register-without-mlflow-model", USING, "registering a run trained without the MLflow "
         "sink", "registry.py", ("register", "run={run}", OUT),
         "error: run {run} logged no model to MLflow (no mlflow_model.json); train with the "
         "MLflow sink on (tracker.sinks=[jsonl,mlflow])", root="trained", slow=True),
    Case("register-without-run", USING, "`registry.py register` without the run (every "
         "setting is key=value)", "registry.py", ("register", "name=best", "alias=champion", OUT),
         "error: run: required; give run=<run id> on the command line"),
    Case("registry-unknown-key", USING, "a key `registry.py register` does not take",
         "registry.py", ("register", "run=nope", "nam=best", OUT),
         "error: nam: unknown key for registry.py register; it takes ['alias', 'name', "
         "'paths.output_dir', 'run']"),
    # --- the training service: its settings, checked before anything starts ---
    Case("service-unknown-key", SERVICE, "a `service.*` key that does not exist", "service.py",
         ("start", "service.prot=9000", OUT),
         "error: Could not override 'service.prot'. To append to your config use "
         "+service.prot=9000"),
    Case("service-bad-port", SERVICE, "a port outside 1-65535", "service.py",
         ("start", "service.port=0", OUT), "error: service.port: 0 is not a port (1-65535)"),
    Case("service-not-a-number", SERVICE, "a count that is not a number", "service.py",
         ("start", "service.workers=two", OUT), "error: service.workers: 'two' is not an integer"),
    Case("service-heartbeat-timeout-too-short", SERVICE, "a heartbeat timeout under three "
         "heartbeats", "service.py", ("start", "service.heartbeat_s=10",
         "service.heartbeat_timeout_s=20", OUT),
         "error: service.heartbeat_timeout_s: 20.0 s is under three heartbeats "
         "(service.heartbeat_s=10.0); a busy worker would be taken for lost"),
    Case("service-public-without-key", SERVICE, "binding beyond loopback without an API key",
         "service.py", ("start", "service.host=0.0.0.0", OUT),
         "error: service.api_key: required when the service binds beyond loopback "
         "(service.host=0.0.0.0); set service.api_key=... or STORYQA_API_KEY"),
    Case("service-bad-redis-url", SERVICE, "a Redis URL that is not one", "service.py",
         ("start", "service.redis_url=http://host:6379", OUT),
         "error: service.redis_url: 'http://host:6379' is not a Redis URL; give "
         "redis://host:6379/0 (or rediss://, unix://)"),
    Case("service-notify-unknown-kind", SERVICE, "a notification target of a kind that does "
         "not exist", "service.py",
         ("start", "service.notify=[{kind:teams,url:'https://example.org/hook'}]", OUT),
         "error: service.notify[0].kind: 'teams' is not a notification kind; give discord, "
         "slack or webhook"),
    Case("service-notify-unknown-event", SERVICE, "a notification target listing an event "
         "type that does not exist", "service.py",
         ("start", "service.notify=[{kind:webhook,url:'https://example.org/hook',"
          "events:[run.done.v1]}]", OUT),
         "error: service.notify[0].events: 'run.done.v1' is not an event type; known: "
         "run.queued.v1, run.started.v1"),
    Case("service-notify-unset-env", SERVICE, "a notification URL read from an environment "
         "variable that is not set", "service.py",
         ("start", "service.notify=[{kind:discord,url:env:STORYQA_NO_SUCH_WEBHOOK}]", OUT),
         "error: service.notify[0].url: the environment variable 'STORYQA_NO_SUCH_WEBHOOK' is "
         "not set; set it, or give the value itself"),
    Case("service-worker-without-redis", SERVICE, "a worker with no service running on its "
         "output folder and no `service.redis_url`", "service.py", ("worker", OUT),
         "error: no Redis: no service runs on {out} (no answer on {out}/service/redis.sock); "
         "start it (storyqa-service start) or give service.redis_url=redis://host:6379/0"),
    Case("service-client-without-service", SERVICE, "a client command with no service at "
         "its URL", "service.py", ("status", "some-run", "--url", "http://127.0.0.1:9"),
         "error: no answer from http://127.0.0.1:9", exit=1),
)  # fmt: skip


# --- running a case ---------------------------------------------------------------------------


def run_script(
    script: str, args: list[str], cwd: Path, file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}

    def limit() -> None:
        assert file_size_limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit if file_size_limit is not None else None,
    )


def _status(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / "manifest.json").read_text())["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Snapshot:
    """What later commands read from an output root."""

    runs: dict[str, str | None]
    datasets: frozenset[str]
    registry: bytes | None
    sweeps: frozenset[str]
    #: Empty folders below the root (the root itself may be left).
    empty_folders: frozenset[str]

    @classmethod
    def of(cls, out: Path) -> Snapshot:
        runs_dir, datasets_dir, registry = out / "runs", out / "datasets", out / "registry.json"
        return cls(
            runs={p.name: _status(p) for p in runs_dir.iterdir() if p.is_dir()}
            if runs_dir.is_dir()
            else {},
            datasets=frozenset(
                p.name for p in datasets_dir.iterdir() if p.is_dir() and p.name[0] != "."
            )
            if datasets_dir.is_dir()
            else frozenset(),
            registry=registry.read_bytes() if registry.is_file() else None,
            sweeps=frozenset(p.name for p in (out / "multirun").glob("*")),
            empty_folders=frozenset(
                str(p.relative_to(out))
                for p in out.rglob("*")
                if p.is_dir() and not any(p.iterdir())
            ),
        )


def copy_dataset(source: Path, out: Path) -> None:
    shutil.copytree(source, out / "datasets" / source.name, ignore=shutil.ignore_patterns("enc*"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_4dir: Any) -> Path:
    """An output root with the tiny dataset and one trained LSTM run (1 epoch)."""
    out = tmp_path_factory.mktemp("bad-inputs") / "out"
    copy_dataset(tiny_4dir.path, out)
    done = run_script("train.py", [*SMALL_LSTM, *QUIET, f"paths.output_dir={out}"], out.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (out / "runs").glob("lstm-all_4dir-*")
    assert _status(run_dir) == "finished"
    return run_dir


def _params() -> list[Any]:
    slow = pytest.mark.slow
    return [pytest.param(case, id=case.id, marks=[slow] if case.slow else []) for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_refused_cleanly(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reason = case.skip() if case.skip is not None else None
    if reason:
        pytest.skip(reason)
    trained = request.getfixturevalue("trained_run") if case.root == "trained" else None
    out = trained.parent.parent if trained is not None else tmp_path / "out"
    ctx = Context(case.id, tmp_path, out, DATASET, trained, trained.name if trained else "")
    if case.root == "dataset":
        copy_dataset(request.getfixturevalue("tiny_4dir").path, out)
    try:
        if case.setup is not None:
            case.setup(ctx)
        before = Snapshot.of(out)
        done = run_script(
            case.script, [ctx.fill(a) for a in case.args], tmp_path, case.file_size_limit
        )
        after = Snapshot.of(out)
    finally:
        for folder in tmp_path.iterdir():  # a read-only folder must not block the clean-up
            if folder.is_dir():
                folder.chmod(0o755)
    shown = f"exit {done.returncode}; stderr:\n{done.stderr[-3000:]}"
    assert done.returncode == case.exit, shown
    assert "Traceback" not in done.stderr, shown
    new_runs = set(after.runs) - set(before.runs)
    if case.exit == 0:
        trained = {n for n, status in after.runs.items() if before.runs.get(n, "new") != status}
        _check_accepted(ctx.fill(case.message), done, out, trained)
        return
    assert ctx.fill(case.message) in done.stderr, shown
    assert case.leaves_failed_run or not new_runs, f"run folders left behind: {new_runs}"
    finished = {name for name, status in after.runs.items() if status == "finished"}
    assert finished <= {n for n, s in before.runs.items() if s == "finished"}, finished
    assert after.datasets <= before.datasets, after.datasets - before.datasets
    assert after.registry == before.registry, "the registry changed"
    assert after.sweeps <= before.sweeps, f"sweep folders left: {after.sweeps - before.sweeps}"
    left = after.empty_folders - before.empty_folders
    assert not left, f"empty folders left: {sorted(left)}"


def _check_accepted(
    message: str, done: subprocess.CompletedProcess[str], out: Path, trained: set[str]
) -> None:
    """An input that is no error: ``message`` once on the console; each run the command
    trained (new, or whose status changed) finished, a warning also in its ``run.log``."""
    console = done.stdout + done.stderr
    assert console.count(message) == 1, f"{message!r} {console.count(message)} times:\n{console}"
    assert trained, "no run trained"
    for name in trained:
        assert _status(out / "runs" / name) == "finished", name
        if message.startswith("warning: "):
            log = (out / "runs" / name / "run.log").read_text(encoding="utf-8")
            assert message.removeprefix("warning: ") in log, log[-3000:]


# --- the doc ------------------------------------------------------------------------------------


def _shown(text: str) -> str:
    for key, value in SHOWN.items():
        text = text.replace(key, value)
    return text


def _code(text: str) -> str:
    text = _shown(text).replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render_doc(cases: tuple[Case, ...] = CASES) -> str:
    """``docs/bad-inputs.md``: one table row per case, grouped."""
    lines = [
        "# Bad inputs",
        "",
        "Every bad input the commands are tested with, and what the user sees. Each row is a",
        "test in `tests/e2e/test_bad_inputs.py` (this file is generated from it:",
        f"`{REGENERATE}`). Each command exits non-zero, prints the message shown",
        "(on stderr; the part shown is part of the real line) and no traceback, and leaves no",
        "run folder that says `finished`, no new sweep folder, no new dataset version and no",
        "new registry entry. A row that exits 0 is no error: the command does what it should,",
        "and prints the line shown once (a `warning:` also goes to the run's `run.log`).",
        "",
        "`OUT` is the output root (`paths.output_dir`), `<run_id>` a run in `OUT/runs`. Our own",
        "checks print one `error: ...` line and exit with 2; Hydra's command-line errors exit",
        "with 1 and print Hydra's message (set `HYDRA_FULL_ERROR=1` for its stack trace).",
        "",
        f"{len(cases)} inputs.",
    ]
    for group in GROUPS:
        rows = [case for case in cases if case.group == group]
        if not rows:
            continue
        lines += ["", f"## {group}", "", "| Input | Command | What the user sees | Exit |"]
        lines.append("|---|---|---|---|")
        for case in rows:
            command = " ".join(["python", f"scripts/{case.script}", *case.args])
            lines.append(
                f"| {case.input} | {_code(command)} | {_code(case.message)} | {case.exit} |"
            )
    return "\n".join([*lines, *render_requests()]) + "\n"


def render_requests() -> list[str]:
    """The section of the service's bad HTTP requests (``tests/e2e/service_bad_requests.py``,
    tested in ``tests/e2e/test_service.py``)."""
    from tests.e2e.service_bad_requests import BAD_REQUESTS

    lines = [
        "",
        "## Requests to the training service's API",
        "",
        "Each is a test in `tests/e2e/test_service.py` against a running service. Every error "
        "is one JSON object `{code, message, request_id}` with the status shown; a refused run "
        "is never queued and leaves no folder.",
        "",
        "| Input | Request | What the client sees | Status |",
        "|---|---|---|---|",
    ]
    for bad in BAD_REQUESTS:
        lines.append(
            f"| {bad.input} | {_code(bad.shown_request)} | "
            f"{_code(f'{bad.code}: {bad.message}')} | {bad.status} |"
        )
    return lines


def test_doc_lists_every_case() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert {case.group for case in CASES} <= set(GROUPS)
    expected = render_doc()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            actual.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            str(DOC),
            "generated from tests/e2e/test_bad_inputs.py",
        )
    )
    assert not diff, f"{DOC} is out of date; regenerate it with: {REGENERATE}\n{diff}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check docs/bad-inputs.md.")
    parser.add_argument("--write-doc", action="store_true", help="rewrite the doc")
    args = parser.parse_args(argv)
    text = render_doc()
    if args.write_doc:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC} ({len(CASES)} cases)")
        return 0
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    print("up to date" if current == text else f"out of date; run: {REGENERATE}")
    return 0 if current == text else 1


if __name__ == "__main__":
    sys.exit(main())
