"""A user's dataset written the way a user would write it (pandas, ``datasets``), from a
storyqa dataset's rows: the files the user-data tests read and train on."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ["story", "question", "answer", "category", "noun_count"]
SPLITS = ("train", "valid_a", "test")


def write_splits(dataset, folder: Path, suffix: str, columns=COLUMNS, splits=SPLITS) -> Path:
    """``dataset``'s splits as one file per split, the way a user would write them."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        frame = dataset[split][columns]
        path = folder / f"{split}{suffix}"
        if suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True)
        elif suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    return folder


def write_hf(dataset, folder: Path, splits=SPLITS) -> Path:
    """``dataset``'s splits as a Hugging Face DatasetDict with a ClassLabel answer."""
    import datasets

    features = datasets.Features(
        story=datasets.Value("string"),
        question=datasets.Value("string"),
        answer=datasets.ClassLabel(names=["no", "yes"]),
        category=datasets.Value("string"),
        noun_count=datasets.Value("int64"),
    )
    tables = {}
    for split in splits:
        frame = dataset[split][COLUMNS].copy()
        frame["answer"] = (frame["answer"] == "yes").astype(int)
        tables[split] = datasets.Dataset.from_pandas(frame, features=features, preserve_index=False)
    datasets.DatasetDict(tables).save_to_disk(str(folder))
    return folder
