"""A printable summary of a dataset: counts, balance, lengths, OOV rates, shortfalls and, for
a user's data, where each row's ``noun_count`` came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stories.encoding import oov_rate
from stories.userdata import describe_sources

if TYPE_CHECKING:
    from stories.dataset import StoryDataset


@dataclass(frozen=True)
class DatasetSummary:
    """What a user checks before training on a dataset.

    Attributes:
        name: Dataset version name.
        path: Where it lives.
        counts: Long frame ``split, category, noun_count, yes, no, total``.
        balance: Per split: ``examples, yes, no, yes_share``.
        lengths: Per split story length in tokens: ``min, median, mean, p95, max``.
        oov: Per split share of ``[UNK]`` tokens against the train vocabulary.
        shortfalls: Cells that got fewer examples than requested (from the manifest).
        noun_count_sources: Per split of a user's dataset, how many rows gave ``noun_count``,
            had it computed from the story, or have it unknown (empty for generated data,
            where every row has it).
    """

    name: str
    path: str
    counts: pd.DataFrame
    balance: pd.DataFrame
    lengths: pd.DataFrame
    oov: pd.Series
    shortfalls: list[dict[str, Any]]
    noun_count_sources: dict[str, dict[str, int]] = field(default_factory=dict)

    def count_table(self, split: str) -> pd.DataFrame:
        """Examples per category (rows) x noun_count (columns) of one split."""
        rows = self.counts[self.counts["split"] == split]
        return rows.pivot_table(
            index="category", columns="noun_count", values="total", aggfunc="sum", fill_value=0
        )

    def format(self) -> str:
        """The summary as text for the console."""
        lines = [f"Dataset {self.name}", f"  folder: {self.path}", ""]
        for split in self.balance.index:
            table = self.count_table(split)
            lines.append(f"{split}: examples per category x noun_count")
            lines.extend("  " + row for row in table.to_string().splitlines())
            lines.append("")
        overview = self.balance.join(self.lengths).join(self.oov.rename("oov_rate"))
        overview["yes_share"] = overview["yes_share"].map("{:.3f}".format)
        overview["mean"] = overview["mean"].map("{:.1f}".format)
        overview["oov_rate"] = overview["oov_rate"].map("{:.4f}".format)
        lines.append("Balance, story length (tokens) and OOV rate vs the train vocabulary:")
        lines.extend("  " + row for row in overview.to_string().splitlines())
        if self.shortfalls:
            lines += ["", "Shortfalls (cells with fewer distinct stories than requested):"]
            lines += [
                f"  {s['split']}/{s['category']}/noun_{s['noun_count']}: "
                f"{s['generated']} of {s['requested']}"
                for s in self.shortfalls
            ]
        if self.noun_count_sources:
            lines += ["", "Where each row's noun_count comes from:"]
            lines += [
                f"  {split}: {describe_sources(self.noun_count_sources[split])}"
                for split in self.balance.index
                if split in self.noun_count_sources
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    if not len(lengths):
        return dict.fromkeys(("min", "median", "mean", "p95", "max"), float("nan"))
    return {
        "min": int(lengths.min()),
        "median": float(np.median(lengths)),
        "mean": float(lengths.mean()),
        "p95": float(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }


def summarize(dataset: StoryDataset) -> DatasetSummary:
    """Compute the :class:`DatasetSummary` of ``dataset`` (encodes its splits for the LSTM).

    A generated split's frame is not read: its counts come from its label and metadata
    columns, its lengths and OOV rate from its encoded (memory-mapped) arrays.
    """
    frames = []
    balance = {}
    lengths = {}
    oov = {}
    for split in dataset:
        frame = dataset.columns(split, ["category", "noun_count", "label"])
        grouped = frame.groupby(["category", "noun_count"])["label"].agg(yes="sum", total="size")
        grouped["no"] = grouped["total"] - grouped["yes"]
        frames.append(grouped.reset_index().assign(split=split))
        yes = int(frame["label"].sum())
        balance[split] = {
            "examples": len(frame),
            "yes": yes,
            "no": len(frame) - yes,
            "yes_share": yes / len(frame) if len(frame) else float("nan"),
        }
        if dataset.vocab is not None:
            inputs = dataset.encode_lstm(split)
            story_lengths = np.asarray(inputs.story_lengths)
            oov[split] = oov_rate(inputs.story_ids) if len(frame) else 0.0
        else:
            story_lengths = dataset[split]["story"].str.count(r"\w+|[^\w\s]").to_numpy()
            oov[split] = float("nan")
        lengths[split] = _length_stats(story_lengths)
    counts = pd.concat(frames, ignore_index=True)[
        ["split", "category", "noun_count", "yes", "no", "total"]
    ]
    return DatasetSummary(
        name=dataset.name,
        path=str(dataset.path),
        counts=counts,
        balance=pd.DataFrame.from_dict(balance, orient="index"),
        lengths=pd.DataFrame.from_dict(lengths, orient="index"),
        oov=pd.Series(oov, name="oov_rate"),
        shortfalls=list(dataset.manifest.get("shortfalls", [])),
        noun_count_sources=dict(dataset.manifest.get("noun_count_sources", {})),
    )
