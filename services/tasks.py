"""Work on a finished run that the API hands to a worker: evaluating its best checkpoint
(on its splits, or on uploaded rows) and answering a large batch of rows; and the small
predictions the API answers itself. Each uses the trainers' public API (``evaluate_run``,
``Predictor``).

A task's result (JSON) is RQ's job result, read back by ``GET /jobs/{job_id}``.
"""

from __future__ import annotations

import functools
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from services.queue import RunQueue

#: Kind -> the job function.
TASKS: Final = {
    "evaluate": "services.tasks.evaluate_task",
    "predict": "services.tasks.predict_task",
}
#: Seconds RQ keeps a task's result.
RESULT_TTL_S: Final = 7 * 24 * 3600


def enqueue_task(queue: RunQueue, kind: str, **kwargs: Any) -> str:
    """Queue a task of ``kind`` (``evaluate`` or ``predict``); returns its job id."""
    job_id = f"{kind}-{secrets.token_hex(6)}"
    queue.queue.enqueue_call(
        TASKS[kind],
        kwargs={**kwargs, "job_id": job_id},
        timeout=-1,
        result_ttl=RESULT_TTL_S,
        failure_ttl=RESULT_TTL_S,
        job_id=job_id,
        meta={"kind": kind},
        description=f"storyqa {kind} of {kwargs.get('run_id')}",
    )
    return job_id


def _output_dir() -> Path:
    from services.jobs import _Worker

    assert _Worker.settings is not None
    return _Worker.settings.output_dir.resolve()


def evaluate_task(
    run_id: str,
    job_id: str,
    splits: list[str] | None = None,
    rows: list[dict[str, Any]] | None = None,
    allow_unknown_words: bool = False,
) -> dict[str, Any]:
    """Evaluate a run's best checkpoint (RQ's job function); returns split -> accuracy and
    the number of examples."""
    from trainers.runs.pipeline import evaluate_run

    run_dir = _output_dir() / "runs" / run_id
    data_path = None
    if rows is not None:
        folder = _output_dir() / "service" / "uploads" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        data_path = folder / "uploaded.jsonl"
        data_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    results = evaluate_run(
        run_dir,
        tuple(splits) if splits else None,
        data_path=data_path,
        allow_unknown_words=allow_unknown_words,
    )
    return {
        "run_id": run_id,
        "splits": {
            split: {"accuracy": float(r.accuracy), "examples": int(r.n_samples)}
            for split, r in results.items()
        },
    }


def predict_task(
    run_id: str, job_id: str, rows: list[dict[str, Any]], allow_unknown_words: bool = False
) -> dict[str, Any]:
    """Answer rows (RQ's job function); the answers go to the run's
    ``predictions/<job_id>.jsonl``, in row order."""
    run_dir = _output_dir() / "runs" / run_id
    answers = predict_rows(run_dir, rows, allow_unknown_words)
    target = run_dir / "predictions" / f"{job_id}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".jsonl.partial")
    partial.write_text(
        "".join(json.dumps({**row, **a}) + "\n" for row, a in zip(rows, answers, strict=True)),
        encoding="utf-8",
    )
    partial.replace(target)
    return {"run_id": run_id, "rows": len(rows), "file": f"predictions/{job_id}.jsonl"}


@functools.lru_cache(maxsize=2)
def _predictor(run_dir: Path, allow_unknown_words: bool) -> Any:
    from trainers.runs.predict import Predictor

    return Predictor.from_run(run_dir, allow_unknown_words=allow_unknown_words)


def predict_rows(
    run_dir: Path, rows: list[dict[str, Any]], allow_unknown_words: bool = False
) -> list[dict[str, Any]]:
    """``probability`` and ``answer`` for each row, with the run's best checkpoint.

    Raises:
        stories.rows.RowError: Naming the first row the model cannot answer.
    """
    prediction = _predictor(run_dir, allow_unknown_words).predict(
        [r["story"] for r in rows],
        [r["question"] for r in rows],
        row_names=[f"rows[{i}]" for i in range(len(rows))],
    )
    return [
        {"probability": float(p), "answer": a}
        for p, a in zip(prediction.probabilities.tolist(), prediction.answers, strict=True)
    ]
