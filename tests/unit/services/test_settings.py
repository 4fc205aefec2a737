"""The service's settings: types, the key from the environment, and the child processes'
command lines (never the key)."""

from __future__ import annotations

import pytest

from services.settings import ServiceSettings, ServiceSettingsError
from services.supervisor import child_command


def test_the_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYQA_API_KEY", "k1")
    settings = ServiceSettings.from_mapping({"host": "0.0.0.0"}, output_dir="out")
    assert settings.api_key == "k1" and "k1" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": "x"}, "service.port: 'x' is not an integer"),
        ({"heartbeat_s": True}, "service.heartbeat_s: True is not a number"),
        ({"workers": -1}, "service.workers: must be >= 0"),
        ({"api_key": " "}, "service.api_key: empty"),
        ({"max_body_bytes": 0}, "service.max_body_bytes: must be >= 1"),
    ],
)
def test_bad_values_name_their_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ServiceSettingsError, match=message):
        ServiceSettings.from_mapping(values)


def test_a_child_never_gets_the_key_on_its_command_line() -> None:
    command = child_command("api", ["service.api_key=s3cret", "+service.workers=2"], "unix:///s")
    assert not any("s3cret" in part for part in command)
    assert command[-1] == "service.redis_url=unix:///s"
