"""Reading, validating and writing story JSONL files.

Generated files are trusted once their sha256 matches the manifest, so they take the fast path
(:func:`read_records`). User files go through :func:`read_user_records`, which checks every line
and names file, line and field on the first problem. Generated rows are written with
:func:`record_line` and numbered with :func:`with_id`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from stories.errors import DataFileError

#: Accepted spellings of answers in user files, mapped to labels.
ANSWER_LABELS: Final[dict[str, int]] = {"yes": 1, "no": 0, "true": 1, "false": 0, "1": 1, "0": 0}
REQUIRED_FIELDS: Final[tuple[str, ...]] = ("story", "question", "answer")
#: ``noun_count`` of user rows that do not give one.
UNKNOWN_NOUN_COUNT: Final = 0
UNKNOWN_CATEGORY: Final = "unknown"


def read_records(path: Path) -> list[dict[str, Any]]:
    """Parse a trusted JSONL file (one object per line)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def record_line(record: dict[str, Any]) -> str:
    """One record as a JSONL line: a compact-but-readable object in key order, then ``\\n``."""
    return json.dumps(record, ensure_ascii=False) + "\n"


def with_id(line: str, row_id: str) -> str:
    """``line`` (a :func:`record_line`) with ``"id": row_id`` put first, byte for byte as
    ``record_line({"id": row_id, **record})`` writes it.

    Example:
        >>> with_id(record_line({"story": "Ava walks north."}), "train-000007")
        '{"id": "train-000007", "story": "Ava walks north."}\\n'
    """
    return f'{{"id": {json.dumps(row_id)}, {line[1:]}'


def answer_label(value: Any) -> int | None:
    """1 for yes, 0 for no, from any accepted spelling; ``None`` when it is neither.

    Example:
        >>> answer_label(" Yes"), answer_label(False), answer_label("maybe")
        (1, 0, None)
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str):
        return ANSWER_LABELS.get(value.strip().lower())
    return None


def read_user_records(path: Path, split: str) -> list[dict[str, Any]]:
    """Read and validate a user JSONL file.

    Each line must be a JSON object with a non-empty string ``story`` and ``question`` and an
    ``answer`` among yes/no/true/false/1/0 (any case, or a JSON boolean or 0/1). Optional:
    ``category`` (string; default ``"unknown"``) and ``noun_count`` (integer >= 1; default 0,
    meaning unknown). Other fields are kept.

    Args:
        path: The file.
        split: Split name given to the rows (kept if the file sets ``split`` itself).

    Raises:
        DataFileError: Naming file, line and field of the first problem, or an empty file.
    """
    if not path.is_file():
        raise DataFileError(f"{path}: no such file; give the path of a JSONL file")
    records = []
    # utf-8-sig: a byte-order mark (which Windows editors write) is read as UTF-8's.
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFileError(
                    f"{where}: malformed JSON ({error.msg} at column {error.colno})"
                ) from None
            if not isinstance(row, dict):
                raise DataFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
            records.append(validate_row(row, where, split))
    if not records:
        raise DataFileError(f"{path}: the file is empty; it needs one JSON object per line")
    return records


def validate_row(row: dict[str, Any], where: str, split: str) -> dict[str, Any]:
    """One user row, checked and completed (``answer`` as yes/no, ``label``, ``category``,
    ``noun_count``, ``split``), as :func:`read_user_records` describes.

    Args:
        row: The row's fields.
        where: Where the row is, for errors (``file:line`` or ``file: row n``).
        split: Split name given to the row (kept if the row sets ``split`` itself).

    Raises:
        DataFileError: Naming ``where`` and the field.
    """
    for name in REQUIRED_FIELDS:
        if name not in row:
            raise DataFileError(
                f"{where}: field '{name}' is missing (required: {', '.join(REQUIRED_FIELDS)})"
            )
    for name in ("story", "question"):
        if not isinstance(row[name], str) or not row[name].strip():
            raise DataFileError(f"{where}: field '{name}' must be a non-empty string")
    label = answer_label(row["answer"])
    if label is None:
        raise DataFileError(
            f"{where}: field 'answer' has unknown value {row['answer']!r} "
            f"(expected one of {', '.join(ANSWER_LABELS)})"
        )
    category = row.get("category", UNKNOWN_CATEGORY)
    if not isinstance(category, str) or not category.strip():
        raise DataFileError(f"{where}: field 'category' must be a non-empty string")
    noun_count = row.get("noun_count", UNKNOWN_NOUN_COUNT)
    if isinstance(noun_count, bool) or not isinstance(noun_count, int) or noun_count < 0:
        raise DataFileError(
            f"{where}: field 'noun_count' must be a non-negative integer, got {noun_count!r}"
        )
    record = dict(row)
    record.update(
        answer="yes" if label else "no",
        label=label,
        category=category,
        noun_count=noun_count,
        split=row.get("split", split) if isinstance(row.get("split"), str) else split,
    )
    return record
