"""What each kind of target is sent: one HTTP request per message, a message carrying one
event or a run's batch of epochs (with, at its end, the run's next event).

- ``discord``: a webhook message with one embed per event (a run's epochs share one), within
  every limit Discord sets (:data:`DISCORD_LIMITS`): longer text is cut, never refused.
- ``slack``: an incoming-webhook message, ``text`` plus a section block per event, within
  Slack's limits (:data:`SLACK_LIMITS`).
- ``webhook``: the event itself as published (a batch: a JSON array of events), with
  ``X-Storyqa-Event``, ``X-Storyqa-Event-Id`` and, given a secret, ``X-Storyqa-Signature``
  (``sha256=<hex HMAC-SHA256 of the body>``).

Lengths are counted in UTF-16 code units (what a JavaScript ``length`` counts), never fewer
than characters.

Example:
    >>> cut("abcdef", 4), cut("abc", 4)
    ('abc…', 'abc')
    >>> signature(b'{"type":"run.started.v1"}', "s3cret")[:15]
    'sha256=65b357e1'
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from metrics import namespaces as ns
from services.events.schemas import (
    Event,
    RunCanceled,
    RunEpoch,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    SweepFinished,
)
from services.settings import NotifyTarget

#: Discord's limits on a webhook message (characters; embeds' text counted together).
DISCORD_LIMITS: Final = {
    "content": 2000,
    "embeds": 10,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "total": 6000,
}
#: Slack's limits on an incoming-webhook message (``text`` kept under Slack's advice).
SLACK_LIMITS: Final = {"text": 3000, "blocks": 50, "section": 3000}
#: Colours of Discord embeds by outcome.
_COLOURS: Final = {"finished": 0x2E7D32, "failed": 0xC62828, "canceled": 0x757575}
_BLUE: Final = 0x1565C0
#: The epoch metrics a message shows, with their labels.
_EPOCH_METRICS: Final = (
    (ns.epoch_metric("train", "loss"), "train loss"),
    (ns.epoch_metric("val", "loss"), "val loss"),
    (ns.epoch_metric("val", "accuracy"), "val accuracy"),
)
USER_AGENT: Final = "storyqa-notifier/1"


@dataclass(frozen=True)
class Entry:
    """One event of the stream.

    Attributes:
        id: The stream entry's id (``<ms>-<n>``).
        event: The event.
        raw: Its JSON as published (what a webhook is sent, byte for byte).
    """

    id: str
    event: Event
    raw: str


@dataclass(frozen=True)
class Request:
    """One HTTP POST to a target: the exact body and the headers."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Summary:
    """One event (or a run's epochs) as a chat message shows it."""

    title: str
    link: str | None
    text: str
    fields: tuple[tuple[str, str], ...]
    colour: int
    footer: str
    at: float


def build_request(target: NotifyTarget, entries: Sequence[Entry], base_url: str) -> Request:
    """The request that sends ``entries`` (one message) to ``target``."""
    if target.kind == "webhook":
        return webhook_request(entries, target.secret)
    payload = (
        discord_payload(summarize(entries, base_url))
        if target.kind == "discord"
        else slack_payload(summarize(entries, base_url))
    )
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Request(body, {"Content-Type": "application/json", "User-Agent": USER_AGENT})


# --- the generic webhook -----------------------------------------------------------------


def webhook_request(entries: Sequence[Entry], secret: str | None) -> Request:
    """The event as published (several: a JSON array of them, in stream order), its type(s)
    and stream id(s), signed when there is a secret.

    Example:
        >>> from services.events.schemas import RunStarted
        >>> event = RunStarted(run_id="r1", attempt=1, worker="w", host="h", at=0)
        >>> request = webhook_request([Entry("1-0", event, event.model_dump_json())], "k")
        >>> request.body == event.model_dump_json().encode()
        True
        >>> request.headers["X-Storyqa-Event"], request.headers["X-Storyqa-Event-Id"]
        ('run.started.v1', '1-0')
    """
    raws = [entry.raw for entry in entries]
    body = (raws[0] if len(raws) == 1 else "[" + ",".join(raws) + "]").encode()
    types = dict.fromkeys(entry.event.type for entry in entries)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Storyqa-Event": ",".join(types),
        "X-Storyqa-Event-Id": ",".join(entry.id for entry in entries),
    }
    if secret is not None:
        headers["X-Storyqa-Signature"] = signature(body, secret)
    return Request(body, headers)


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body with secret>``: what ``X-Storyqa-Signature`` says."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- what a chat message says ------------------------------------------------------------


