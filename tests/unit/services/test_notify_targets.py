"""What each kind of target is sent: Discord embeds cut at every one of Discord's limits (never
refused), Slack sections within Slack's, and the generic webhook's exact body, its headers and
its HMAC-SHA256 signature over the body's bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from typing import Any

import pytest

from services.events.schemas import (
    Event,
    RunEpoch,
    RunFailed,
    RunFinished,
    RunStarted,
    SplitAccuracy,
    SweepFinished,
)
from services.notify.targets import (
    DISCORD_LIMITS,
    SLACK_LIMITS,
    Entry,
    build_request,
    cut,
    discord_payload,
    fit_discord,
    slack_payload,
    summarize,
    units,
)
from services.settings import NotifyTarget
from tests.notify_receiver import assert_discord_limits

BASE = "http://127.0.0.1:8765"
SECRET = "sh4red"
DISCORD = NotifyTarget("discord", "https://discord.example/api/webhooks/1/t0ken")
SLACK = NotifyTarget("slack", "https://hooks.slack.example/T/B/x")
WEBHOOK = NotifyTarget("webhook", "https://ci.example/hook", secret=SECRET)


def entry(event: Event, n: int = 1) -> Entry:
    return Entry(f"1700000000000-{n}", event, event.model_dump_json())


def finished(run_id: str = "lstm-tiny-1") -> RunFinished:
    return RunFinished(
        run_id=run_id,
        model="lstm",
        attempt=1,
        best_epoch=2,
        best_val_accuracy=0.81,
        headline={
            "test": SplitAccuracy(accuracy=0.75, low=0.7, high=0.8, examples=200),
            "valid_a": SplitAccuracy(accuracy=0.9),
        },
        seconds=3723,
    )


def failed(message: str, run_id: str = "lstm-tiny-2") -> RunFailed:
    return RunFailed(run_id=run_id, attempt=1, error_class="crash", message=message)


def epoch(n: int, run_id: str = "lstm-tiny-1") -> RunEpoch:
    return RunEpoch(
        run_id=run_id,
        model="lstm",
        epoch=n,
        max_epochs=10,
        metrics={"metrics/train/loss": 1 / (n + 1), "metrics/val/accuracy": 0.5 + n / 100},
    )


def discord(*entries: Entry) -> dict[str, Any]:
    return json.loads(build_request(DISCORD, list(entries), BASE).body)


# --- Discord -----------------------------------------------------------------------------


def test_a_finished_run_is_an_embed_with_its_accuracies_and_a_link() -> None:
    payload = discord(entry(finished()))
    [embed] = payload["embeds"]
    assert embed["title"] == "Run finished: lstm-tiny-1"
    assert embed["url"] == f"{BASE}/runs/lstm-tiny-1"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["model"] == "lstm"
    assert fields["test accuracy"] == "0.7500 (95% 0.7000 to 0.8000), n=200"
    assert fields["valid_a accuracy"] == "0.9000"
    assert fields["best val accuracy"] == "0.8100 (epoch 3)" and fields["time"] == "1h 2m 3s"
    assert embed["footer"]["text"] == "run.finished.v1 · 1700000000000-1"
    assert payload["allowed_mentions"] == {"parse": []}  # "@everyone" in a message pings no one
    assert_discord_limits(payload)


def test_a_failed_run_carries_its_message() -> None:
    [embed] = discord(entry(failed("ValueError: bad data (traceback in run.log)")))["embeds"]
    assert embed["title"] == "Run failed: lstm-tiny-2"
    assert embed["description"] == "ValueError: bad data (traceback in run.log)"


def test_a_sweep_links_to_the_sweep() -> None:
    event = SweepFinished(
        sweep_id="sweep-1", runs=2, finished=2, headline=[{"run": "a", "test": 0.75}]
    )
    [embed] = discord(entry(event))["embeds"]
    assert embed["url"] == f"{BASE}/sweeps/sweep-1" and "run a, test 0.7500" in embed["description"]


def test_a_runs_epochs_share_one_embed_and_its_end_has_its_own() -> None:
    entries = [entry(epoch(n), n) for n in range(3)] + [entry(finished(), 9)]
    payload = discord(*entries)
    first, last = payload["embeds"]
    assert first["title"] == "Run lstm-tiny-1: epochs 1 to 3/10"
    assert first["description"].splitlines()[0] == (
        "epoch 1/10 · train loss 1.0000 · val accuracy 0.5000"
    )
    assert len(first["description"].splitlines()) == 3 and last["title"].startswith("Run finished")


@pytest.mark.parametrize(
    ("key", "limit"),
    [("title", 256), ("description", 4096), ("footer", 2048)],
)
def test_each_embed_text_is_cut_at_its_limit(key: str, limit: int) -> None:
    long = "x" * (limit * 2)
    embed: dict[str, Any] = {"title": "t", "description": "d", "footer": {"text": "f"}}
    embed[key] = {"text": long} if key == "footer" else long
    [fitted] = fit_discord({"content": "c", "embeds": [embed]})["embeds"]
    text = fitted[key]["text"] if key == "footer" else fitted[key]
    assert units(text) == limit and text.endswith("…") and text.startswith("xxx")


def test_fields_are_cut_at_25_and_at_their_name_and_value_limits() -> None:
    fields = [{"name": "n" * 300, "value": "v" * 2000} for _ in range(30)]
    [fitted] = fit_discord({"content": "c", "embeds": [{"fields": fields}]})["embeds"]
    assert len(fitted["fields"]) == DISCORD_LIMITS["fields"]
    assert fitted["fields"][-1]["value"] == "6 more"
    assert all(units(f["name"]) <= 256 and units(f["value"]) <= 1024 for f in fitted["fields"])


def test_content_is_cut_at_2000_and_embeds_at_10() -> None:
    embeds = [{"title": f"e{i}"} for i in range(13)]
    fitted = fit_discord({"content": "c" * 2500, "embeds": embeds})
    assert units(fitted["content"]) == 2000 and len(fitted["embeds"]) == 10


def test_every_embed_together_is_cut_to_6000_keeping_titles_first() -> None:
    embeds = [
        {"title": f"run {i}", "description": "d" * 4096, "footer": {"text": "f"}} for i in range(5)
    ]
    fitted = fit_discord({"content": "c", "embeds": embeds})
    assert_discord_limits(fitted)
    assert [e["title"] for e in fitted["embeds"]] == [f"run {i}" for i in range(5)]
    lengths = [units(e["description"]) for e in fitted["embeds"]]
    assert max(lengths) - min(lengths) <= 1  # shared equally


def test_a_huge_failure_message_is_cut_never_refused() -> None:
    payload = discord(entry(failed("Traceback:\n" + "boom " * 5000)), entry(finished(), 2))
    assert_discord_limits(payload)
    assert payload["embeds"][0]["description"].endswith("…")


def test_characters_beyond_the_bmp_count_twice() -> None:
    assert units("😀" * 3) == 6
    assert cut("😀" * 300, 256) == "😀" * 127 + "…"


def test_any_message_fits_every_limit() -> None:
    rng = random.Random(0)
    for _ in range(200):
        embeds = [
            {
                "title": "t" * rng.randint(0, 600),
                "description": "é😀"[rng.randint(0, 1)] * rng.randint(0, 9000),
                "fields": [
                    {"name": "n" * rng.randint(1, 400), "value": "v" * rng.randint(1, 2000)}
                    for _ in range(rng.randint(0, 40))
                ],
                "footer": {"text": "f" * rng.randint(0, 3000)},
            }
            for _ in range(rng.randint(1, 14))
        ]
        assert_discord_limits(
            fit_discord({"content": "c" * rng.randint(1, 3000), "embeds": embeds})
        )


def test_discord_payload_of_many_summaries_fits() -> None:
    entries = [entry(failed("m" * 3000, run_id=f"r{i}"), i) for i in range(15)]
    payload = discord_payload(summarize(entries, BASE))
    assert_discord_limits(payload)
    assert "(+5 more not shown)" in payload["content"]


# --- Slack -------------------------------------------------------------------------------


def test_slack_has_text_and_a_section_per_event() -> None:
    payload = json.loads(
        build_request(SLACK, [entry(finished()), entry(failed("a<b&c"), 2)], BASE).body
    )
    assert payload["text"] == "storyqa: Run finished: lstm-tiny-1; Run failed: lstm-tiny-2"
    first, second = payload["blocks"]
    assert first["type"] == "section" and first["text"]["type"] == "mrkdwn"
    assert first["text"]["text"].startswith(
        f"*<{BASE}/runs/lstm-tiny-1|Run finished: lstm-tiny-1>*"
    )
    assert "*test accuracy*: 0.7500" in first["text"]["text"]
    assert "a&lt;b&amp;c" in second["text"]["text"]


def test_slack_limits_hold() -> None:
    entries = [entry(failed("m" * 5000, run_id=f"r{i}"), i) for i in range(60)]
    payload = slack_payload(summarize(entries, BASE))
    assert len(payload["blocks"]) == SLACK_LIMITS["blocks"]
    assert units(payload["text"]) <= SLACK_LIMITS["text"]
    assert all(units(b["text"]["text"]) <= SLACK_LIMITS["section"] for b in payload["blocks"])
    assert all(
        b["text"]["text"].endswith(f"· 1700000000000-{i}_")
        for i, b in enumerate(payload["blocks"][:49])
    )


# --- the generic webhook -----------------------------------------------------------------


def test_a_webhook_gets_the_event_itself_signed_over_its_exact_bytes() -> None:
    event = RunStarted(run_id="r1", model="lstm", attempt=1, worker="w1", host="h")
    request = build_request(WEBHOOK, [entry(event)], BASE)
    assert request.body == event.model_dump_json().encode()
    headers = request.headers
    assert headers["X-Storyqa-Event"] == "run.started.v1"
    assert headers["X-Storyqa-Event-Id"] == "1700000000000-1"
    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert headers["X-Storyqa-Signature"] == f"sha256={digest}"
    assert headers["Content-Type"] == "application/json"


def test_a_signature_covers_every_byte() -> None:
    event = failed("é")
    request = build_request(WEBHOOK, [entry(event)], BASE)
    tampered = request.body.replace(b"crash", b"user!")
    digest = hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest()
    assert request.headers["X-Storyqa-Signature"] != f"sha256={digest}"


def test_a_webhook_without_secret_is_not_signed() -> None:
    target = NotifyTarget("webhook", "https://ci.example/hook")
    request = build_request(target, [entry(finished())], BASE)
    assert "X-Storyqa-Signature" not in request.headers


def test_a_batch_is_a_json_array_with_every_id() -> None:
    entries = [entry(epoch(0), 1), entry(epoch(1), 2), entry(finished(), 3)]
    request = build_request(WEBHOOK, entries, BASE)
    body = json.loads(request.body)
    assert [e["type"] for e in body] == ["run.epoch.v1", "run.epoch.v1", "run.finished.v1"]
    assert request.headers["X-Storyqa-Event"] == "run.epoch.v1,run.finished.v1"
    assert request.headers["X-Storyqa-Event-Id"] == ",".join(e.id for e in entries)
    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Storyqa-Signature"] == f"sha256={digest}"


def test_no_target_url_or_secret_is_in_any_message() -> None:
    entries = [entry(finished()), entry(failed("x"), 2)]
    for target in (DISCORD, SLACK, WEBHOOK):
        request = build_request(target, entries, BASE)
        text = request.body.decode() + json.dumps(request.headers)
        assert target.url not in text and SECRET not in text
