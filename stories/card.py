"""The dataset card of a data export: ``README.md`` in the Hugging Face dataset-card format.

The card is YAML front matter (what the Hugging Face Hub and ``datasets.load_dataset`` read:
license, language, task categories, size category, the ``configs`` that map splits to files,
``dataset_info`` with the features and split sizes, and a ``storyqa`` block with the version,
hash, seed, generator and counts) followed by Markdown for people: the task, the grammar of the
stories, the columns, the splits with their actor ranges, the counts per category and noun
count, and how the data was generated. Everything comes from the version's ``manifest.json``
and the generator's own tables, so the card says what the files hold.

Example:
    >>> size_category(1060)
    '1K<n<10K'
    >>> front_matter("---\\nlicense: unknown\\n---\\n\\n# Title\\n")
    {'license': 'unknown'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from stories.config import DENSE_TURN_FACTORS
from stories.generator import DIRECTION_WORDS, SIMPLE_EVENT_RANGES, TURN_WORDS

CARD_FILE: Final = "README.md"
#: ``license`` of the card: ``pyproject.toml`` declares no license for the project.
CARD_LICENSE: Final = "unknown"
#: Columns stored as 64-bit integers; every other column is a string.
INTEGER_COLUMNS: Final = frozenset({"label", "noun_count", "directions", "num_events"})
#: Columns that are a Hugging Face ``ClassLabel`` in the ``hf`` format.
CLASS_LABEL_COLUMNS: Final = ("answer", "label")
#: The ``ClassLabel`` names: index 0 is ``no``, 1 is ``yes`` (the ``label`` values).
ANSWER_NAMES: Final = ("no", "yes")
#: What each column of a generated version holds, for the card's column table.
COLUMN_DOCS: Final[Mapping[str, str]] = {
    "id": "`<split>-<index>`, six digits, unique in the dataset",
    "story": "the story: the introductions, then the events",
    "question": "`Is A going in the same direction as B?`",
    "answer": "`yes` or `no`",
    "label": "1 for `yes`, 0 for `no`",
    "category": "the story category (below)",
    "noun_count": "the number of actors in the story",
    "directions": "4 (north, east, south, west) or 2 (north, south)",
    "num_events": "the number of sentences after the introductions",
    "split": "the split the row belongs to",
}
#: The Hub's size categories: upper bound (exclusive) and name.
SIZE_CATEGORIES: Final = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)


@dataclass(frozen=True)
class SplitFile:
    """One split of an export.

    Attributes:
        split: The split name.
        path: Its data files, relative to the export folder (a glob for ``hf``).
        rows: Its number of rows.
        num_bytes: Its size as an Arrow table (``dataset_info.splits[].num_bytes``).
        file_bytes: The size of its files on disk.
    """

    split: str
    path: str
    rows: int
    num_bytes: int
    file_bytes: int


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value of a dataset of ``rows`` rows."""
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>10M"


def feature_list(columns: Sequence[str], class_labels: bool) -> list[dict[str, Any]]:
    """``dataset_info.features`` of the card: each column's name and dtype.

    Example:
        >>> feature_list(["story", "label"], class_labels=False)
        [{'name': 'story', 'dtype': 'string'}, {'name': 'label', 'dtype': 'int64'}]
        >>> feature_list(["answer"], class_labels=True)[0]["dtype"]
        {'class_label': {'names': {'0': 'no', '1': 'yes'}}}
    """
    features: list[dict[str, Any]] = []
    for column in columns:
        dtype: Any
        if class_labels and column in CLASS_LABEL_COLUMNS:
            dtype = {"class_label": {"names": {str(i): n for i, n in enumerate(ANSWER_NAMES)}}}
        else:
            dtype = "int64" if column in INTEGER_COLUMNS else "string"
        features.append({"name": column, "dtype": dtype})
    return features


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML front matter of a card as a dict, or ``None`` when it has none that parses."""
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        return None
    try:
        data = yaml.safe_load(text[4 : end + 1])
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def read_card(folder: Path) -> dict[str, Any] | None:
    """The front matter of ``folder/README.md``, or ``None`` (no card, or not one we read)."""
    try:
        return front_matter((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _counts(manifest: Mapping[str, Any]) -> dict[str, dict[str, dict[int, int]]]:
    """split -> category -> noun_count -> examples, from the manifest's yes/no counts."""
    return {
        split: {
            category: {
                int(n): int(cell["yes"]) + int(cell["no"])
                for n, cell in sorted(by_noun.items(), key=lambda item: int(item[0]))
            }
            for category, by_noun in by_category.items()
        }
        for split, by_category in manifest["counts"].items()
    }


