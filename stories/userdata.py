"""A user's own dataset: one file per split in JSONL, CSV or Parquet, or a Hugging Face
dataset saved with ``save_to_disk``, read and checked row by row.

Every row goes through :func:`stories.jsonl.validate_row`, so a bad row is named by file, row
and field whatever the format. A row without ``noun_count`` gets its story's actor count when
the story follows storyqa's grammar (:func:`stories.semantics.actor_count`), else stays
unknown (0); :func:`read_user_splits` says how many rows have each.

Example::

    splits = read_user_splits(Path("my_data"))
    splits.frames["train"].head()
    splits.noun_count_sources["train"]   # {"given": 0, "computed": 700, "unknown": 0}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stories.errors import DataFileError
from stories.jsonl import UNKNOWN_NOUN_COUNT, read_user_records, validate_row
from stories.semantics import actor_count

#: File suffix -> format name, of the split files a user folder may hold.
FORMATS: Final[dict[str, str]] = {".jsonl": "JSONL", ".csv": "CSV", ".parquet": "Parquet"}
#: The file that marks a Hugging Face ``DatasetDict`` saved with ``save_to_disk``.
HF_DICT_FILE: Final = "dataset_dict.json"
HF_FORMAT: Final = "Hugging Face"
#: The file that marks a single Hugging Face ``Dataset`` saved with ``save_to_disk``.
HF_DATASET_FILE: Final = "state.json"
_ONE_HF_DATASET: Final = (
    "{folder}: holds one Hugging Face Dataset, not a DatasetDict of splits; save a "
    "DatasetDict({{'train': ..., 'valid': ...}}) with save_to_disk"
)
#: Where a row's ``noun_count`` came from, as counted per split.
NOUN_COUNT_SOURCES: Final[tuple[str, ...]] = ("given", "computed", "unknown")


@dataclass(frozen=True)
class UserSplits:
    """The validated rows of a user's dataset.

    Attributes:
        format: ``JSONL``, ``CSV``, ``Parquet`` or ``Hugging Face``.
        files: Every file the content hash covers, in order.
        records: Split name -> validated rows.
        noun_count_sources: Split name -> how many rows gave ``noun_count``, had it computed
            from the story, or have it unknown.
        hash: sha256 over the files' names (relative to the folder) and bytes.
    """

    format: str
    files: tuple[Path, ...]
    records: dict[str, list[dict[str, Any]]]
    noun_count_sources: dict[str, dict[str, int]]
    hash: str


def split_files(folder: Path) -> tuple[str, dict[str, Path]]:
    """The format of ``folder`` and its split files (split name -> file).

    Raises:
        DataFileError: No split files, or files of more than one format.
    """
    if (folder / HF_DICT_FILE).is_file():
        return HF_FORMAT, {}
    if (folder / HF_DATASET_FILE).is_file():
        raise DataFileError(_ONE_HF_DATASET.format(folder=folder))
    found = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix in FORMATS and not path.name.startswith(".")
    )
    formats = sorted({FORMATS[path.suffix] for path in found})
    if len(formats) > 1:
        names = ", ".join(path.name for path in found)
        raise DataFileError(
            f"{folder}: mixed formats ({' and '.join(formats)}: {names}); keep one format per "
            "folder, one file per split"
        )
    if not found:
        raise DataFileError(
            f"{folder}: no split files; give one file per split (train.jsonl, valid.jsonl, "
            "test.jsonl; or .csv or .parquet) or a Hugging Face dataset saved with save_to_disk"
        )
    return formats[0], {path.stem: path for path in found}


def read_user_splits(folder: Path) -> UserSplits:
    """Read and validate every split of a user's dataset folder.

    Raises:
        DataFileError: Naming the file, row and field of the first bad row, an unreadable or
            empty file, or a folder without split files or with mixed formats.
    """
    format_name, files = split_files(folder)
    if format_name == HF_FORMAT:
        raw, hashed = _read_hf(folder), _hf_files(folder)
    else:
        raw = {split: _read_file(path, format_name, split) for split, path in files.items()}
        hashed = list(files.values())
    records: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, dict[str, int]] = {}
    for split, rows in raw.items():
        records[split], sources[split] = _with_noun_counts(rows)
    return UserSplits(format_name, tuple(hashed), records, sources, _hash(folder, hashed))


#: Split names in the order they are listed (others follow by name).
SPLIT_ORDER: Final[tuple[str, ...]] = ("train", "valid_a", "valid", "valid_comp", "test")


def ordered(splits: list[str]) -> tuple[str, ...]:
    """Split names in :data:`SPLIT_ORDER`, any others after them by name.

    Example:
        >>> ordered(["test", "hard", "train", "valid"])
        ('train', 'valid', 'test', 'hard')
    """
    rank = {split: index for index, split in enumerate(SPLIT_ORDER)}
    return tuple(sorted(splits, key=lambda split: (rank.get(split, len(rank)), split)))


def user_split_names(folder: Path) -> tuple[str, ...]:
    """The splits of a user's dataset folder, from its file names (no row is read).

    Raises:
        DataFileError: As :func:`user_version`.
    """
    format_name, files = _folder_files(folder)
    if format_name == HF_FORMAT:
        try:
            names = json.loads((folder / HF_DICT_FILE).read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError):
            raise DataFileError(
                f"{folder / HF_DICT_FILE}: unreadable; save the dataset again with save_to_disk"
            ) from None
        return ordered([str(name) for name in names])
    return ordered(list(files))


def _folder_files(folder: Path) -> tuple[str, dict[str, Path]]:
    if not folder.is_dir():
        raise DataFileError(
            f"data.path: {folder} is not a folder; give a folder with one file per split "
            "(train.jsonl, valid.jsonl, test.jsonl; or .csv, .parquet) or a Hugging Face "
            "dataset saved with save_to_disk"
        )
    return split_files(folder)


def user_version(folder: Path) -> str:
    """The version of a user's dataset folder, ``<name>-<hash8>``, from its files alone
    (quick: no row is read).

    Raises:
        DataFileError: As :func:`split_files`, or a path that is not a folder.
    """
    format_name, files = _folder_files(folder)
    hashed = _hf_files(folder) if format_name == HF_FORMAT else list(files.values())
    return f"{folder.resolve().name}-{_hash(folder, hashed)[:8]}"


def _hf_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p, folder))


def read_user_file(path: Path) -> UserSplits:
    """Read and validate one split file (``.jsonl``, ``.csv`` or ``.parquet``), a split named
    after the file's stem.

    Raises:
        DataFileError: As :func:`read_user_splits`, or a suffix that is none of those.
    """
    if path.suffix not in FORMATS:
        raise DataFileError(
            f"{path}: not a split file; give a .jsonl, .csv or .parquet file or a folder"
        )
    rows, sources = _with_noun_counts(_read_file(path, FORMATS[path.suffix], path.stem))
    return UserSplits(
        FORMATS[path.suffix], (path,), {path.stem: rows}, {path.stem: sources},
        _hash(path.parent, [path]),
    )  # fmt: skip


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _hash(folder: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_file(path: Path, format_name: str, split: str) -> list[dict[str, Any]]:
    if format_name == "JSONL":
        return read_user_records(path, split)
    import pandas as pd

    try:
        if format_name == "CSV":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataFileError(f"{path}: cannot be read as {format_name} ({first})") from None
    return _validated_rows(frame.to_dict(orient="records"), str(path), split)


def _read_hf(folder: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        import datasets

        loaded = datasets.load_from_disk(str(folder))
    except Exception as error:  # any failure to read it is the same user error
        raise DataFileError(
            f"{folder}: cannot be read as a Hugging Face dataset ({type(error).__name__}: "
            f"{str(error).strip()[:200]}); save it with DatasetDict.save_to_disk"
        ) from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise DataFileError(_ONE_HF_DATASET.format(folder=folder))
    splits = {}
    for split, table in loaded.items():
        frame = table.to_pandas()
        answer = table.features.get("answer")
        if isinstance(answer, datasets.ClassLabel):  # class ids -> their names (yes/no)
            frame["answer"] = [answer.int2str(int(value)) for value in frame["answer"]]
        where = f"{folder} (split {split})"
        splits[split] = _validated_rows(frame.to_dict(orient="records"), where, split)
    return splits


def _validated_rows(
    rows: Sequence[Mapping[Any, Any]], where: str, split: str
) -> list[dict[str, Any]]:
    """Validate table rows (CSV, Parquet, Hugging Face): blank optional cells are left out."""
    if not rows:
        raise DataFileError(f"{where}: the split is empty; it needs at least one row")
    validated = []
    for number, row in enumerate(rows, start=1):
        cleaned = {str(key): _cell(value) for key, value in row.items()}
        cleaned = {key: value for key, value in cleaned.items() if value is not None}
        if "noun_count" in cleaned:
            cleaned["noun_count"] = _whole_number(cleaned["noun_count"])
        validated.append(validate_row(cleaned, f"{where}: row {number}", split))
    return validated


def _cell(value: Any) -> Any:
    """A table cell as a plain value: ``None`` for a blank one, whole floats as integers
    (Parquet's integer columns turn to floats where they have gaps)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a NumPy scalar
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _whole_number(value: Any) -> Any:
    """A CSV cell's text as an integer when it is one (``noun_count``), else unchanged."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _with_noun_counts(
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Fill unknown ``noun_count`` from the story where it follows the grammar; count how
    many rows gave it, had it computed, or have it unknown."""
    counts = dict.fromkeys(NOUN_COUNT_SOURCES, 0)
    for row in rows:
        if row["noun_count"] != UNKNOWN_NOUN_COUNT:
            counts["given"] += 1
            continue
        computed = actor_count(row["story"])
        if computed is None:
            counts["unknown"] += 1
        else:
            row["noun_count"] = computed
            counts["computed"] += 1
    return rows, counts


def describe_sources(sources: dict[str, int]) -> str:
    """``noun_count`` sources in words.

    Example:
        >>> describe_sources({"given": 0, "computed": 698, "unknown": 2})
        'noun_count given 0, computed from the story 698, unknown 2'
    """
    return (
        f"noun_count given {sources['given']}, computed from the story {sources['computed']}, "
        f"unknown {sources['unknown']}"
    )


def manifest_for(name: str, folder: Path, splits: UserSplits) -> dict[str, Any]:
    """The description of a user dataset that runs record (as a generated version's manifest)."""
    return {
        "name": name,
        "version": f"{name}-{splits.hash[:8]}",
        "hash": splits.hash,
        "source": "user",
        "format": splits.format,
        "path": str(folder),
        "files": [str(path) for path in splits.files],
        "totals": {split: len(rows) for split, rows in splits.records.items()},
        "noun_count_sources": splits.noun_count_sources,
    }
