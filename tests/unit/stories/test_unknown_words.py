"""Finding the words of new stories that a run's vocabulary (its training split's) lacks."""

from __future__ import annotations

from stories import UnknownWords, Vocabulary, unknown_words

TRAINING = ["Ava walks north. Zoe follows Ava.", "Is Ava going in the same direction as Zoe?"]


def test_known_words_in_any_case_and_punctuation_are_known() -> None:
    vocab = Vocabulary.build(TRAINING)
    found = unknown_words(["AVA walks north.", "Is Zoe going in the same direction as Ava?"], vocab)
    assert not found
    assert found.words == () and found.row_count == 0 and found.occurrences == 0


def test_unknown_words_come_with_their_rows_in_order() -> None:
    vocab = Vocabulary.build(TRAINING)
    texts = [
        "Zoë walks north. Ava follows Zoë.",  # row 0: zoë twice
        "Ava walks north.",
        "Max walks west? Is Zoë going north",  # row 2: max, west, zoë
    ]
    found = unknown_words(texts, vocab)
    assert found.rows == {"zoë": (0, 2), "max": (2,), "west": (2,)}
    assert found.words == ("zoë", "max", "west")
    assert found.occurrences == 5 and found.row_count == 2
    assert found.describe() == "'zoë' (rows 1, 3), 'max' (row 3), 'west' (row 3)"


def test_long_lists_are_cut_short_with_a_count() -> None:
    vocab = Vocabulary.build(TRAINING)
    texts = [f"Name{i} walks north." for i in range(7)] + ["Name0 walks north."] * 6
    found = unknown_words(texts, vocab)
    assert found.rows["name0"] == (0, 7, 8, 9, 10, 11, 12)
    described = found.describe(max_words=2, max_rows=3)
    assert described == "'name0' (rows 1, 8, 9 and 4 more), 'name1' (row 2) and 5 more words"


def test_a_reserved_token_written_in_a_story_is_not_taken_for_known() -> None:
    vocab = Vocabulary.build(TRAINING)
    found = unknown_words(["[UNK] walks north."], vocab)
    assert found == UnknownWords({"[": (0,), "unk": (0,), "]": (0,)}, 3)
