"""What the API needs from the command line's config composition, as a protocol: the entry
point (``scripts/service.py``, where Hydra lives) hands the API a :class:`Composer` that turns
a request's overrides into validated runs exactly as ``train.py`` would, so a bad key is
refused with the command line's own ``error:`` line before anything is queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.queue import NewRun


class ComposeError(ValueError):
    """Overrides that ``train.py`` would refuse; the message is its ``error:`` line."""


class Composer(Protocol):
    """Composes and validates runs from command-line overrides."""

    def run(self, overrides: Sequence[str]) -> NewRun:
        """One run from ``overrides`` (no sweep values).

        Raises:
            ComposeError: The command line's error line.
        """
        ...

    def sweep(self, overrides: Sequence[str]) -> list[list[str]]:
        """The overrides of each job of a sweep (``model=lstm,transformer seed=0,1``), in the
        order ``train.py -m`` runs them.

        Raises:
            ComposeError: The command line's error line.
        """
        ...
