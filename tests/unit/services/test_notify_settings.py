"""``service.notify``: every target checked (each error names ``service.notify[<i>].<key>``
and the fix), ``env:NAME`` values read from the environment, the targets handed to a child in
the environment, and a URL or secret never shown: not in ``repr``, an error or a child's
command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.service import _register, load_settings
from services.events.schemas import EVENT_TYPES
from services.settings import (
    DEFAULT_NOTIFY_EVENTS,
    NOTIFY_ENV,
    ServiceSettings,
    ServiceSettingsError,
    notify_environment,
)
from services.supervisor import child_command

URL = "https://discord.com/api/webhooks/123/t0p-s3cret-t0ken"
SECRET = "sh4red-s3cret"


def settings(*targets: Any, **values: Any) -> ServiceSettings:
    return ServiceSettings.from_mapping({"notify": list(targets), **values}, output_dir="out")


def test_a_target_gets_the_default_events_and_epochs_only_when_listed() -> None:
    target = settings({"kind": "discord", "url": URL}).notify[0]
    assert target.events == DEFAULT_NOTIFY_EVENTS and "run.epoch.v1" not in target.events
    listed = settings({"kind": "slack", "url": URL, "events": ["run.epoch.v1"]}).notify[0]
    assert listed.events == ("run.epoch.v1",)
    assert ServiceSettings().notify_epoch_every_s == 60


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"kind": "teams", "url": URL}, r"service.notify\[0\].kind: 'teams' is not a notification "
         "kind; give discord, slack or webhook"),
        ({"url": URL}, r"service.notify\[0\].kind: required; give discord, slack or webhook"),
        ({"kind": "slack"}, r"service.notify\[0\].url: required; give the receiver's https://"),
        ({"kind": "slack", "url": "ftp://files.example/x"},
         r"service.notify\[0\].url: not an http\(s\) URL; give https://"),
        ({"kind": "slack", "url": "https://"}, r"service.notify\[0\].url: not an http\(s\) URL"),
        ({"kind": "slack", "url": "https://h:99999/x"}, r"service.notify\[0\].url: not an http"),
        ({"kind": "slack", "url": "http://[::1/x"}, r"service.notify\[0\].url: not an http"),
        ({"kind": "webhook", "url": URL, "events": ["run.done.v1"]},
         r"service.notify\[0\].events: 'run.done.v1' is not an event type; known: run.queued.v1, "),
        ({"kind": "webhook", "url": URL, "events": []}, r"service.notify\[0\].events: give a list"),
        ({"kind": "slack", "url": URL, "secret": SECRET},
         r"service.notify\[0\].secret: only a webhook target signs its messages; remove it"),
        ({"kind": "webhook", "url": URL, "secret": " "}, r"service.notify\[0\].secret: empty"),
        ({"kind": "webhook", "url": URL, "colour": "red"},
         r"service.notify\[0\].colour: not a notification setting; known: kind, url, secret, "),
        ("https://example.org", r"service.notify\[0\]: not a mapping; give \{kind: webhook"),
    ],
)  # fmt: skip
def test_bad_targets_name_their_key_and_the_fix(target: Any, message: str) -> None:
    with pytest.raises(ServiceSettingsError, match=message) as error:
        settings(target)
    assert URL not in str(error.value) and SECRET not in str(error.value)


def test_the_error_lists_every_known_event_type() -> None:
    with pytest.raises(ServiceSettingsError) as error:
        settings({"kind": "webhook", "url": URL, "events": ["nope"]})
    assert all(kind in str(error.value) for kind in EVENT_TYPES)


def test_errors_name_the_place_of_the_bad_target() -> None:
    with pytest.raises(ServiceSettingsError, match=r"service.notify\[1\].url: not an http"):
        settings({"kind": "slack", "url": URL}, {"kind": "webhook", "url": "mailto:x@y"})
    with pytest.raises(ServiceSettingsError, match=r"service.notify\[1\].url: the same discord"):
        settings({"kind": "discord", "url": URL}, {"kind": "discord", "url": URL, "name": "b"})


def test_an_epoch_interval_must_not_be_negative() -> None:
    with pytest.raises(ServiceSettingsError, match=r"service\.notify_epoch_every_s: must be >= 0"):
        ServiceSettings.from_mapping({"notify_epoch_every_s": -1})
    assert ServiceSettings.from_mapping({"notify_epoch_every_s": 0}).notify_epoch_every_s == 0


def test_env_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", URL)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    target = settings({"kind": "webhook", "url": "env:HOOK_URL", "secret": "env:HOOK_SECRET"})
    assert (target.notify[0].url, target.notify[0].secret) == (URL, SECRET)


def test_an_unset_env_value_names_its_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_HOOK", raising=False)
    with pytest.raises(
        ServiceSettingsError,
        match=r"service.notify\[0\].secret: the environment variable 'NO_SUCH_HOOK' is not set",
    ):
        settings({"kind": "webhook", "url": URL, "secret": "env:NO_SUCH_HOOK"})


def test_urls_and_secrets_are_never_in_repr() -> None:
    values = settings({"kind": "webhook", "url": URL, "secret": SECRET, "name": "ci"})
    for text in (repr(values), str(values), repr(values.notify), values.notify[0].label):
        assert URL not in text and SECRET not in text and "t0p-s3cret" not in text
    assert (
        "name='ci'" in repr(values) and values.notify[0].label == "webhook 'ci' (service.notify[0])"
    )


def test_the_targets_reach_a_child_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    original = settings(
        {"kind": "webhook", "url": URL, "secret": SECRET, "events": ["run.epoch.v1"]},
        {"kind": "slack", "url": URL + "/slack", "name": "team"},
    ).notify
    monkeypatch.setenv(NOTIFY_ENV, notify_environment(original))
    assert ServiceSettings.from_mapping({"notify": []}).notify == original
    assert ServiceSettings.from_mapping({}).notify == original
    monkeypatch.setenv(NOTIFY_ENV, "[{not json")
    with pytest.raises(ServiceSettingsError, match=f"service.notify: {NOTIFY_ENV} is not JSON"):
        ServiceSettings.from_mapping({})


def test_a_child_never_gets_the_targets_on_its_command_line() -> None:
    overrides = [
        f"service.notify=[{{kind:webhook,url:'{URL}',secret:{SECRET}}}]",
        f"+service.notify.0.url={URL}",
        "service.notify_epoch_every_s=5",
    ]
    command = child_command("notifier", overrides, "unix:///s")
    assert not any(URL in part or SECRET in part for part in command)
    assert "service.notify_epoch_every_s=5" in command and command[3] == "notifier"


def test_a_list_of_targets_is_a_hydra_override() -> None:
    _register()
    loaded = load_settings(
        [
            f"service.notify=[{{kind:webhook,url:'{URL}?a=1&b=2',secret:{SECRET},name:ci,"
            "events:[run.epoch.v1,run.failed.v1]},{kind:slack,url:'https://hooks.slack.com/x'}]",
            "service.notify_epoch_every_s=2.5",
        ]
    )
    first, second = loaded.notify
    assert (first.kind, first.url, first.secret, first.name) == (
        "webhook",
        f"{URL}?a=1&b=2",
        SECRET,
        "ci",
    )
    assert first.events == ("run.epoch.v1", "run.failed.v1") and second.index == 1
    assert loaded.notify_epoch_every_s == 2.5
    assert load_settings([]).notify == ()


def test_a_bad_hydra_target_exits_with_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    _register()
    with pytest.raises(SystemExit) as exited:
        load_settings([f"service.notify=[{{kind:webhook,url:'{URL}',secret:{SECRET},events:[x]}}]"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "error: service.notify[0].events: 'x' is not an event" in err
    assert URL not in err and SECRET not in err


def test_the_environment_value_is_json_a_receiver_can_read() -> None:
    targets = settings({"kind": "webhook", "url": URL, "secret": SECRET}).notify
    assert json.loads(notify_environment(targets))[0]["secret"] == SECRET
