"""Write a dataset version out for other tools: Parquet, JSON Lines or a Hugging Face dataset.

:func:`export_dataset` writes one folder holding the version's rows in one of
:data:`EXPORT_FORMATS` and a dataset card (``README.md``, :mod:`stories.card`):

* ``parquet``: ``<split>.parquet``, one per split, that pandas reads back as the same rows;
* ``jsonl``: ``<split>.jsonl``, byte for byte the version's own files;
* ``hf``: a ``datasets.DatasetDict`` saved with ``save_to_disk``, ``answer`` and ``label``
  a ``ClassLabel`` with names ``["no", "yes"]``; ``datasets.load_from_disk`` reads it without
  storyqa.

The version folder itself is never written to (its manifest's sha256 covers its files). The
export is written to a hidden temporary folder beside the target, read back and compared with
the rows, and only then renamed into place, so a failure leaves nothing half-written. An
earlier export of the same version at the same place is replaced; any other folder that is not
empty (the export of another version included) is refused. ``datasets`` is imported only for
``hf``.

Example:
    >>> check_format("parquet")
    'parquet'
    >>> default_export_dir("models_out", "all_4dir-tiny-00bc92b0", "hf").as_posix()
    'models_out/exports/all_4dir-tiny-00bc92b0-hf'
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
from tqdm.auto import tqdm

from stories.build import _sha256
from stories.card import (
    ANSWER_NAMES,
    CARD_FILE,
    CLASS_LABEL_COLUMNS,
    INTEGER_COLUMNS,
    SplitFile,
    read_card,
    render_card,
)
from stories.errors import StoriesError

if TYPE_CHECKING:
    from stories.dataset import StoryDataset

EXPORT_FORMATS: Final[tuple[str, ...]] = ("parquet", "jsonl", "hf")
#: Folder of ``<paths.output_dir>`` that holds the exports: ``<version>-<format>/`` each.
EXPORTS_DIR: Final = "exports"


class ExportError(StoriesError, ValueError):
    """A data export cannot be made as asked (the message names the key and the fix)."""


@dataclass(frozen=True)
class DataExport:
    """A written export.

    Attributes:
        format: One of :data:`EXPORT_FORMATS`.
        folder: The export folder.
        version: The dataset version it holds.
        splits: Its splits, in order: files, rows and sizes.
        replaced: An earlier export at ``folder`` was replaced.
    """

    format: str
    folder: Path
    version: str
    splits: tuple[SplitFile, ...]
    replaced: bool

    @property
    def rows(self) -> int:
        """Rows over every split."""
        return sum(s.rows for s in self.splits)

    def files(self) -> list[Path]:
        """Every file of the export (the card included), sorted."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def how_to_load(self) -> str:
        """A line of Python that loads the export, for the console."""
        if self.format == "hf":
            return f'datasets.load_from_disk("{self.folder}")'
        reader = "pd.read_parquet" if self.format == "parquet" else "pd.read_json"
        extra = ", lines=True" if self.format == "jsonl" else ""
        first = self.folder / self.splits[0].path
        return f'{reader}("{first}"{extra})  or  datasets.load_dataset("{self.folder}")'


def check_format(value: object) -> str:
    """``value`` as an export format.

    Raises:
        ExportError: It is not one of :data:`EXPORT_FORMATS`.
    """
    if isinstance(value, str) and value in EXPORT_FORMATS:
        return value
    if isinstance(value, list | tuple):
        raise ExportError(
            f"format: give one format, one of {list(EXPORT_FORMATS)}, got {list(value)}"
        )
    raise ExportError(f"format: {value!r} is not one of {list(EXPORT_FORMATS)}")


def default_export_dir(output_dir: str | Path, version: str, fmt: str) -> Path:
    """Where an export goes unless told: ``<output_dir>/exports/<version>-<format>``."""
    return Path(output_dir) / EXPORTS_DIR / f"{version}-{fmt}"


def _export_version(folder: Path) -> str | None:
    """The version an earlier export in ``folder`` holds (``None``: not a storyqa export)."""
    card = read_card(folder)
    info = card.get("storyqa") if card else None
    if not isinstance(info, dict) or "format" not in info:
        return None
    return str(info.get("version"))


def _check_replaceable(target: Path, key: str, version: str | None) -> None:
    """Refuse a ``target`` that exists and is not an empty folder or an export of ``version``."""
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    earlier = _export_version(target) if target.is_dir() else None
    if earlier is None:
        raise ExportError(
            f"{key}: {target} already exists and is not a storyqa data export; choose a new "
            "folder, or delete it first"
        )
    if version is not None and earlier != version:
        raise ExportError(
            f"{key}: {target} holds the export of version {earlier}, not {version}; choose a "
            "new folder, or delete it first"
        )


