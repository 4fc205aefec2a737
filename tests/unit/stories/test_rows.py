"""Rows a trained model is asked about: reading question files and checking rows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stories.errors import DataFileError
from stories.rows import RowError, actors_in_question, check_rows, read_question_file
from stories.vocab import Vocabulary

STORY = "Ava walks north. Ben follows Ava."
QUESTION = "Is Ben going in the same direction as Ava?"
VOCAB = Vocabulary.build([STORY, QUESTION, "Cy turns left."])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_question_file_keeps_every_field_and_reads_answers_when_given(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'{{"story": "{STORY}", "question": "{QUESTION}", "id": 3}}\n\n'
        f'{{"story": "{STORY}", "question": "{QUESTION}", "answer": "Yes"}}\n',
    )
    rows = read_question_file(path)
    assert rows.lines == [1, 3] and rows.labels == [None, 1]
    assert rows.records[0]["id"] == 3 and rows.stories == [STORY, STORY]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("{oops\n", ":1: malformed JSON (Expecting property name"),
        ("[1, 2]\n", ":1: expected a JSON object, got list"),
        (f'{{"story": "{STORY}"}}\n', ":1: field 'question' is missing"),
        (f'{{"story": 7, "question": "{QUESTION}"}}\n',
         ":1: field 'story' must be a string, got int"),
        (f'{{"story": "{STORY}", "question": "{QUESTION}", "answer": "maybe"}}\n',
         ":1: field 'answer' has unknown value 'maybe'"),
    ],
)  # fmt: skip
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError, match=r"rows\.jsonl" + r".*" + message.replace("(", r"\(")):
        read_question_file(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nope\.jsonl: no such file"):
        read_question_file(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("story", "question", "message"),
    [
        (" ", QUESTION, "row 2: the story is empty"),
        (STORY, "", "row 2: the question is empty"),
        (None, QUESTION, "row 2: the story must be text, got NoneType"),
        ("Ava walks north.", QUESTION, "row 2: the question asks about 'Ben', who is not in the "
         "story (it names Ava)"),
    ],
)  # fmt: skip
def test_a_row_the_model_cannot_answer_is_named(story: object, question: str, message: str) -> None:
    with pytest.raises(RowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_rows([STORY, story], [QUESTION, question], VOCAB)


def test_unknown_words_name_the_first_row_and_count_the_others() -> None:
    stories = [STORY, "Zed walks north. Ava follows Zed.", "Max walks west. Ava follows Max."]
    questions = [QUESTION, "Is Ava going in the same direction as Zed?"]
    questions.append("Is Ava going in the same direction as Max?")
    with pytest.raises(RowError) as caught:
        check_rows(stories, questions, VOCAB, vocabulary_source="the train split of demo")
    message = str(caught.value)
    assert message.startswith("row 2: 'zed' is not in the run's vocabulary; 1 more rows")
    assert "the train split of demo" in message and "allow_unknown_words=true" in message


def test_allowed_unknown_words_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stories.rows"):
        check_rows(
            ["Zed walks north. Ava follows Zed."],
            ["Is Ava going in the same direction as Zed?"],
            VOCAB,
            allow_unknown_words=True,
        )
    assert "1 row of 1 holds 1 word the model never saw in training, each read as [UNK]" in (
        caplog.text
    )


def test_rows_are_named_as_given_and_counts_must_match() -> None:
    with pytest.raises(RowError, match=r"^mine\.jsonl:7: the story is empty"):
        check_rows([""], [QUESTION], VOCAB, row_names=["mine.jsonl:7"])
    with pytest.raises(RowError, match="2 stories but 1 questions"):
        check_rows([STORY, STORY], [QUESTION], VOCAB)


def test_questions_of_another_form_are_not_checked_for_actors() -> None:
    assert actors_in_question("Where is Ava going?") is None
    check_rows(["Ava walks north."], ["Is Ava going north?"], VOCAB)  # no error
    assert actors_in_question("  is Ava going in the same direction as Cy ? ") == ("Ava", "Cy")
