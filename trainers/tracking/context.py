"""``RunContext``: where a run came from, for every sink that has the notion.

What trained (model, framework, dataset version, seed, and the sweep when there is one), who
and how (the user, the command line with its secrets redacted, the entry point, storyqa's
version), from which code (git commit, branch and whether tracked files were changed, when
storyqa runs from a git checkout; nothing otherwise) and a one-line description
(``transformer on all_4dir-default-f3154c65 seed 0``). Sinks record it under
``context/<field>`` (:func:`metrics.namespaces.context_field`); MLflow also fills its own
``mlflow.*`` tags from it and Neptune its description and tags.

Collecting it reads the environment, ``sys.argv`` and (when storyqa's own folder is a git
checkout) three quick ``git`` queries that take no lock; it never fails: what cannot be found
is left out.

Example:
    >>> context = RunContext(run_id="r1", model="lstm", framework="keras",
    ...                      dataset="all_4dir-tiny-12345678", seed=0)
    >>> context.description
    'lstm on all_4dir-tiny-12345678 seed 0'
    >>> context.labels()
    ['model:lstm', 'framework:keras', 'dataset:all_4dir-tiny-12345678', 'seed:0']
"""

from __future__ import annotations

import getpass
import logging
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from metrics import namespaces as ns
from trainers.tracking.types import Scalar

logger = logging.getLogger(__name__)

#: storyqa's source root: a git checkout when storyqa runs from one.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "storyqa"


@dataclass(frozen=True)
class GitState:
    """The code a run used, when storyqa runs from a git checkout.

    Attributes:
        commit: Full commit hash of ``HEAD``.
        branch: Branch name (``HEAD`` when detached).
        dirty: Whether tracked files differ from ``HEAD`` (untracked files do not count).
    """

    commit: str
    branch: str
    dirty: bool

    TIMEOUT_S: ClassVar[float] = 10.0

    @classmethod
    def of(cls, root: Path = SOURCE_ROOT) -> GitState | None:
        """The state of the checkout at ``root``; ``None`` when ``root`` is not the top of a git
        checkout, or ``git`` is missing or fails."""
        try:
            top = cls._git(root, "rev-parse", "--show-toplevel")
            if Path(top).resolve() != root.resolve():
                return None  # storyqa is installed inside some other repository
            commit = cls._git(root, "rev-parse", "HEAD")
            branch = cls._git(root, "rev-parse", "--abbrev-ref", "HEAD")
            changes = cls._git(root, "status", "--porcelain", "--untracked-files=no")
        except (OSError, subprocess.SubprocessError):
            return None
        return cls(commit=commit, branch=branch, dirty=bool(changes))

    @classmethod
    def _git(cls, root: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=cls.TIMEOUT_S,
            check=True,
        )
        return done.stdout.strip()


@dataclass(frozen=True)
class Invocation:
    """How a run was started: the command line, its entry point, the sweep it belongs to and
    the composed config it was started with.

    Attributes:
        command: The command line, one item per argument (redacted when the context is
            collected).
        source: The entry point (``scripts/train.py``; MLflow's ``mlflow.source.name``).
        sweep: The sweep the run belongs to (a sweep id), or ``None``.
        config_file: Hydra's composed config of the job when it is not the run folder's
            ``.hydra/config.yaml`` (a sweep job's lies in its job folder), or ``None``.
    """

    command: tuple[str, ...] = ()
    source: str = ""
    sweep: str | None = None
    config_file: Path | None = None

    @classmethod
    def current(cls, sweep: str | None = None) -> Invocation:
        """This process' own command line (``sys.argv``; ``python`` prepended for a script).

        Args:
            sweep: The sweep the run belongs to, if any.
        """
        argv = [str(arg) for arg in sys.argv]
        source = argv[0] if argv else ""
        if source.endswith(".py"):
            argv = ["python", *argv]
        return cls(command=tuple(argv), source=source, sweep=sweep)


