"""``scripts/generate_data.py`` as a user runs it (its bad inputs: ``test_bad_inputs.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_format_writes_an_export_beside_the_untouched_version(tmp_path):
    import pandas as pd

    from stories import load_dataset
    from stories.card import read_card

    out = tmp_path / "out"
    args = (
        "data=simple_2dir",
        "data.size=tiny",
        "seed=5",
        "progress=false",
        f"paths.output_dir={out}",
    )
    first = run(*args, "format=parquet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (folder,) = (out / "datasets").glob("simple_2dir-tiny-*")
    export = out / "exports" / f"{folder.name}-parquet"
    assert f"Exported 1060 rows as parquet to {export}: 5 files" in first.stdout
    assert f"Train on it with: python scripts/train.py data.path={export}\n" in first.stdout
    version = load_dataset(folder)  # checks every file against the manifest
    manifest_files = {*version.manifest["files"], "manifest.json"}
    # Nothing added to the version beside the encoded arrays the summary caches.
    assert {p.name for p in folder.iterdir()} - {"encoded"} == manifest_files
    for split in version:
        pd.testing.assert_frame_equal(pd.read_parquet(export / f"{split}.parquet"), version[split])
    card = read_card(export)
    assert card is not None and card["storyqa"]["hash"] == version.hash
    assert card["storyqa"]["seed"] == 5

    mine = tmp_path / "mine"
    again = run(*args, "format=hf", f"out={mine}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Cache hit" in again.stdout and f"as hf to {mine}:" in again.stdout
    assert (mine / "dataset_dict.json").is_file() and (mine / "README.md").is_file()
    replaced = run(*args, "format=jsonl", f"out={mine}", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert f"as jsonl to {mine} (replacing the earlier export):" in replaced.stdout
    assert sorted(p.name for p in mine.iterdir()) == sorted(
        ["README.md", *(f"{split}.jsonl" for split in version)]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "out"]  # no temporaries
