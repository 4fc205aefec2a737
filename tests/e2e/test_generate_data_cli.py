"""``scripts/generate_data.py`` as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "generate_data.py"


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generates_then_hits_the_cache_and_prints_the_summary(tmp_path):
    out = tmp_path / "out"
    first = run(
        "data=all_2dir", "data.size=tiny", "seed=3", f"paths.output_dir={out}", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "Generated" in first.stdout and "generating" in first.stderr  # tqdm bar on stderr
    for expected in (
        "valid_comp: examples per category x noun_count",
        "yes_share",
        "oov_rate",
        "median",
    ):
        assert expected in first.stdout
    (folder,) = (out / "datasets").glob("all_2dir-tiny-*")
    second = run(
        "data=all_2dir", "data.size=tiny", "seed=3", f"paths.output_dir={out}", cwd=tmp_path
    )
    assert second.returncode == 0 and "Cache hit" in second.stdout and str(folder) in second.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # Hydra wrote nothing in the cwd


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data=all_5dir"], "Could not find 'data/all_5dir'"),
        (["data.size=huge"], "data.size: unknown size 'huge'"),
        (["data.directions=3"], "data.directions: must be 2 or 4"),
        (["data.categories=[simple,weird]"], "unknown category 'weird'"),
        (["data.noun_ranges.test=[31,30]"], "data.noun_ranges.test: min 31 > max 30"),
        (["data.split_sizes.train=0"], "data.split_sizes.train: must be a positive integer"),
        (["data.max_events=abc"], "data.max_events"),
        (["data.colour=red"], "Key 'colour' not in 'DatasetConfig'"),
    ],
)
def test_bad_input_is_one_clear_error_with_nonzero_exit_and_nothing_written(
    tmp_path, overrides, message
):
    out = tmp_path / "out"
    result = run("data.size=tiny", *overrides, f"paths.output_dir={out}", cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any((out / "datasets").glob("*-*"))


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("data.size=tiny", f"paths.output_dir={blocker}/out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot write to output directory")


def test_corrupt_cached_dataset_tells_how_to_rebuild(tmp_path):
    out = tmp_path / "out"
    assert run("data.size=tiny", f"paths.output_dir={out}", cwd=tmp_path).returncode == 0
    (folder,) = (out / "datasets").glob("all_4dir-tiny-*")
    (folder / "train.jsonl").write_text("tampered\n")
    result = run("data.size=tiny", f"paths.output_dir={out}", cwd=tmp_path)
    assert result.returncode == 2
    assert "train.jsonl no longer matches" in result.stderr and "rm -r" in result.stderr
