"""TensorFlow's start-up log: which lines a level hides, the filter around the first import,
and the default level (a user's own value is kept)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from trainers.keras import startup_log
from trainers.keras.startup_log import QuietImport, hidden, quiet_tensorflow_start, run_filtered

PREAMBLE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
)
INFO = "I0000 00:00:1796642061.474862   27464 port.cc:153] oneDNN custom operations are on.\n"
WARNING = "W1114 09:32:22.280168 13509 loader.cc:12] slow start\n"
ERROR = "E0000 00:00:1796642074.310030   27464 util.cc:131] oneDNN supports DT_BOOL only\n"
OTHER = "UserWarning: something Python said\n"
NOISE = PREAMBLE + INFO + WARNING + ERROR


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        (0, [PREAMBLE, INFO, WARNING, ERROR]),
        (1, [WARNING, ERROR]),
        (2, [ERROR]),
        (3, []),
    ],
)
def test_a_level_hides_the_lines_below_it_and_nothing_else(level: int, shown: list[str]) -> None:
    kept = [line for line in (*NOISE.splitlines(keepends=True), OTHER) if not hidden(line, level)]
    assert kept == [*shown, OTHER]


def test_the_filter_drops_hidden_lines_written_to_the_descriptor_and_keeps_the_rest(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def loud() -> None:
        os.write(2, (NOISE + OTHER).encode())
        raise RuntimeError("failed")

    with pytest.raises(RuntimeError, match="failed"):
        run_filtered(loud, 3)
    os.write(2, INFO.encode())  # after the import: not filtered
    assert capfd.readouterr().err == OTHER + INFO


def test_the_first_import_of_the_module_is_filtered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "noisy_library.py").write_text(
        f"import os\nos.write(2, {(NOISE + OTHER).encode()!r})\nANSWER = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [QuietImport("noisy_library"), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "noisy_library", raising=False)
    monkeypatch.setenv(startup_log.ENV_VAR, "2")
    module = importlib.import_module("noisy_library")
    monkeypatch.delitem(sys.modules, "noisy_library")
    assert module.ANSWER == 42
    assert capfd.readouterr().err == ERROR + OTHER
    assert not any(isinstance(finder, QuietImport) for finder in sys.meta_path)


@pytest.mark.parametrize(("set_by_user", "level"), [(None, "3"), ("0", "0"), ("1", "1")])
def test_the_level_defaults_to_3_and_a_users_own_is_kept(
    monkeypatch: pytest.MonkeyPatch, set_by_user: str | None, level: str
) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    if set_by_user is None:
        monkeypatch.delenv(startup_log.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(startup_log.ENV_VAR, set_by_user)
    quiet_tensorflow_start()
    quiet_tensorflow_start()
    assert os.environ[startup_log.ENV_VAR] == level
    assert [f.name for f in sys.meta_path if isinstance(f, QuietImport)] == ["tensorflow"]