def check_target(
    target: Path,
    *,
    key: str = "out",
    protected: Path | None = None,
    version: str | None = None,
) -> None:
    """Check, without writing anything, that an export can go to ``target``.

    An empty folder or an earlier export of ``version`` (any format) may be replaced; an
    export of another version is kept, since a run trained on it reads it by its path.

    Args:
        target: The export folder.
        key: The setting that named it, for the message (``out`` or ``paths.output_dir``).
        protected: A folder the export must stay out of (where dataset versions live).
        version: The version to be exported (``None``: any earlier export may be replaced).

    Raises:
        ExportError: ``target`` is inside ``protected``, is a file, a folder that is not an
            export or the export of another version, or cannot be created (no folder above it
            that can be written).
    """
    target = Path(target).absolute()
    if protected is not None:
        inside = Path(protected).absolute()
        if target == inside or inside in target.parents:
            raise ExportError(
                f"{key}: {target} is inside {inside}, where dataset versions live (a version's "
                "manifest covers its files); choose a folder outside it"
            )
    _check_replaceable(target, key, version)
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    reason = None
    if not ancestor.is_dir():
        reason = f"{ancestor} is not a folder"
    else:
        try:
            handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=ancestor)
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            reason = f"{ancestor}: {error.strerror or error}"
    if reason is not None:
        raise ExportError(
            f"cannot write the export to {target}: {reason}. Choose a writable folder ({key}=...)."
        )


