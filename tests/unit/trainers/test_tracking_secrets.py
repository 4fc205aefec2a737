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


def test_keys_match_whole_words_not_substrings() -> None:
    secrets = SecretFilter(environ={})
    secret = (
        "tracker.neptune.api_token", "model.apiKey", "AWS_SECRET_ACCESS_KEY", "privateKey",
        "auth.credentials", "env.PGPASSWORD", "access-key", "Authorization", "hf_token",
    )  # fmt: skip
    innocent = (
        "model.max_sentence_tokens", "parameters/model/max_sentence_tokens", "tokenizer",
        "num_tokens", "keyword", "monkey", "passthrough", "secretary_count", "key",
        "sort_key", "model.lr", "tracker.neptune_project",
    )  # fmt: skip
    assert [k for k in secret if not secrets.is_secret_key(k)] == []
    assert [k for k in innocent if secrets.is_secret_key(k)] == []


def test_uri_passwords_and_bearer_credentials_are_secrets() -> None:
    secrets = SecretFilter(environ={})
    assert secrets.is_secret_value("postgresql://alice:s3cret@db:5432/mlflow")
    assert not secrets.is_secret_value("sqlite:///models_out/mlflow.db")
    assert not secrets.is_secret_value("https://alice@host/")
    text = "GET https://alice:s3cret@host/x with Bearer abc.def-123"
    assert secrets.redact(text) == "GET https://alice:***@host/x with Bearer ***"


def test_environment_variables_named_like_secrets_are_removed_too() -> None:
    environ = {"MY_SERVICE_TOKEN": "tok-abcdef-123", "SHORT_TOKEN": "ab", "HOME": "/home/ada"}
    secrets = SecretFilter(environ=environ)
    assert secrets.redact("x tok-abcdef-123 /home/ada ab") == "x *** /home/ada ab"


def test_command_lines_keep_their_shape_without_secrets() -> None:
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": TOKEN})
    argv = [
        "python", "scripts/train.py", "model.max_sentence_tokens=24", "+tracker.api_key=k-1",
        "--password", "hunter2", f"note={TOKEN}",
        "tracker.mlflow_tracking_uri=https://u:pw@host",
    ]  # fmt: skip
    assert secrets.redact_command(argv) == (
        "python scripts/train.py model.max_sentence_tokens=24 '+tracker.api_key=***' "
        "--password '***' 'note=***' 'tracker.mlflow_tracking_uri=https://u:***@host'"
    )
