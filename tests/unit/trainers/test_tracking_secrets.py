"""SecretFilter: secret keys and values never pass."""

from __future__ import annotations

from trainers.tracking import SecretFilter

TOKEN = "eyJhcGlfdG9rZW4iOiJwbGFudGVkIn0"


def test_secret_keys_match_the_patterns_case_insensitively() -> None:
    secrets = SecretFilter(environ={})
    for key in ("api_token", "NEPTUNE_API_TOKEN", "apiKey", "db_password", "client_secret"):
        assert secrets.is_secret_key(key), key
    for key in ("lr", "hidden_size", "tracker.project"):
        assert not secrets.is_secret_key(key), key


def test_clean_config_drops_secret_keys_and_values_at_any_depth() -> None:
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": TOKEN})
    config = {
        "model": {"lr": 0.001, "layers": [64, 64]},
        "tracker": {"neptune": {"api_token": "other", "project": "ws/p", "note": TOKEN}},
        "headers": [f"Bearer {TOKEN}"],
        "password": "hunter2",
    }
    assert secrets.clean_config(config) == {
        "model": {"lr": 0.001, "layers": [64, 64]},
        "tracker": {"neptune": {"project": "ws/p"}},
    }


def test_redact_replaces_secret_values_in_text() -> None:
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": TOKEN}, extra_values=["s3cr3t-value"])
    assert secrets.redact(f"401: bad token {TOKEN} / s3cr3t-value") == "401: bad token *** / ***"
    assert secrets.is_secret_value(f"x{TOKEN}x")
    assert not secrets.is_secret_value(0.5)


def test_short_secrets_match_only_exactly() -> None:
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": "abc"})
    assert secrets.is_secret_value("abc")
    assert not secrets.is_secret_value("abcdef")
