"""``model_card.md`` of an exported run model: what it reads, how to tokenise for it, what it
outputs, how well the run did (per split and per number of actors), where it came from and
its limits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.runs.predict import RunModel


@dataclass(frozen=True)
class CardFacts:
    """What the card says about one export.

    Attributes:
        format: The export format.
        files: The artefact's file names in the folder.
        load: How to load and call it (a code block, without storyqa).
        inputs: The inputs (name, dtype, shape).
        output: The output (name, dtype, shape, meaning).
        limits: Limits found while exporting and checking.
        checked: The check on the run's own rows (rows, largest difference).
    """

    format: str
    files: Sequence[str]
    load: str
    inputs: str
    output: str
    limits: Sequence[str]
    checked: str


def tokenisation(encoding: str) -> str:
    """How to turn a story and a question into the model's ids, in words."""
    common = (
        "Lower-case the text and split it with the regular expression `\\w+|[^\\w\\s]` (every "
        "punctuation mark is a token: `Is Ava going north?` -> `is ava going north ?`). A "
        "token's id is its position in `vocab.json` (`tokens`); a token not in it gets id 1 "
        "(`[UNK]`). Pad with id 0 (`[PAD]`) on the right; padding never changes the output, "
        "and nothing is truncated."
    )
    if encoding == "lstm":
        return (
            f"{common} The story and the question are encoded separately: `story` holds the "
            "story's ids, `question` the question's."
        )
    return (
        f"{common} One row is `[CLS] story [SEP] question`: id 2, the story's ids, id 3, the "
        "question's ids."
    )


def accuracy_tables(run_dir: Path) -> str:
    """The run's accuracy per split and per noun count (from ``eval/<split>/``)."""
    from metrics.compare import ordered_splits

    found = ordered_splits(p.parent.name for p in (run_dir / "eval").glob("*/evaluation.json"))
    evaluations = {
        split: json.loads((run_dir / "eval" / split / "evaluation.json").read_text("utf-8"))
        for split in found
    }
    if not evaluations:
        return "The run holds no evaluation.\n"
    lines = ["| split | examples | accuracy | loss |", "|---|---|---|---|"]
    for split, data in evaluations.items():
        lines.append(
            f"| {split} | {data['n_samples']} | {data['accuracy']:.4f} | {data['loss']:.4f} |"
        )
    lines += ["", "Accuracy by number of actors (noun count):", ""]
    lines += _noun_count_table(evaluations)
    return "\n".join(lines) + "\n"


def _noun_count_table(evaluations: dict[str, Any]) -> list[str]:
    rows = ["| split | noun count | examples | accuracy |", "|---|---|---|---|"]
    for split, data in evaluations.items():
        for breakdown in data.get("breakdowns", []):
            if breakdown.get("name") != "by_noun_count":
                continue
            for group in breakdown["groups"]:
                rows.append(
                    f"| {split} | {group['noun_count']} | {group['count']} | "
                    f"{group['accuracy']:.4f} |"
                )
    return rows


def render(loaded: RunModel, facts: CardFacts) -> str:
    """The card's Markdown."""
    manifest = loaded.manifest
    dataset = manifest.dataset
    limits = "".join(f"- {limit}\n" for limit in facts.limits)
    threshold = loaded.trainer.processor.threshold
    return f"""# Model card: {manifest.run_id} ({facts.format})

A yes/no question-answering model for storyqa's direction-following stories, trained by
storyqa's {manifest.framework} trainer (model `{manifest.model}`) and exported as
{facts.format} (`{"`, `".join(facts.files)}`). It needs no storyqa code: only the format's
runtime, `vocab.json` and the tokenisation below.

## Use

```python
{facts.load.strip()}
```

## Inputs

{facts.inputs}

Tokenisation: {tokenisation(loaded.encoding)}

## Output

{facts.output} The answer is `yes` when the probability is above {threshold}.

## Vocabulary

`vocab.json`: the {len(loaded.vocab)} tokens of the training split's stories and questions
(reserved `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, then the rest in alphabetical order).
The model knows only these words: any other (a new name) becomes `[UNK]`, and two unknown names
become one actor.

## Training data and run

- run: `{manifest.run_id}`, seed {manifest.seed}, best epoch {manifest.best.get("epoch")}
  (validation accuracy {_number(manifest.best.get("val_accuracy"))})
- dataset version: `{dataset.get("version")}` (hash `{str(dataset.get("hash", ""))[:16]}`)
- checkpoint: `{loaded.checkpoint.relative_to(loaded.run_dir)}`

## Accuracy of the run

{accuracy_tables(loaded.run_dir)}
## Limits

- The stories must be in the generator's language (`docs/data.md`): introductions
  (`X walks north.`), turns, `follows`, `goes in the opposite direction of`, and the question
  `Is A going in the same direction as B?` about two actors of the story.
- Trained on {_train_actors(loaded)} actors; see the accuracy by noun count above for longer
  stories.
{limits}- Checked at export: {facts.checked}.
"""


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _train_actors(loaded: RunModel) -> str:
    ranges = getattr(loaded.config.data, "noun_ranges", None)
    train = ranges.get("train") if isinstance(ranges, dict) else None
    return f"{train[0]}-{train[1]}" if train else "the training split's"