def _answers(manifest: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """split -> {no, yes} totals."""
    answers = {}
    for split, by_category in manifest["counts"].items():
        cells = [cell for by_noun in by_category.values() for cell in by_noun.values()]
        answers[split] = {name: sum(int(c[name]) for c in cells) for name in ANSWER_NAMES}
    return answers


def card_metadata(
    manifest: Mapping[str, Any], fmt: str, splits: Sequence[SplitFile], columns: Sequence[str]
) -> dict[str, Any]:
    """The card's front matter.

    Args:
        manifest: The version's ``manifest.json``.
        fmt: The export format (``parquet``, ``jsonl`` or ``hf``).
        splits: The export's splits, in order.
        columns: The columns of the rows, in order.
    """
    total = sum(s.rows for s in splits)
    config = manifest["config"]
    return {
        "pretty_name": f"storyqa {manifest['name']} ({config['size']}, seed {manifest['seed']})",
        "license": CARD_LICENSE,
        "language": ["en"],
        "task_categories": ["question-answering", "text-classification"],
        "size_categories": [size_category(total)],
        "tags": ["synthetic", "reasoning", "storyqa"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s.split, "path": s.path} for s in splits],
            }
        ],
        "dataset_info": {
            "features": feature_list(columns, class_labels=fmt == "hf"),
            "splits": [
                {"name": s.split, "num_bytes": s.num_bytes, "num_examples": s.rows} for s in splits
            ],
            "download_size": sum(s.file_bytes for s in splits),
            "dataset_size": sum(s.num_bytes for s in splits),
        },
        "storyqa": {
            "format": fmt,
            "version": manifest["version"],
            "hash": manifest["hash"],
            "seed": manifest["seed"],
            "generator": dict(manifest["generator"]),
            "totals": dict(manifest["totals"]),
            "answers": _answers(manifest),
            "counts": _counts(manifest),
            "shortfalls": list(manifest.get("shortfalls", [])),
            "config": dict(config),
        },
    }


class _CompactDumper(yaml.SafeDumper):
    """Writes lists and mappings of plain values on one line (``{2: 20, 3: 20}``)."""


def _is_leaf(values: Any) -> bool:
    return all(not isinstance(v, dict | list | tuple) for v in values)


_CompactDumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", data, flow_style=_is_leaf(data)
    ),
)
_CompactDumper.add_representer(
    dict,
    lambda dumper, data: dumper.represent_mapping(
        "tag:yaml.org,2002:map", data.items(), flow_style=_is_leaf(data.values())
    ),
)