def _arrow_schema(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.schema(
        [(c, pa.int64() if c in INTEGER_COLUMNS else pa.string()) for c in frame.columns]
    )


def _same_rows(read: pd.DataFrame, expected: pd.DataFrame) -> bool:
    return list(read.columns) == list(expected.columns) and read.to_dict(
        "records"
    ) == expected.to_dict("records")


def _write_parquet(dataset: StoryDataset, folder: Path, bar: tqdm) -> list[SplitFile]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for split in dataset:
        frame = dataset[split]
        table = pa.Table.from_pandas(frame, schema=_arrow_schema(frame), preserve_index=False)
        path = folder / f"{split}.parquet"
        pq.write_table(table, path)
        if not _same_rows(pd.read_parquet(path), frame):
            raise ExportError(f"{path}: read back, it does not hold the rows of split {split}")
        written.append(SplitFile(split, path.name, len(frame), table.nbytes, path.stat().st_size))
        bar.update(len(frame))
    return written


def _write_jsonl(dataset: StoryDataset, folder: Path, bar: tqdm) -> list[SplitFile]:
    import pyarrow as pa

    files = dataset.manifest["files"]
    written = []
    for split in dataset:
        frame = dataset[split]
        path = folder / f"{split}.jsonl"
        shutil.copyfile(dataset.path / path.name, path)
        if _sha256(path) != files[path.name]["sha256"]:
            raise ExportError(f"{path}: the copy does not match the sha256 in manifest.json")
        table = pa.Table.from_pandas(frame, schema=_arrow_schema(frame), preserve_index=False)
        written.append(SplitFile(split, path.name, len(frame), table.nbytes, path.stat().st_size))
        bar.update(len(frame))
    return written


def _hf_features(frame: pd.DataFrame) -> Any:
    import datasets

    answers = datasets.ClassLabel(names=list(ANSWER_NAMES))
    return datasets.Features(
        {
            c: answers
            if c in CLASS_LABEL_COLUMNS
            else datasets.Value("int64" if c in INTEGER_COLUMNS else "string")
            for c in frame.columns
        }
    )


def _hf_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``answer`` as its ``ClassLabel`` index (0 no, 1 yes)."""
    index = {name: i for i, name in enumerate(ANSWER_NAMES)}
    hf = frame.copy()
    hf["answer"] = frame["answer"].map(index)
    if hf["answer"].isna().any() or not (hf["answer"] == hf["label"]).all():
        raise ExportError("the rows' answer and label disagree; rebuild the dataset version")
    hf["answer"] = hf["answer"].astype("int64")
    return hf


@contextmanager
def _datasets_bars_off() -> Iterator[None]:
    import datasets

    was_on = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


def _write_hf(dataset: StoryDataset, folder: Path, bar: tqdm) -> list[SplitFile]:
    import datasets

    description = (
        f"storyqa {dataset.manifest['version']}: direction-following stories with yes/no "
        f"questions (dataset hash {dataset.hash}, seed {dataset.manifest['seed']})"
    )
    frames = {split: _hf_frame(dataset[split]) for split in dataset}
    with _datasets_bars_off():
        parts = {}
        for split, frame in frames.items():
            features = _hf_features(frame)
            info = datasets.DatasetInfo(description=description, features=features)
            parts[split] = datasets.Dataset.from_pandas(
                frame, features=features, info=info, split=datasets.NamedSplit(split),
                preserve_index=False,
            )  # fmt: skip
            bar.update(len(frame) // 2)
        datasets.DatasetDict(parts).save_to_disk(str(folder))
        loaded = datasets.load_from_disk(str(folder))
        written = []
        for split, frame in frames.items():
            if not _same_rows(loaded[split].to_pandas(), frame):
                raise ExportError(f"{folder}: read back, split {split} does not hold its rows")
            files = sorted((folder / split).glob("*.arrow"))
            written.append(
                SplitFile(
                    split,
                    f"{split}/data-*.arrow",
                    len(frame),
                    int(parts[split].data.nbytes),
                    sum(p.stat().st_size for p in files),
                )
            )
            bar.update(len(frame) - len(frame) // 2)
    return written


WRITERS: Final[dict[str, Callable[[StoryDataset, Path, tqdm], list[SplitFile]]]] = {
    "parquet": _write_parquet,
    "jsonl": _write_jsonl,
    "hf": _write_hf,
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: Path, name: str) -> None:
    """Temporary folders of exports to ``name`` whose process is gone (it was killed)."""
    for prefix in (".tmp-", ".old-"):
        for stale in parent.glob(f"{prefix}{name}-*"):
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def export_dataset(
    dataset: StoryDataset,
    fmt: str,
    target: str | Path,
    *,
    progress: bool = True,
    key: str = "out",
) -> DataExport:
    """Write ``dataset`` (a generated version) to ``target`` in format ``fmt``, with its card.

    The export is written beside ``target`` in a hidden temporary folder, read back and checked
    against the rows, then renamed to ``target``; an earlier export of the same version there
    is replaced (see :func:`check_target`).

    Args:
        dataset: A generated version (:func:`stories.build_dataset` or
            :func:`stories.load_dataset` of a version folder).
        fmt: One of :data:`EXPORT_FORMATS`.
        target: The export folder (:func:`default_export_dir` gives the usual place).
        progress: Show a progress bar over the rows.
        key: The setting that named ``target``, for messages.

    Raises:
        ExportError: An unknown format, a dataset that is not a generated version, a target
            inside the version, one that is not an export or the export of another version, or
            a write that fails (the disk fills up, no permission); nothing is left at
            ``target`` then.
    """
    fmt = check_format(fmt)
    if "counts" not in dataset.manifest or not isinstance(dataset.manifest.get("files"), dict):
        raise ExportError(
            f"dataset {dataset.name}: only a generated dataset version can be exported "
            "(scripts/generate_data.py writes one)"
        )
    target = Path(target).absolute()
    check_target(target, key=key, protected=dataset.path, version=dataset.manifest["version"])
    parent = target.parent
    try:
        created = _make_parents(parent)
    except OSError as error:
        raise ExportError(
            f"cannot write the export to {target}: {_reason(error)}. Choose a writable "
            f"folder ({key}=...)."
        ) from None
    _remove_stale(parent, target.name)
    temporary = parent / f".tmp-{target.name}-{os.getpid()}"
    old = parent / f".old-{target.name}-{os.getpid()}"
    total = sum(len(dataset[split]) for split in dataset)
    bar = tqdm(total=total, unit="row", desc=f"exporting {fmt}", disable=not progress)
    try:
        temporary.mkdir()
        splits = WRITERS[fmt](dataset, temporary, bar)
        columns = list(dataset[next(iter(dataset))].columns)
        card = render_card(dataset.manifest, fmt, splits, columns)
        (temporary / CARD_FILE).write_text(card, encoding="utf-8")
        moved = target.exists()
        replaced = moved and any(target.iterdir())
        if moved:
            target.rename(old)
        try:
            temporary.rename(target)
        except BaseException:
            if moved:
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        for folder in created:
            with suppress(OSError):
                folder.rmdir()
        if isinstance(error, OSError) and not isinstance(error, StoriesError):
            fix = (
                "Free some space, or choose a folder on another disk"
                if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                else "Choose a writable folder"
            )
            raise ExportError(
                f"cannot write the export to {target}: {_reason(error)}. {fix} ({key}=...)."
            ) from None
        raise
    finally:
        bar.close()
    return DataExport(fmt, target, dataset.manifest["version"], tuple(splits), replaced)