def summarize(entries: Sequence[Entry], base_url: str) -> list[Summary]:
    """One summary per event; consecutive epochs of one run share one."""
    out: list[Summary] = []
    epochs: list[Entry] = []
    for entry in entries:
        event = entry.event
        if epochs and not (
            isinstance(event, RunEpoch) and event.run_id == _run_id(epochs[0].event)
        ):
            out.append(_epochs_summary(epochs, base_url))
            epochs = []
        if isinstance(event, RunEpoch):
            epochs.append(entry)
        else:
            out.append(_summary(entry, base_url))
    if epochs:
        out.append(_epochs_summary(epochs, base_url))
    return out


def _run_id(event: Event) -> str:
    return event.run_id if isinstance(event, RunEvent) else ""


def _link(event: Event, base_url: str) -> str | None:
    if isinstance(event, RunEvent):
        return f"{base_url}/runs/{event.run_id}"
    if isinstance(event, SweepFinished):
        return f"{base_url}/sweeps/{event.sweep_id}"
    return None


def _summary(entry: Entry, base_url: str) -> Summary:
    event = entry.event
    title, text, fields, colour = _content(event)
    model = [("model", event.model)] if isinstance(event, RunEvent) and event.model else []
    sweep = [("sweep", event.sweep_id)] if isinstance(event, RunEvent) and event.sweep_id else []
    return Summary(
        title=title,
        link=_link(event, base_url),
        text=text,
        fields=tuple(model + fields + sweep),
        colour=colour,
        footer=f"{event.type} · {entry.id}",
        at=event.at,
    )


def _content(event: Event) -> tuple[str, str, list[tuple[str, str]], int]:
    """Title, text, fields and colour of one event."""
    if isinstance(event, RunStarted):
        where = [("worker", f"{event.worker} on {event.host}"), ("attempt", str(event.attempt))]
        return f"Run started: {event.run_id}", "", where, _BLUE
    if isinstance(event, RunFinished):
        return f"Run finished: {event.run_id}", "", _finished_fields(event), _COLOURS["finished"]
    if isinstance(event, RunFailed):
        fields = [("error", event.error_class), ("attempt", str(event.attempt))]
        return f"Run failed: {event.run_id}", event.message, fields, _COLOURS["failed"]
    if isinstance(event, RunCanceled):
        fields = [("killed", "yes" if event.killed else "no"), ("attempt", str(event.attempt))]
        return f"Run canceled: {event.run_id}", event.message, fields, _COLOURS["canceled"]
    if isinstance(event, SweepFinished):
        return _sweep_content(event)
    subject = _run_id(event)
    values = event.model_dump(exclude={"type", "at", "run_id", "model", "sweep_id"})
    fields = [(str(k), _value(v)) for k, v in values.items() if v not in (None, "", [], {})]
    return f"{event.type}: {subject}" if subject else event.type, "", fields, _BLUE


def _finished_fields(event: RunFinished) -> list[tuple[str, str]]:
    fields = []
    for split, result in event.headline.items():
        value = f"{result.accuracy:.4f}"
        if result.low is not None and result.high is not None:
            value += f" (95% {result.low:.4f} to {result.high:.4f})"
        if result.examples is not None:
            value += f", n={result.examples}"
        fields.append((f"{split} accuracy", value))
    if event.best_val_accuracy is not None:
        epoch = "" if event.best_epoch is None else f" (epoch {event.best_epoch + 1})"
        fields.append(("best val accuracy", f"{event.best_val_accuracy:.4f}{epoch}"))
    if event.seconds is not None:
        fields.append(("time", _duration(event.seconds)))
    return fields


def _sweep_content(event: SweepFinished) -> tuple[str, str, list[tuple[str, str]], int]:
    lines = [", ".join(f"{k} {_value(v)}" for k, v in row.items()) for row in event.headline]
    text = "\n".join(filter(None, [event.message, *lines]))
    fields = [("runs", f"{event.finished} of {event.runs} finished")]
    if event.comparison:
        fields.append(("comparison", event.comparison))
    colour = _COLOURS["finished"] if event.finished == event.runs else _COLOURS["failed"]
    return f"Sweep finished: {event.sweep_id}", text, fields, colour


def _epochs_summary(entries: Sequence[Entry], base_url: str) -> Summary:
    events = [entry.event for entry in entries if isinstance(entry.event, RunEpoch)]
    first, last = events[0], events[-1]
    of = f"/{last.max_epochs}" if last.max_epochs else ""
    span = (
        f"epoch {first.epoch + 1}{of}"
        if len(events) == 1
        else f"epochs {first.epoch + 1} to {last.epoch + 1}{of}"
    )
    ids = entries[0].id if len(entries) == 1 else f"{entries[0].id} … {entries[-1].id}"
    return Summary(
        title=f"Run {first.run_id}: {span}",
        link=_link(first, base_url),
        text="\n".join(epoch_line(event) for event in events),
        fields=(("model", first.model),) if first.model else (),
        colour=_BLUE,
        footer=f"{first.type} · {ids}",
        at=last.at,
    )


