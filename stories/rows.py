"""Rows a trained model is asked about: a story and a question each, an answer only when known.

:func:`read_question_file` reads them from JSONL (``story`` and ``question`` required,
``answer`` optional) and :func:`check_rows` checks them before any model reads them: a story
or question that is empty or not text, a question about an actor the story never names, and
words the model's vocabulary does not have (a model reads each as the one ``[UNK]`` token, so
two unknown names would become one actor). Every error names the row, the cause and the fix.

Example:
    >>> from stories.vocab import Vocabulary
    >>> vocab = Vocabulary.build(["Ava walks north. Ben follows Ava.",
    ...                           "Is Ben going in the same direction as Ava?"])
    >>> check_rows(["Ava walks north. Ben follows Ava."],
    ...            ["Is Ben going in the same direction as Ava?"], vocab)
    >>> check_rows(["Ava walks north."], ["Is Ben going in the same direction as Ava?"], vocab)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stories.rows.RowError: row 1: the question asks about 'Ben', who is not in the story (it ...
    >>> actors_in_question("Is Ava going in the same direction as Ben?")
    ('Ava', 'Ben')
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stories.errors import DataFileError, StoriesError
from stories.jsonl import ANSWER_LABELS, answer_label
from stories.vocab import UNK, Vocabulary, tokenize, unknown_words

logger = logging.getLogger(__name__)

#: The fields a row must have.
QUESTION_FIELDS: Final[tuple[str, ...]] = ("story", "question")
#: The one question form of the stories (``data.md``): its two actors.
QUESTION_FORM: Final = re.compile(
    r"^\s*is\s+(\w+)\s+going\s+in\s+the\s+same\s+direction\s+as\s+(\w+)\s*\?\s*$", re.IGNORECASE
)
#: The override that reads unknown words as ``[UNK]`` instead of refusing them.
ALLOW_UNKNOWN: Final = "allow_unknown_words=true"


class RowError(StoriesError, ValueError):
    """A row a model cannot answer (the message names the row, the cause and the fix)."""


@dataclass(frozen=True)
class QuestionFile:
    """The rows of a question file, in file order.

    Attributes:
        records: Each row as read (every field kept).
        lines: The line number of each row in the file (from 1).
        labels: Each row's answer as 1/0, or ``None`` where the row gives none.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def stories(self) -> list[str]:
        return [str(record["story"]) for record in self.records]

    @property
    def questions(self) -> list[str]:
        return [str(record["question"]) for record in self.records]


