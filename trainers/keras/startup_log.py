"""Keep TensorFlow's C++ start-up log off the console.

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` (0 shows everything; 1 hides ``I`` lines, 2 also
``W`` lines, 3 also ``E`` lines) when it is first imported, and it hides its run-time lines
accordingly (oneDNN's ``E0000 … DT_BOOL only on platforms with AVX-512`` notice is an ``E``
line). The lines it writes while its libraries load (``WARNING: All log messages before
absl::InitializeLog() …`` and ``I0000 … oneDNN custom operations are on …``) come before it
applies the level. :func:`quiet_tensorflow_start` therefore defaults the level to 3 and, when
TensorFlow is first imported, drops the load-time lines that the level hides, keeping
everything else written to stderr meanwhile. A level the user set is kept and applied alike
(``TF_CPP_MIN_LOG_LEVEL=0`` shows every line).

This module imports nothing heavy; call :func:`quiet_tensorflow_start` before anything imports
TensorFlow (the entry points and :func:`trainers.keras.backend.use_backend` do).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Final

ENV_VAR: Final = "TF_CPP_MIN_LOG_LEVEL"
#: The level set when the user set none: TensorFlow's informational, warning and error lines
#: are hidden (a failure still raises a Python exception).
DEFAULT_LEVEL: Final = "3"
#: An abseil log line: severity letter, date (``0000`` before logging is set up, with the
#: seconds since the epoch as time), time, thread, ``file:line]``.
LOG_LINE: Final = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+:\d+\] ")
#: Abseil's notice before its first line when logging was never initialised (a warning).
PREAMBLE: Final = "WARNING: All log messages before absl::InitializeLog() is called"
SEVERITY: Final = {"I": 0, "W": 1, "E": 2, "F": 3}


def log_level() -> int:
    """The level in ``TF_CPP_MIN_LOG_LEVEL`` (0 when unset or not a number, as TensorFlow
    reads it)."""
    try:
        return int(os.environ.get(ENV_VAR, "0"))
    except ValueError:
        return 0


def quiet_tensorflow_start() -> None:
    """Default ``TF_CPP_MIN_LOG_LEVEL`` to :data:`DEFAULT_LEVEL` (a value already set is
    kept) and, unless TensorFlow is already imported, filter its load-time lines by that
    level when it is first imported (in this process; child processes call this again)."""
    os.environ.setdefault(ENV_VAR, DEFAULT_LEVEL)
    if "tensorflow" in sys.modules or any(isinstance(f, QuietImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, QuietImport("tensorflow"))


def hidden(line: str, level: int) -> bool:
    """Whether ``level`` hides ``line``: an abseil line below it, or abseil's preamble when it
    hides warnings."""
    if line.startswith(PREAMBLE):
        return level >= SEVERITY["W"]
    match = LOG_LINE.match(line)
    return match is not None and SEVERITY[match.group(1)] < level


def keep_visible(text: str, level: int) -> str:
    """``text`` without the lines that ``level`` hides."""
    return "".join(line for line in text.splitlines(keepends=True) if not hidden(line, level))


def run_filtered(action: Callable[[], object], level: int) -> None:
    """Run ``action`` with file descriptor 2 captured, then write back what it wrote there
    except the lines that ``level`` hides (also when ``action`` raises)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        action()
        return
    with tempfile.TemporaryFile() as capture:
        _flush_stderr()
        os.dup2(capture.fileno(), 2)
        try:
            action()
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = keep_visible(capture.read().decode(errors="replace"), level)
            if kept:
                os.write(2, kept.encode())


def _flush_stderr() -> None:
    if sys.stderr is not None:
        sys.stderr.flush()


class QuietImport(importlib.abc.MetaPathFinder):
    """Finds the top-level module ``name`` once (then leaves ``sys.meta_path``) and loads it
    under :func:`run_filtered` at the level :func:`log_level` reads then.

    Args:
        name: The module, ``tensorflow`` (another for tests).
    """

    def __init__(self, name: str):
        self.name = name

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and isinstance(spec.loader, importlib.abc.Loader):
            spec.loader = FilteredLoader(spec.loader)
        return spec


class FilteredLoader(importlib.abc.Loader):
    """``loader``, executing the module under :func:`run_filtered`."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        run_filtered(lambda: self.loader.exec_module(module), log_level())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