def epoch_line(event: RunEpoch) -> str:
    """One line per epoch.

    Example:
        >>> epoch_line(RunEpoch(run_id="r", epoch=2, max_epochs=10, best_val_accuracy=0.7,
        ...     metrics={"metrics/train/loss": 0.41234, "metrics/val/accuracy": 0.7}))
        'epoch 3/10 · train loss 0.4123 · val accuracy 0.7000 · best 0.7000'
    """
    of = f"/{event.max_epochs}" if event.max_epochs else ""
    parts = [f"epoch {event.epoch + 1}{of}"]
    parts += [
        f"{label} {event.metrics[key]:.4f}" for key, label in _EPOCH_METRICS if key in event.metrics
    ]
    if event.best_val_accuracy is not None:
        parts.append(f"best {event.best_val_accuracy:.4f}")
    return " · ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _duration(seconds: float) -> str:
    """``1h 2m 3s``.

    Example:
        >>> _duration(3723.4), _duration(42)
        ('1h 2m 3s', '42s')
    """
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(hours or minutes)
    return " ".join([*parts, f"{secs}s"])


# --- Discord -----------------------------------------------------------------------------


def discord_payload(summaries: Sequence[Summary]) -> dict[str, Any]:
    """A Discord webhook message: a line of content and one embed per summary, within every
    limit of :data:`DISCORD_LIMITS`; mentions in the text never ping anyone."""
    embeds = [_embed(summary) for summary in summaries]
    content = "storyqa: " + "; ".join(summary.title for summary in summaries)
    return fit_discord({"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}})


def _embed(summary: Summary) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": summary.title,
        "description": summary.text,
        "color": summary.colour,
        "fields": [
            {"name": name, "value": value, "inline": len(value) <= 40}
            for name, value in summary.fields
        ],
        "footer": {"text": summary.footer},
        "timestamp": datetime.fromtimestamp(summary.at, UTC).isoformat(),
    }
    if summary.link:
        embed["url"] = summary.link
    return embed


def fit_discord(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` cut to Discord's limits: each text to its own, then the embeds' text
    together to 6000 (descriptions shortened first, then field values, field names, footers,
    titles); what would be empty is left out. Never fails.

    Example:
        >>> fitted = fit_discord({"content": "x" * 3000, "embeds": [{"title": "t" * 300}] * 12})
        >>> len(fitted["content"]), len(fitted["embeds"]), len(fitted["embeds"][0]["title"])
        (2000, 10, 256)
    """
    limits = DISCORD_LIMITS
    embeds = [_fit_embed(dict(embed)) for embed in payload.get("embeds", [])]
    content = str(payload.get("content", ""))
    if len(embeds) > limits["embeds"]:
        content += f" (+{len(embeds) - limits['embeds']} more not shown)"
        embeds = embeds[: limits["embeds"]]
    _fit_total(embeds, limits["total"])
    embeds = [_drop_empty(embed) for embed in embeds]
    out = {**payload, "content": cut(content, limits["content"]) or "storyqa", "embeds": embeds}
    return out


def _fit_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """One embed's texts cut to their own limits, at most 25 fields."""
    limits = DISCORD_LIMITS
    for key in ("title", "description"):
        if key in embed:
            embed[key] = cut(str(embed[key]), limits[key])
    if "footer" in embed:
        embed["footer"] = {
            **embed["footer"],
            "text": cut(str(embed["footer"].get("text", "")), limits["footer"]),
        }
    fields = [dict(f) for f in embed.get("fields", [])]
    if len(fields) > limits["fields"]:
        hidden = len(fields) - limits["fields"] + 1
        fields = [*fields[: limits["fields"] - 1], {"name": "…", "value": f"{hidden} more"}]
    for f in fields:
        f["name"] = cut(str(f.get("name", "")), limits["field_name"])
        f["value"] = cut(str(f.get("value", "")), limits["field_value"])
    if "fields" in embed:
        embed["fields"] = fields
    return embed


def _fit_total(embeds: list[dict[str, Any]], limit: int) -> None:
    """Shorten the embeds' texts, least important first, until they add up to ``limit``:
    descriptions, then field values and names (down to a floor each), then whole fields from
    the end, then footers, then titles."""
    descriptions = [(e, "description") for e in embeds if "description" in e]
    values = [(f, "value") for e in embeds for f in e.get("fields", [])]
    names = [(f, "name") for e in embeds for f in e.get("fields", [])]
    _shrink(embeds, descriptions, limit)
    _shrink(embeds, values, limit, floor=64)
    _shrink(embeds, names, limit, floor=32)
    while discord_total(embeds) > limit and any(e.get("fields") for e in embeds):
        [e for e in embeds if e.get("fields")][-1]["fields"].pop()
    _shrink(embeds, [(e["footer"], "text") for e in embeds if "footer" in e], limit)
    _shrink(embeds, [(e, "title") for e in embeds if "title" in e], limit)


def _shrink(
    embeds: list[dict[str, Any]],
    texts: list[tuple[dict[str, Any], str]],
    limit: int,
    floor: int = 0,
) -> None:
    """Cut ``texts`` (keeping each at least ``floor`` long) by what the embeds are over."""
    excess = discord_total(embeds) - limit
    if excess <= 0 or not texts:
        return
    lengths = [units(d[k]) for d, k in texts]
    floors = [min(length, floor) for length in lengths]
    budget = max(0, sum(lengths) - excess - sum(floors))
    extra = share([length - low for length, low in zip(lengths, floors, strict=True)], budget)
    for (d, k), low, more in zip(texts, floors, extra, strict=True):
        d[k] = cut(d[k], low + more)


def _drop_empty(embed: dict[str, Any]) -> dict[str, Any]:
    """Discord refuses empty fields, titles, descriptions and footers: leave them out."""
    out = {k: v for k, v in embed.items() if not (k in ("title", "description") and not v)}
    if "fields" in out:
        out["fields"] = [f for f in out["fields"] if f["name"] and f["value"]]
    if "footer" in out and not out["footer"].get("text"):
        del out["footer"]
    return out


def discord_total(embeds: Sequence[dict[str, Any]]) -> int:
    """The characters Discord counts towards an embed's 6000: titles, descriptions, field
    names and values, footers, authors' names."""
    total = 0
    for e in embeds:
        total += units(e.get("title", "")) + units(e.get("description", ""))
        total += sum(units(f["name"]) + units(f["value"]) for f in e.get("fields", []))
        total += units(e.get("footer", {}).get("text", ""))
        total += units(e.get("author", {}).get("name", ""))
    return total


# --- Slack -------------------------------------------------------------------------------


def slack_payload(summaries: Sequence[Summary]) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification's line) and a section
    block per summary (at most 50, each within 3000 characters).

    Example:
        >>> s = Summary("Run failed: r1", "http://h/runs/r1", "x < y", (), 0, "run.failed.v1", 0)
        >>> slack_payload([s])["blocks"][0]["text"]["text"]
        '*<http://h/runs/r1|Run failed: r1>*\\nx &lt; y\\n_run.failed.v1_'
    """
    limits = SLACK_LIMITS
    blocks = [_section(summary) for summary in summaries]
    if len(blocks) > limits["blocks"]:
        hidden = len(blocks) - limits["blocks"] + 1
        blocks = [*blocks[: limits["blocks"] - 1], _mrkdwn(f"_{hidden} more not shown_")]
    text = "storyqa: " + "; ".join(summary.title for summary in summaries)
    return {"text": cut(text, limits["text"]), "blocks": blocks}


def _section(summary: Summary) -> dict[str, Any]:
    """The summary's section: its linked title, text, fields and footer; a long text is cut
    so that the rest always shows."""
    title = _escape(summary.title)
    head = f"*<{summary.link}|{title}>*" if summary.link else f"*{title}*"
    tail = [f"*{_escape(name)}*: {_escape(value)}" for name, value in summary.fields]
    tail.append(f"_{_escape(summary.footer)}_")
    room = SLACK_LIMITS["section"] - units("\n".join([head, *tail])) - 1
    text = [cut(_escape(summary.text), room)] if summary.text and room > 0 else []
    return _mrkdwn(cut("\n".join([head, *text, *tail]), SLACK_LIMITS["section"]))


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _escape(text: str) -> str:
    """Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- lengths -----------------------------------------------------------------------------


def units(text: str) -> int:
    """``text``'s length in UTF-16 code units (an emoji outside the BMP counts 2).

    Example:
        >>> units("abc"), units("a😀")
        (3, 3)
    """
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-16 code units, ending with ``…`` when shortened."""
    if units(text) <= limit:
        return text
    if limit <= 0:
        return ""
    kept, used = [], 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > limit - 1:
            break
        kept.append(char)
        used += width
    return "".join(kept) + "…"


def share(lengths: Sequence[int], budget: int) -> list[int]:
    """Caps for texts of ``lengths`` that add up to at most ``budget``: short texts keep their
    length, long ones share what is left equally.

    Example:
        >>> share([10, 100, 1000], 300), share([50, 50], 1000)
        ([10, 100, 190], [50, 50])
    """
    caps = [0] * len(lengths)
    remaining = budget
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for position, index in enumerate(order):
        caps[index] = min(lengths[index], remaining // (len(order) - position))
        remaining -= caps[index]
    return caps
