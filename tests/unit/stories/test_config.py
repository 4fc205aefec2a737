"""Dataset configuration: presets, sizes, validation errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from stories import PRESETS, SIZES, DatasetConfig, DatasetConfigError


def test_presets_cover_both_direction_sets_and_every_single_category():
    assert PRESETS["all_4dir"][0] == 4 and len(PRESETS["all_4dir"][1]) == 5
    assert PRESETS["all_2dir"][0] == 2 and len(PRESETS["all_2dir"][1]) == 5
    assert PRESETS["superdense_2dir"] == (2, ("superdense",))
    assert {"tiny", "default", "paper", "large"} <= set(SIZES)


def test_every_preset_has_a_matching_hydra_config(repo_root):
    files = {p.stem for p in (repo_root / "conf" / "data").glob("*.yaml")}
    assert files == set(PRESETS)
    for name, (directions, categories) in PRESETS.items():
        node = yaml.safe_load((repo_root / "conf" / "data" / f"{name}.yaml").read_text())
        assert (node["name"], node["directions"], tuple(node["categories"])) == (
            name,
            directions,
            categories,
        )


def test_sizes_resolve_to_even_cells_close_to_the_requested_totals():
    config = DatasetConfig.preset("all_4dir", size="default")
    per_cell = config.examples_per_cell()
    assert all(n % 2 == 0 and n >= 2 for n in per_cell.values())
    assert abs(per_cell["train"] * 35 - 30_000) < 35 * 2
    paper = DatasetConfig.preset("all_4dir", size="paper").examples_per_cell()
    assert abs(paper["valid_comp"] * 60 - 3_000) <= 60 and abs(paper["test"] * 50 - 2_500) <= 50
    single = DatasetConfig.preset("dense_4dir", size="default").examples_per_cell()
    assert single["train"] == 5 * per_cell["train"] or abs(single["train"] * 7 - 30_000) < 14


def test_split_size_override_and_workers_do_not_leak_into_content():
    base = DatasetConfig.preset("all_4dir", size="tiny")
    assert base.replace(split_sizes={"train": 3500}).examples_per_cell()["train"] == 100
    assert base.replace(workers=2).content_dict() == base.content_dict()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"categories": ["simple", "weird"]}, r"data\.categories: unknown category 'weird'"),
        ({"categories": []}, r"data\.categories: at least one"),
        ({"directions": 3}, r"data\.directions: must be 2 or 4"),
        ({"size": "huge"}, r"data\.size: unknown size 'huge'"),
        (
            {
                "noun_ranges": {
                    "train": [8, 2],
                    "valid_a": [2, 8],
                    "valid_comp": [9, 20],
                    "test": [21, 30],
                }
            },
            r"data\.noun_ranges\.train: min 8 > max 2",
        ),
        (
            {
                "noun_ranges": {
                    "train": [1, 8],
                    "valid_a": [2, 8],
                    "valid_comp": [9, 20],
                    "test": [21, 30],
                }
            },
            r"data\.noun_ranges\.train: min must be >= 2",
        ),
        ({"names": ["Ava", "Ben", "Cara"]}, r"only 3 names are available"),
        ({"names": ["Ava", "ben"]}, r"data\.names: 'ben'"),
        ({"split_sizes": {"train": 0}}, r"data\.split_sizes\.train: must be a positive integer"),
        ({"split_sizes": {"train": -5}}, r"data\.split_sizes\.train"),
        ({"split_sizes": {"training": 5}}, r"data\.split_sizes: unknown split"),
        ({"max_events": 0}, r"data\.max_events"),
        ({"two_actor_prob": 1.5}, r"data\.two_actor_prob"),
        ({"workers": -1}, r"data\.workers"),
    ],
)
def test_invalid_values_raise_an_error_naming_the_key(overrides, message):
    with pytest.raises(DatasetConfigError, match=message):
        DatasetConfig.preset("all_4dir", size="tiny").replace(**overrides)


def test_unknown_preset_and_unknown_keys_are_rejected():
    with pytest.raises(DatasetConfigError, match="unknown preset 'all_5dir'"):
        DatasetConfig.preset("all_5dir")
    with pytest.raises(DatasetConfigError, match=r"unknown key\(s\) \['colour'\]"):
        DatasetConfig.from_mapping({"colour": "red"})
