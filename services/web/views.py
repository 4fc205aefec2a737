"""The page's server-rendered pieces: a row of the runs table and a run's panel (status,
actions, facts). The page's script fetches them again (``/ui/rows/{id}``,
``/ui/runs/{id}/panel``) when a run's events arrive, so they are rendered here only.

Example:
    >>> from services.store import RunRecord
    >>> row = run_row(RunRecord("lstm-x", "running", model="lstm", epoch=2, max_epochs=3), 0.0)
    >>> 'data-run-id="lstm-x"' in row, '<progress value="2" max="3">' in row
    (True, True)
    >>> age(75), age(7200), age(None)
    ('1 min', '2 h', '')
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from pathlib import Path

from services.store import RunRecord, RunStatus

#: Statuses whose runs can be cancelled.
CANCELABLE = (RunStatus.QUEUED, RunStatus.RUNNING)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def age(seconds: float | None) -> str:
    """A duration as the table shows it (``12 s``, ``3 min``, ``5 h``, ``2 d``)."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def when(stamp: float | None) -> str:
    """A wall-clock time (the server's local time), or ``—``."""
    if stamp is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def accuracy(value: float | None) -> str:
    """An accuracy with four decimals, as the reports print it (``—`` when unknown)."""
    return "—" if value is None else f"{value:.4f}"


def badge(status: str) -> str:
    """A status as a coloured badge."""
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def progress(record: RunRecord) -> str:
    """Epochs finished out of ``trainer.max_epochs``."""
    if record.max_epochs:
        done = min(record.epoch, record.max_epochs)
        return (
            f'<progress value="{done}" max="{record.max_epochs}"></progress>'
            f'<span class="num">{record.epoch}/{record.max_epochs}</span>'
        )
    return f'<span class="num">{record.epoch}</span>'


def _worker(record: RunRecord) -> str:
    worker = record.worker or {}
    if not worker.get("name"):
        return '<span class="dim">—</span>'
    title = f"{worker.get('host', '')} pid {worker.get('pid', '')}"
    dim = "" if record.status == RunStatus.RUNNING else ' class="dim"'
    return f'<span{dim} title="{_e(title)}">{_e(worker["name"])}</span>'


def _notes(record: RunRecord) -> list[str]:
    notes = []
    if record.cancel_requested and not record.terminal:
        notes.append("cancel requested")
    if record.killed:
        notes.append("killed")
    if record.attempt > 1:
        notes.append(f"attempt {record.attempt}")
    if record.error_class:
        notes.append(record.error_class)
    return notes


def run_row(record: RunRecord, now: float) -> str:
    """The run's row of the runs table."""
    run_id = _e(record.run_id)
    finished = record.status == RunStatus.FINISHED
    tick = (
        f'<input type="checkbox" class="pick" value="{run_id}" aria-label="compare {run_id}">'
        if finished
        else '<input type="checkbox" class="pick" disabled title="only finished runs compare">'
    )
    sweep = f'<span class="sub">{_e(record.sweep_id)}</span>' if record.sweep_id else ""
    notes = "".join(f'<span class="sub">{_e(note)}</span>' for note in _notes(record))
    message = f' title="{_e(record.message)}"' if record.message else ""
    created = record.created_at
    since = f' data-since="{created:.3f}"' if created is not None else ""
    search = " ".join((record.run_id, record.model, record.dataset, record.sweep_id)).lower()
    return (
        f'<tr data-run-id="{run_id}" data-status="{_e(record.status)}" '
        f'data-search="{_e(search)}">'
        f'<td class="tick">{tick}</td>'
        f'<td class="id"><a href="/ui/runs/{run_id}">{run_id}</a>{sweep}</td>'
        f'<td class="status"{message}>{badge(record.status)}{notes}</td>'
        f"<td>{_e(record.model)}</td><td>{_e(record.dataset)}</td>"
        f'<td class="progress">{progress(record)}</td>'
        f'<td class="num best">{accuracy(record.best_val_accuracy)}</td>'
        f'<td class="worker">{_worker(record)}</td>'
        f'<td class="age num"{since}>{age(None if created is None else now - created)}</td>'
        "</tr>"
    )


