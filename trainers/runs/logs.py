"""Where storyqa's log lines go: warnings to the console, and every run's own ``run.log``.

storyqa's packages report what a run survives through :mod:`logging` (a tracking sink that
could not be created or was disabled, a checkpoint saved to the fallback folder or not at all,
a damaged line of ``metrics.jsonl``...). This module sends those lines to two places, with
every secret value (:class:`~trainers.tracking.secrets.SecretFilter`) and any URI's password
replaced by ``***`` in the whole line, traceback included:

- the console: :class:`ConsoleHandler` and :class:`ConsoleFormatter` print WARNING and above
  as ``warning: <message>`` on stderr, in the style of the CLI's ``error: ...`` lines. The
  command-line scripts install them through Hydra (``conf/hydra/job_logging/storyqa.yaml``)
  on storyqa's loggers only (:data:`STORYQA_LOGGERS`): third-party libraries stay as quiet
  as before;
- the run folder: :func:`run_log` appends INFO and above from storyqa's loggers, with
  timestamps, to ``<run_dir>/run.log`` for the duration of one run (``run_pipeline`` wraps
  each run in it, so a resumed run adds to the log of its earlier attempts), then removes and
  closes its handler: several runs in one process (a sweep, a notebook) never share or
  duplicate a line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from trainers.tracking.secrets import SecretFilter

#: The top-level loggers of storyqa's code (``_cli``: the scripts' plumbing, imported as a
#: top-level module by ``scripts/train.py``). Third-party loggers are never touched.
STORYQA_LOGGERS: Final[tuple[str, ...]] = (
    "stories",
    "metrics",
    "trainers",
    "models",
    "scripts",
    "_cli",
)
#: A run's log, inside its run folder.
RUN_LOG_FILE: Final = "run.log"
#: One line of ``run.log``: time, level, logger, message.
RUN_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RUN_LOG_DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

#: The password of a URI (``https://alice:<password>@host``; Hydra's echo of an override
#: escapes the colons: ``https\://alice\:<password>@host``).
URI_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][\w+.-]*\\?://[^\s/:@\\]*\\?:)[^\s/@]+@")

logger = logging.getLogger(__name__)


class RedactingFormatter(logging.Formatter):
    """A formatter whose lines (message, arguments and traceback alike) hold no secret: the
    values of :class:`SecretFilter` and the password of a URI become ``***``.

    Args:
        fmt: ``%``-style format, as for :class:`logging.Formatter`.
        datefmt: Date format of ``%(asctime)s``.
        secrets: The values to remove; default a :class:`SecretFilter` of the environment at
            the time each line is written (a token exported after start-up is removed too).

    Example:
        >>> secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": "abcdef123456"})
        >>> formatter = RedactingFormatter("%(levelname)s %(message)s", secrets=secrets)
        >>> record = logging.makeLogRecord({"msg": "bad %s", "args": ("abcdef123456",)})
        >>> record.levelname = "WARNING"
        >>> formatter.format(record)
        'WARNING bad ***'
        >>> record.args = ("https://alice:s3cret@mlflow.example.com",)
        >>> formatter.format(record)
        'WARNING bad https://alice:***@mlflow.example.com'
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        secrets: SecretFilter | None = None,
    ):
        super().__init__(fmt, datefmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        secrets = SecretFilter() if self.secrets is None else self.secrets
        return URI_PASSWORD.sub(r"\g<head>***@", secrets.redact(super().format(record)))


class ConsoleFormatter(RedactingFormatter):
    """``<level>: <message>`` in lower case, like the CLI's ``error: ...`` lines.

    Example:
        >>> record = logging.makeLogRecord({"msg": "sink %r off", "args": ("mlflow",)})
        >>> record.levelname = "WARNING"
        >>> ConsoleFormatter(secrets=SecretFilter(environ={})).format(record)
        "warning: sink 'mlflow' off"
    """

    def __init__(self, secrets: SecretFilter | None = None):
        super().__init__("%(message)s", secrets=secrets)

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().format(record)}"


class ConsoleHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` through ``tqdm.write``, so that a warning printed
    during training does not break a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class RunLogHandler(logging.FileHandler):
    """Appends to a run's ``run.log``. A write that fails (a full disk) must neither stop the
    run nor print a traceback: it is reported once, as a console line, and the log goes on
    trying."""

    def __init__(self, path: Path):
        super().__init__(path, mode="a", encoding="utf-8")
        self.setLevel(logging.INFO)
        self.setFormatter(RedactingFormatter(RUN_LOG_FORMAT, RUN_LOG_DATE_FORMAT))
        self._reported = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self._reported:
            return
        self._reported = True
        error = sys.exc_info()[1]
        print(f"warning: {self.baseFilename} not written: {error}", file=sys.stderr)


@contextmanager
def run_log(
    run_dir: str | Path, *, enabled: bool = True, action: str | None = None
) -> Iterator[Path | None]:
    """Append storyqa's log lines (INFO and above) to ``<run_dir>/run.log`` while the block
    runs, between a ``started`` (or ``resumed``, when the file already holds lines) and an
    ``ended: finished|interrupted|failed (...)`` line.

    Storyqa's loggers that would drop INFO lines are lowered to INFO for the block (their
    levels are restored afterwards); the handler is removed and the file closed on the way
    out, whatever happens in the block.

    Args:
        run_dir: The run folder (created if missing).
        enabled: ``False`` writes nothing (a DDP worker: rank zero keeps the run's log).
        action: What the block does to a finished run (``evaluation``): its lines then read
            ``run <id> evaluation started`` and ``run <id> evaluation ended: ...``.

    Yields:
        The log file, or ``None`` when not ``enabled``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with run_log(Path(folder) / "demo") as path:
        ...         logging.getLogger("trainers.demo").warning("checkpoint not saved")
        ...     for line in path.read_text(encoding="utf-8").splitlines():
        ...         print(line.split(" ", 2)[2])  # after the date and time
        INFO trainers.runs.logs: run demo started
        WARNING trainers.demo: checkpoint not saved
        INFO trainers.runs.logs: run demo ended: finished
    """
    if not enabled:
        yield None
        return
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_LOG_FILE
    resumed = path.is_file() and path.stat().st_size > 0
    handler = RunLogHandler(path)
    loggers = [logging.getLogger(name) for name in STORYQA_LOGGERS]
    lowered = [(log, log.level) for log in loggers if log.getEffectiveLevel() > logging.INFO]
    for log in loggers:
        log.addHandler(handler)
    for log, _ in lowered:
        log.setLevel(logging.INFO)
    outcome = "finished"
    what = folder.name if action is None else f"{folder.name} {action}"
    try:
        logger.info("run %s %s", what, "resumed" if resumed and action is None else "started")
        yield path
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    except BaseException as error:
        lines = str(error).strip().splitlines()
        outcome = f"failed ({type(error).__name__}{': ' + lines[0] if lines else ''})"
        raise
    finally:
        logger.info("run %s ended: %s", what, outcome)
        for log in loggers:
            log.removeHandler(handler)
        for log, level in lowered:
            log.setLevel(level)
        handler.close()
