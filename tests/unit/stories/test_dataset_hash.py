"""The dataset version's hash: every piece of code and every constant the files depend on
changes it, so an edit there never reuses a stale cached version."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stories import DatasetConfig
from stories import build as build_module
from stories import vocab as vocab_module
from stories.build import dataset_hash, dataset_version

CONFIG = DatasetConfig.preset("all_4dir", size="tiny")


def edited_copy(
    module: ModuleType, old: str, new: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """``module`` loaded from a copy of its file with ``old`` replaced by ``new``."""
    assert module.__file__ is not None
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / Path(module.__file__).name
    path.write_text(source.replace(old, new), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"edited_{module.__name__}", path)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, copy)  # its dataclasses look it up
    spec.loader.exec_module(copy)
    return copy


def edited(original: Any) -> Any:
    """A function that does what ``original`` does with other code (an edit that keeps the
    behaviour, as a reformatting would)."""

    def same_but_edited(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs)

    return same_but_edited


def test_the_same_request_gives_the_same_hash_and_non_content_fields_do_not_count() -> None:
    assert dataset_hash(CONFIG, 0) == dataset_hash(DatasetConfig.preset("all_4dir", "tiny"), 0)
    assert dataset_hash(CONFIG, 0) == dataset_hash(CONFIG.replace(workers=3), 0)
    assert dataset_hash(CONFIG, 0) == dataset_hash(CONFIG.replace(valid_split="valid_comp"), 0)
    assert dataset_hash(CONFIG, 0) != dataset_hash(CONFIG, 1)
    assert dataset_hash(CONFIG, 0) != dataset_hash(CONFIG.replace(max_events=7), 0)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("generator", "TURN_DELTAS: Final[tuple[int, ...]] = (3, 1, 2)", "TURN_DELTAS = (1, 3, 2)"),
        ("names", '"Ava", "Ben"', '"Ben", "Ava"'),
    ],
)
def test_an_edited_generator_or_names_module_gives_a_new_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, old: str, new: str
) -> None:
    before = dataset_version(CONFIG, 0)
    copy = edited_copy(getattr(build_module, module), old, new, tmp_path, monkeypatch)
    monkeypatch.setattr(build_module, module, copy)
    assert dataset_version(CONFIG, 0) != before


@pytest.mark.parametrize(
    "name",
    [
        "plan_tasks",
        "generate_task",
        "run_tasks",
        "_kept_lines",
        "shuffled_positions",
        "read_bucket",
        "write_split",
        "_write_version",
        "_counts",
        "record_line",
        "with_id",
    ],
)
def test_edited_build_code_gives_a_new_version(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    before = dataset_version(CONFIG, 0)
    monkeypatch.setattr(build_module, name, edited(getattr(build_module, name)))
    assert dataset_version(CONFIG, 0) != before


@pytest.mark.parametrize(
    ("owner", "name", "new"),
    [
        (vocab_module, "tokenize", edited(vocab_module.tokenize)),
        (
            vocab_module.Vocabulary,
            "from_tokens",
            classmethod(edited(vars(vocab_module.Vocabulary)["from_tokens"].__func__)),
        ),
        (vocab_module.Vocabulary, "save", edited(vocab_module.Vocabulary.save)),
        (DatasetConfig, "noun_counts", edited(DatasetConfig.noun_counts)),
    ],
)
def test_edited_vocabulary_or_noun_count_code_gives_a_new_version(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, new: Any
) -> None:
    before = dataset_version(CONFIG, 0)
    monkeypatch.setattr(owner, name, new)
    assert dataset_version(CONFIG, 0) != before


@pytest.mark.parametrize(
    ("owner", "name", "new"),
    [
        (build_module, "DENSE_TURN_FACTORS", {"less_dense": 3, "dense": 1, "superdense": 0}),
        (build_module, "SPLITS", ("valid_a", "train", "valid_comp", "test")),
        (vocab_module, "RESERVED", ("[PAD]", "[UNK]", "[SEP]", "[CLS]")),
        (vocab_module, "TOKEN_PATTERN", re.compile(r"\w+")),
    ],
)
def test_a_changed_constant_gives_a_new_version(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, new: Any
) -> None:
    before = dataset_version(CONFIG, 0)
    monkeypatch.setattr(owner, name, new)
    assert dataset_version(CONFIG, 0) != before