def run_rows(records: Iterable[RunRecord], now: float) -> str:
    """Rows of ``records``, in their order."""
    return "".join(run_row(record, now) for record in records)


def _fact(name: str, value: str) -> str:
    return f"<tr><th>{_e(name)}</th><td>{value}</td></tr>"


def run_panel(record: RunRecord, run_dir: Path, now: float) -> str:
    """The top of a run's page: its id and status, its actions (cancel, resume, report,
    archive) and its facts."""
    run_id = _e(record.run_id)
    actions = []
    if record.status in CANCELABLE:
        pending = " disabled" if record.cancel_requested else ""
        label = "Cancelling…" if record.cancel_requested else "Cancel"
        actions.append(
            f'<button type="button" class="danger" data-action="cancel"{pending}>{label}</button>'
        )
    if record.status in RunStatus.RESUMABLE:
        actions.append('<button type="button" data-action="resume">Resume</button>')
    if (run_dir / "report.html").is_file():
        actions.append(
            f'<a class="button primary" id="report" href="/runs/{run_id}/report" '
            'target="_blank" rel="noopener">report.html</a>'
        )
    if run_dir.is_dir():
        actions.append(f'<a class="button" href="/runs/{run_id}/archive">archive (.tar.gz)</a>')
    worker = record.worker or {}
    worker_text = "—"
    if worker.get("name"):
        worker_text = _e(f"{worker['name']} on {worker.get('host', '')}, pid {worker.get('pid')}")
        if record.status == RunStatus.RUNNING and record.heartbeat is not None:
            worker_text += (
                f' <span class="dim">(heartbeat {age(now - record.heartbeat)} ago)</span>'
            )
    attempt = f"{record.attempt}"
    if record.losses:
        attempt += f" ({record.losses} lost worker{'s' if record.losses > 1 else ''})"
    started, ended = record.started_at, record.ended_at
    took = age(ended - started) if started is not None and ended is not None else ""
    running = (
        f' <span class="dim">(running for {age(now - started)})</span>'
        if started is not None and ended is None and record.status == RunStatus.RUNNING
        else ""
    )
    evaluation = " · ".join(
        f"{_e(split)} <b>{value:.4f}</b>" for split, value in record.evaluation.items()
    )
    overrides = " ".join(record.overrides)
    facts = [
        _fact("model", _e(record.model)),
        _fact("dataset", _e(record.dataset)),
        _fact("epochs", progress(record)),
        _fact("best val accuracy", accuracy(record.best_val_accuracy)),
        _fact("evaluation", evaluation or "—"),
        _fact("attempt", _e(attempt)),
        _fact("worker", worker_text),
        _fact("submitted", when(record.created_at)),
        _fact("started", when(started) + running),
        _fact("ended", when(ended) + (f' <span class="dim">(after {took})</span>' if took else "")),
        _fact("overrides", f"<code>{_e(overrides)}</code>" if overrides else "—"),
    ]
    if record.sweep_id:
        facts.append(_fact("sweep", _e(record.sweep_id)))
    if record.error_class:
        facts.append(_fact("error class", _e(record.error_class)))
    message = ""
    if record.message:
        kind = "error" if record.status == RunStatus.FAILED else "note"
        message = f'<p class="message {kind}">{_e(record.message)}</p>'
    notes = "".join(f'<span class="sub">{_e(note)}</span>' for note in _notes(record))
    return (
        f'<div class="run-head" data-status="{_e(record.status)}">'
        f'<h1>{run_id}</h1><span class="state">{badge(record.status)}{notes}</span>'
        f'<span class="actions">{"".join(actions)}</span></div>'
        f'<p class="action-error error" id="action-error" hidden></p>'
        f"{message}"
        f'<table class="metrics facts">{"".join(facts)}</table>'
    )