def _yaml(metadata: Mapping[str, Any]) -> str:
    """The front matter's YAML: the Hub's keys in block style, ``storyqa`` compact."""
    hub = {k: v for k, v in metadata.items() if k != "storyqa"}
    text = yaml.safe_dump(hub, sort_keys=False, allow_unicode=True, width=100)
    if "storyqa" in metadata:
        text += yaml.dump(
            {"storyqa": metadata["storyqa"]},
            Dumper=_CompactDumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
    return text.rstrip()


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _grammar(directions: int) -> list[str]:
    if directions == 4:
        words, turns = DIRECTION_WORDS, TURN_WORDS
        turning = "X turns: right is clockwise, left anticlockwise, around 180°"
        example = "Ava walks north. Ben walks east. Ben follows Ava. Ava turns right."
        ends = "Ben ends facing north and Ava east"
    else:
        words, turns = DIRECTION_WORDS[::2], ("around",)
        turning = "X turns around: north becomes south and south north"
        example = "Ava walks north. Ben walks south. Ben follows Ava. Ava turns around."
        ends = "Ben ends facing north and Ava south"
    return [
        "## Grammar",
        "",
        "A story with `n` actors is `n` introductions, one per actor, followed by events. "
        "Every sentence ends with `.` and sentences are joined by single spaces:",
        "",
        *_table(
            ["Sentence", "Meaning"],
            [
                ["`X walks D.`", "introduction: X faces D"],
                [" / ".join(f"`X turns {t}.`" for t in turns), turning],
                ["`X follows Y.`", "X takes Y's direction at that point of the story"],
                [
                    "`X goes in the opposite direction of Y.`",
                    "X takes the opposite of Y's direction at that point",
                ],
            ],
        ),
        "",
        f"`D` is one of {', '.join(f'`{w}`' for w in words)}. Actors are capitalised first "
        "names, each story drawing its actors from the same list without replacement. Events "
        "apply in the order they are written, and `follows` and `opposite` copy a direction "
        "once: a later change to Y does not move X.",
        "",
        "There is one question form, about two different actors of the story: "
        "`Is A going in the same direction as B?`. The answer is `yes` when A and B face the "
        "same way after the last sentence, and `no` otherwise.",
        "",
        f"Example: in `{example}` {ends}, so `Is Ben going in the same direction as Ava?` is `no`.",
    ]


def _categories(categories: Sequence[str], max_events: int) -> list[str]:
    rows = []
    for category in categories:
        if category in SIMPLE_EVENT_RANGES:
            low, high = (f"{k}n" if k > 1 else "n" for k in SIMPLE_EVENT_RANGES[category])
            rows.append([f"`{category}`", "independent events", f"{low} to {high}"])
        else:
            factor = DENSE_TURN_FACTORS[category]
            turns = {0: "no turns", 1: "at most n turns"}.get(factor, f"at most {factor}n turns")
            pool = "n(n-1)/2" + (f" + {factor}n".replace(" 1n", " n") if factor else "")
            rows.append(
                [f"`{category}`", f"every actor pair at most once, {turns}", f"n to {pool}"]
            )
    return [
        "## Story categories",
        "",
        "The categories differ in how the events are drawn (`n` is the number of actors); the "
        f"event count is uniform in the range shown, capped at {max_events}.",
        "",
        *_table(["Category", "Events", "Event count"], rows),
    ]


def _longer(ranges: Mapping[str, Sequence[int]]) -> str:
    """A sentence naming the splits whose stories all have more actors than ``train``'s."""
    if "train" not in ranges:
        return ""
    longer = [f"`{s}`" for s, (low, _) in ranges.items() if low > ranges["train"][1]]
    if not longer:
        return ""
    names = ", ".join(longer[:-1]) + " and " + longer[-1] if len(longer) > 1 else longer[0]
    return (
        f" {names} {'have' if len(longer) > 1 else 'has'} more actors per story than `train`, "
        "so a model trained on `train` is tested on longer stories than it saw."
    )


def _count_tables(manifest: Mapping[str, Any]) -> list[str]:
    lines = ["## Counts per category and noun count", ""]
    for split, by_category in _counts(manifest).items():
        nouns = sorted({n for by_noun in by_category.values() for n in by_noun})
        rows = [
            [f"`{c}`", *(by_noun.get(n, 0) for n in nouns), sum(by_noun.values())]
            for c, by_noun in by_category.items()
        ]
        lines += [f"`{split}`:", "", *_table(["category", *map(str, nouns), "total"], rows), ""]
    return lines[:-1]


def _loading(fmt: str, splits: Sequence[SplitFile]) -> list[str]:
    first = splits[0].split if splits else "train"
    if fmt == "hf":
        code = [
            "import datasets",
            "",
            'dd = datasets.load_from_disk("path/to/this/folder")  # a DatasetDict',
            f'dd["{first}"].features["answer"].int2str(0)  # "no"',
        ]
    else:
        reader = "pd.read_parquet" if fmt == "parquet" else "pd.read_json"
        extra = "" if fmt == "parquet" else ", lines=True"
        code = [
            "import datasets",
            "import pandas as pd",
            "",
            f'frame = {reader}("path/to/this/folder/{splits[0].path}"{extra})',
            'dd = datasets.load_dataset("path/to/this/folder")  # the splits of `configs` above',
        ]
    return ["## Loading", "", "```python", *code, "```"]


def render_card(
    manifest: Mapping[str, Any], fmt: str, splits: Sequence[SplitFile], columns: Sequence[str]
) -> str:
    """The whole card: front matter, then the Markdown description.

    Args:
        manifest: The version's ``manifest.json``.
        fmt: The export format.
        splits: The export's splits, in order.
        columns: The columns of the rows, in order.
    """
    metadata = card_metadata(manifest, fmt, splits, columns)
    config = manifest["config"]
    answers = _answers(manifest)
    ranges = config["noun_ranges"]
    layout = {
        "parquet": "one Parquet file per split",
        "jsonl": "one JSON Lines file per split (the version's own files)",
        "hf": "a Hugging Face `DatasetDict` saved with `save_to_disk`, `answer` and `label` "
        "as a `ClassLabel` (0 `no`, 1 `yes`)",
    }[fmt]
    lines = [
        "---",
        _yaml(metadata),
        "---",
        "",
        f"# {metadata['pretty_name']}",
        "",
        "Synthetic direction-following stories with yes/no questions, generated by storyqa. "
        "Each row is a story in which actors walk, turn, follow each other or go in the "
        "opposite direction of each other, a question about whether two of the actors end up "
        "going the same way, and the answer." + _longer(ranges),
        "",
        f"This folder holds {layout}, for version `{manifest['version']}`.",
        "",
        *_loading(fmt, splits),
        "",
        "## Task",
        "",
        "Read the story and answer the question `yes` or `no`: binary classification of a "
        "(story, question) pair, or closed-domain question answering. Every (split, category, "
        "noun count) cell holds as many `yes` as `no` answers, and no (story, question) pair "
        "appears twice in the dataset.",
        "",
        *_grammar(int(config["directions"])),
        "",
        *_categories(config["categories"], int(config["max_events"])),
        "",
        "## Columns",
        "",
        *_table(["Column", "Content"], [[f"`{c}`", COLUMN_DOCS.get(c, "")] for c in columns]),
        "",
        "## Splits",
        "",
        *_table(
            ["Split", "Actors (noun_count)", "Examples", "yes", "no", "Files"],
            [
                [
                    f"`{s.split}`",
                    "{} to {}".format(*ranges[s.split]) if s.split in ranges else "",
                    s.rows,
                    answers.get(s.split, {}).get("yes", ""),
                    answers.get(s.split, {}).get("no", ""),
                    f"`{s.path}`",
                ]
                for s in splits
            ],
        ),
        "",
        *_count_tables(manifest),
        "",
        "## Generation",
        "",
        *_table(
            ["Field", "Value"],
            [
                ["Version", f"`{manifest['version']}`"],
                ["Dataset hash", f"`{manifest['hash']}`"],
                ["Seed", manifest["seed"]],
                ["Generator", f"storyqa {manifest['generator']['package_version']}"],
                ["Generator code sha256", f"`{manifest['generator']['code_sha256']}`"],
                ["Directions", config["directions"]],
                ["Actor names", len(config["names"])],
            ],
        ),
        "",
        "The dataset hash is computed from `config`, `seed` and the generator's code (all in "
        "`storyqa` above): the same ones give the same rows. With storyqa: "
        "`python scripts/generate_data.py data="
        f"{manifest['name']} data.size={config['size']} seed={manifest['seed']}` (plus any "
        "`data.<key>=` that differs from the preset).",
    ]
    shortfalls = manifest.get("shortfalls") or []
    if shortfalls:
        lines += ["", "Cells that got fewer examples than requested:", ""]
        lines += _table(
            ["split", "category", "noun_count", "requested", "generated"],
            [
                [s["split"], s["category"], s["noun_count"], s["requested"], s["generated"]]
                for s in shortfalls
            ],
        )
    return "\n".join(lines) + "\n"