def read_question_file(path: str | Path) -> QuestionFile:
    """Read a JSONL file of rows with ``story`` and ``question`` (an ``answer`` is optional).

    Raises:
        DataFileError: No such file, an empty file, or a line that is not a JSON object, lacks
            a field, has a field of the wrong type or an unknown answer: naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file; give a JSONL file with story and question")
    rows = QuestionFile()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                record, label = _question_record(line, f"{path}:{number}")
                rows.records.append(record)
                rows.lines.append(number)
                rows.labels.append(label)
    if not rows.records:
        raise DataFileError(
            f"{path}: the file is empty; it needs one JSON object per line with story and question"
        )
    return rows


def _question_record(line: str, where: str) -> tuple[dict[str, Any], int | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataFileError(
            f"{where}: malformed JSON ({error.msg} at column {error.colno}); each line must be "
            'one JSON object, e.g. {"story": "...", "question": "..."}'
        ) from None
    if not isinstance(record, dict):
        raise DataFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name in QUESTION_FIELDS:
        if name not in record:
            raise DataFileError(
                f"{where}: field '{name}' is missing (required: {', '.join(QUESTION_FIELDS)}; "
                "answer is optional)"
            )
        if not isinstance(record[name], str):
            raise DataFileError(
                f"{where}: field '{name}' must be a string, got {type(record[name]).__name__} "
                f"{record[name]!r}"
            )
    if "answer" not in record:
        return record, None
    label = answer_label(record["answer"])
    if label is None:
        raise DataFileError(
            f"{where}: field 'answer' has unknown value {record['answer']!r} (expected one of "
            f"{', '.join(ANSWER_LABELS)}, or leave it out)"
        )
    return record, label


def actors_in_question(question: str) -> tuple[str, str] | None:
    """The two actors a question of the stories' form asks about, or ``None`` for another
    form."""
    match = QUESTION_FORM.match(question)
    return None if match is None else (match.group(1), match.group(2))


def check_rows(
    stories: Sequence[Any],
    questions: Sequence[Any],
    vocab: Vocabulary,
    *,
    allow_unknown_words: bool = False,
    row_names: Sequence[str] | None = None,
    vocabulary_source: str = "",
) -> None:
    """Refuse rows a model cannot answer, naming the first bad row.

    Args:
        stories: One story per row.
        questions: One question per row.
        vocab: The model's vocabulary.
        allow_unknown_words: Read words ``vocab`` lacks as ``[UNK]``, with a warning that
            counts them, instead of refusing them.
        row_names: How each row is named in errors (default ``row <n>``, from 1).
        vocabulary_source: How the vocabulary was built, for the unknown-word error.

    Raises:
        RowError: Different numbers of stories and questions, a story or question that is not
            text or is empty, a question about an actor the story does not name, or (without
            ``allow_unknown_words``) a word ``vocab`` does not have.
    """
    if len(stories) != len(questions):
        raise RowError(
            f"{len(stories)} stories but {len(questions)} questions; give one question per story"
        )
    names = list(row_names) if row_names is not None else _default_names(len(stories))
    for row, (story, question) in enumerate(zip(stories, questions, strict=True)):
        _check_row(story, question, names[row])
    texts = [f"{story} {question}" for story, question in zip(stories, questions, strict=True)]
    found = unknown_words(texts, vocab)
    if not found:
        return
    source = f" ({vocabulary_source})" if vocabulary_source else ""
    if allow_unknown_words:
        logger.warning(
            "%s of %d %s %s the model never saw in training, each read as %s (%s): %s",
            _count(found.row_count, "row"), len(texts),
            "holds" if found.row_count == 1 else "hold", _count(len(found.words), "word"), UNK,
            ALLOW_UNKNOWN, found.describe(max_rows=3),
        )  # fmt: skip
        return
    first = min(rows[0] for rows in found.rows.values())
    words = [word for word, rows in found.rows.items() if first in rows]
    listed = ", ".join(repr(word) for word in words)
    others = found.row_count - 1
    elsewhere = f"; {others} more rows hold unknown words ({found.describe()})" if others else ""
    raise RowError(
        f"{names[first]}: {listed} {'is' if len(words) == 1 else 'are'} not in the run's "
        f"vocabulary{elsewhere}. The model knows only the {len(vocab)} tokens of its training "
        f"stories and questions{source} and would read any other word as {UNK}, so two unknown "
        "names would become one actor; use the names and words of the training stories, or "
        f"give {ALLOW_UNKNOWN} to read unknown words as {UNK}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _default_names(count: int) -> list[str]:
    return [f"row {row + 1}" for row in range(count)]


def _check_row(story: Any, question: Any, where: str) -> None:
    for name, value in (("story", story), ("question", question)):
        if not isinstance(value, str):
            raise RowError(f"{where}: the {name} must be text, got {type(value).__name__}")
        if not value.strip():
            raise RowError(f"{where}: the {name} is empty; give the {name} to answer")
    actors = actors_in_question(question)
    if actors is None:
        return
    story_words = set(tokenize(story))
    for actor in actors:
        if actor.lower() not in story_words:
            named = _names_in(story)
            which = f"it names {', '.join(named)}" if named else "it names no actor"
            raise RowError(
                f"{where}: the question asks about {actor!r}, who is not in the story "
                f"({which}); ask about two actors of the story"
            )


def _names_in(story: str) -> list[str]:
    """The capitalised words that start the story's sentences (its actors), in order."""
    seen: dict[str, None] = {}
    for sentence in story.split("."):
        words = sentence.split()
        if words and words[0][:1].isupper():
            seen.setdefault(words[0], None)
    return list(seen)
