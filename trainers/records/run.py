"""Run identity: run ids and the record of the dataset a run trains on."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metrics import namespaces as ns

if TYPE_CHECKING:
    from stories import StoryDataset


def new_run_id(model: str, dataset: str, now: dt.datetime | None = None) -> str:
    """A run id ``<model>-<dataset>-<YYYYmmdd-HHMMSS>-<4 hex>``.

    Example:
        >>> new_run_id("lstm", "all_4dir", dt.datetime(2026, 1, 2, 3, 4, 5))[:30]
        'lstm-all_4dir-20260102-030405-'
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{model}-{dataset}-{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class DatasetInfo:
    """The dataset a run trains on, as recorded in names, manifest and tracker.

    Attributes:
        name: Short name used in checkpoint file names (``all_4dir``).
        version: Dataset version (folder name) or the user file's name.
        hash: Content hash.
        path: Where the dataset lives.
        split_sizes: Examples per split.
    """

    name: str
    version: str = ""
    hash: str = ""
    path: str = ""
    split_sizes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_dataset(cls, dataset: StoryDataset) -> DatasetInfo:
        """Describe a :class:`~stories.StoryDataset`."""
        manifest = dataset.manifest
        return cls(
            name=str(
                manifest.get("config", {}).get("name") or manifest.get("name") or dataset.name
            ),
            version=str(manifest.get("version") or dataset.name),
            hash=str(manifest.get("hash", "")),
            path=str(dataset.path),
            split_sizes={split: dataset.num_rows(split) for split in dataset},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the manifest."""
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "path": self.path,
            "split_sizes": dict(self.split_sizes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], default_name: str) -> DatasetInfo:
        """Read back :meth:`to_dict` (e.g. a run manifest's ``dataset``).

        Args:
            data: The stored fields; missing ones are empty.
            default_name: Name to use when none is stored.
        """
        return cls(
            name=str(data.get("name") or default_name),
            version=str(data.get("version", "")),
            hash=str(data.get("hash", "")),
            path=str(data.get("path", "")),
            split_sizes=dict(data.get("split_sizes", {})),
        )

    def tracker_fields(self) -> dict[str, object]:
        """``data/name``, ``data/version``, ``data/hash``, ``data/path``, ``data/<split>/size``."""
        fields: dict[str, object] = {
            ns.data_field("name"): self.name,
            ns.data_field("version"): self.version,
            ns.data_field("hash"): self.hash,
            ns.data_field("path"): self.path,
        }
        fields.update({ns.data_split_size(s): n for s, n in self.split_sizes.items()})
        return fields
