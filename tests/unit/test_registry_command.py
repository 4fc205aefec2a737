"""``scripts/registry.py``'s command line: every command's settings as ``key=value``, the
older ``--flag value`` spellings read as their key, and one ``error:`` line for the rest."""

from __future__ import annotations

import pytest

from models.settings import SettingsError
from scripts.registry import main, parse_settings


def test_each_command_takes_key_value_settings_over_its_defaults() -> None:
    given = parse_settings("register", ["run=lstm-a", "name=best", "paths.output_dir=out"])
    assert given == {
        "paths.output_dir": "out",
        "run": "lstm-a",
        "name": "best",
        "alias": "champion",
    }
    assert parse_settings("register", ["run=lstm-a", "alias="])["alias"] == ""  # no alias
    assert parse_settings("list", ["framework=keras"])["framework"] == "keras"
    assert parse_settings("rebuild", []) == {"paths.output_dir": "models_out"}


def test_the_older_spellings_are_read_as_their_keys() -> None:
    old = parse_settings(
        "register", ["lstm-a", "--name", "best", "--alias=gold", "--output-dir", "o"]
    )
    assert old == parse_settings(
        "register", ["run=lstm-a", "name=best", "alias=gold", "paths.output_dir=o"]
    )


@pytest.mark.parametrize(
    "command, items, message",
    [
        ("register", ["name=best"], "run: required; give run=<run id>"),
        ("show", ["run=a", "nam=b"], "nam: unknown key for registry.py show"),
        ("list", ["run=a"], "run: unknown key for registry.py list"),
        ("list", ["lstm-a"], "'lstm-a': not a setting; list takes key=value settings"),
        ("list", ["framework=tf"], "framework: 'tf' is not one of ['lightning', 'keras']"),
        ("register", ["run=a", "--name"], "--name: needs a value; give name=<value>"),
    ],
)
def test_a_bad_setting_is_named(command: str, items: list[str], message: str) -> None:
    with pytest.raises(SettingsError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
        parse_settings(command, items)


def test_a_bad_setting_is_one_error_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["register", "name=best", "alias=champion"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: run: required; give run=<run id> on the command line\n"
    assert captured.out == ""


def test_help_says_every_setting_is_key_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["register", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "key=value" in shown and "run=<run id or folder> [name=storyqa-<model>]" in shown