def storyqa_version() -> str:
    """The installed version of storyqa (``unknown`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


def current_user() -> str:
    """The login name of the user running the process (``unknown`` when there is none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


@dataclass(frozen=True)
class RunContext:
    """Where one run came from.

    Attributes:
        run_id: The run id.
        model: Model name (the preset, e.g. ``transformer``).
        framework: ``lightning`` or ``keras``.
        dataset: Dataset version (``all_4dir-default-f3154c65``).
        seed: Training seed.
        sweep: Sweep id when the run is one job of a sweep, else ``None``.
        user: Who ran it.
        command: The command line, secrets redacted.
        source: The entry point.
        version: storyqa's version.
        git: The code's git state, or ``None`` outside a git checkout.
    """

    run_id: str
    model: str
    framework: str
    dataset: str
    seed: int
    sweep: str | None = None
    user: str = field(default_factory=current_user)
    command: str = ""
    source: str = ""
    version: str = field(default_factory=storyqa_version)
    git: GitState | None = None

    @classmethod
    def collect(
        cls,
        *,
        run_id: str,
        model: str,
        framework: str,
        dataset: str,
        seed: int,
        invocation: Invocation | None = None,
        redact_command: Callable[[Sequence[str]], str] = shlex.join,
    ) -> RunContext:
        """The context of a run started now, from this process.

        Args:
            run_id: The run id.
            model: Model name.
            framework: Framework.
            dataset: Dataset version.
            seed: Training seed.
            invocation: How the run was started; default this process' command line.
            redact_command: Joins the command line into one string without secrets (the
                tracker's :meth:`~trainers.tracking.secrets.SecretFilter.redact_command`).
        """
        invocation = Invocation.current() if invocation is None else invocation
        return cls(
            run_id=run_id,
            model=model,
            framework=framework,
            dataset=dataset,
            seed=seed,
            sweep=invocation.sweep,
            command=redact_command(invocation.command),
            source=invocation.source,
            git=GitState.of(),
        )

    @property
    def description(self) -> str:
        """One line: ``<model> on <dataset> seed <seed>`` (and ``, sweep <id>`` in a sweep)."""
        text = f"{self.model} on {self.dataset} seed {self.seed}"
        return text if self.sweep is None else f"{text}, sweep {self.sweep}"

    def tags(self) -> dict[str, str]:
        """The short tags, ``{key: value}`` (``sweep`` only in a sweep)."""
        values: dict[str, object] = {
            "model": self.model,
            "framework": self.framework,
            "dataset": self.dataset,
            "seed": self.seed,
            "sweep": self.sweep,
        }
        return {ns.run_tag(key): str(value) for key, value in values.items() if value is not None}

    def labels(self) -> list[str]:
        """The short tags as ``<key>:<value>`` labels (Neptune's ``sys/tags``)."""
        return [ns.run_label(key, value) for key, value in self.tags().items()]

    def fields(self) -> dict[str, Scalar]:
        """Every known value under ``context/<field>``."""
        values: dict[str, Scalar | None] = {
            "run_id": self.run_id,
            "model": self.model,
            "framework": self.framework,
            "dataset": self.dataset,
            "seed": self.seed,
            "sweep": self.sweep,
            "description": self.description,
            "user": self.user,
            "command": self.command or None,
            "source": self.source or None,
            "storyqa_version": self.version,
        }
        if self.git is not None:
            values["git/commit"] = self.git.commit
            values["git/branch"] = self.git.branch
            values["git/dirty"] = self.git.dirty
        return {ns.context_field(k): v for k, v in values.items() if v is not None}

    def redacted(self, redact: Callable[[str], str]) -> RunContext:
        """A copy whose free text (command, source, user, sweep) went through ``redact``."""
        return replace(
            self,
            command=redact(self.command),
            source=redact(self.source),
            user=redact(self.user),
            sweep=None if self.sweep is None else redact(self.sweep),
        )
