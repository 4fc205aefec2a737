"""A generated split's JSONL file, read whole as a pandas frame or chunk by chunk, and the
lazy mapping of split frames a :class:`~stories.dataset.StoryDataset` holds.

A split frame holds about 2.5 KB of memory per row (its stories' text): a million rows is
2.5 GB. What needs only a few columns (the metadata a training run breaks its metrics down
by) or one pass (encoding into memory-mapped arrays) reads the file in chunks of
:data:`CHUNK_ROWS` rows instead, keeping only the columns it asked for.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> lines = [f'{{"label": {n % 2}, "noun_count": {n}, "story": "..."}}' for n in range(5)]
    >>> _ = (folder / "test.jsonl").write_text("\\n".join(lines) + "\\n")
    >>> split = SplitFile(folder / "test.jsonl", rows=5)
    >>> [len(chunk) for chunk in split.chunks(["label"], size=2)]
    [2, 2, 1]
    >>> split.columns(["noun_count"])["noun_count"].tolist()
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from stories.jsonl import read_records

#: Columns of a split frame, also when it is empty.
FRAME_COLUMNS: Final[tuple[str, ...]] = (
    "id", "story", "question", "answer", "label", "category", "noun_count", "split",
)  # fmt: skip
#: Integer columns of a split frame (``int64``).
INT_COLUMNS: Final[tuple[str, ...]] = ("label", "noun_count")
#: Rows parsed at a time by :meth:`SplitFile.chunks`.
CHUNK_ROWS: Final = 10_000


def split_frame(
    records: list[dict[str, Any]], columns: Sequence[str] = FRAME_COLUMNS
) -> pd.DataFrame:
    """The frame of ``records`` (``columns`` when there is none), its integer columns
    ``int64``.

    Example:
        >>> split_frame([], ["category", "noun_count"]).dtypes.astype(str).tolist()
        ['object', 'int64']
    """
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=list(columns))
    for column in INT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype("int64")
    return frame


@dataclass(frozen=True)
class SplitFile:
    """One split of a generated version, trusted (its sha256 checked against the manifest).

    Attributes:
        path: The split's JSONL file.
        rows: Its row count (the manifest's ``totals``).
    """

    path: Path
    rows: int

    def frame(self) -> pd.DataFrame:
        """Every row and column (about 2.5 KB of memory per row)."""
        return split_frame(read_records(self.path))

    def chunks(self, columns: Sequence[str], size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The rows in order, ``size`` at a time, with ``columns`` only (one empty frame for
        an empty file).

        Raises:
            ValueError: ``size`` is not a positive number of rows.
            KeyError: A row lacks one of ``columns``.
        """
        if size < 1:
            raise ValueError(f"chunk size: must be a positive number of rows, got {size}")
        records: list[dict[str, Any]] = []
        yielded = False
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                records.append({column: record[column] for column in columns})
                if len(records) == size:
                    yield split_frame(records, columns)
                    records, yielded = [], True
        if records or not yielded:
            yield split_frame(records, columns)

    def columns(self, names: Sequence[str]) -> pd.DataFrame:
        """Every row, with the columns ``names`` only (read chunk by chunk)."""
        return pd.concat(list(self.chunks(names)), ignore_index=True)


class SplitFrames(Mapping[str, pd.DataFrame]):
    """Split name -> its frame, read on first access and then kept.

    Example:
        >>> reads = []
        >>> def read():
        ...     reads.append("test")
        ...     return pd.DataFrame({"label": [1, 0]})
        >>> frames = SplitFrames({"test": read})
        >>> list(frames), "test" in frames, frames.loaded("test"), reads
        (['test'], True, None, [])
        >>> len(frames["test"]), len(frames["test"]), reads
        (2, 2, ['test'])
    """

    def __init__(
        self,
        readers: Mapping[str, Callable[[], pd.DataFrame]],
        loaded: Mapping[str, pd.DataFrame] | None = None,
    ) -> None:
        self._readers = dict(readers)
        self._frames = dict(loaded or {})

    @classmethod
    def of(cls, frames: Mapping[str, pd.DataFrame]) -> SplitFrames:
        """Frames already in memory."""
        return cls(
            {split: functools.partial(frames.__getitem__, split) for split in frames}, frames
        )

    def loaded(self, split: str) -> pd.DataFrame | None:
        """The frame of ``split`` if it was read already, else ``None`` (nothing is read)."""
        return self._frames.get(split)

    def __getitem__(self, split: str) -> pd.DataFrame:
        if split not in self._frames:
            self._frames[split] = self._readers[split]()
        return self._frames[split]

    def __iter__(self) -> Iterator[str]:
        return iter(self._readers)

    def __len__(self) -> int:
        return len(self._readers)

    def __contains__(self, split: object) -> bool:
        return split in self._readers

    def __repr__(self) -> str:
        states = {split: "loaded" if split in self._frames else "lazy" for split in self}
        return f"SplitFrames({states})"
