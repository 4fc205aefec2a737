"""Keep Lightning's console to what a storyqa user needs.

Lightning prints an advertisement for a cloud logger and a note about estimating steps on
every fit, and Lightning 2.6 on torch 2.13 warns about a deprecated check inside its own
pytree helper. With ``trainer.val_check_interval`` Lightning's epochs are validation periods of
unequal length, and a resumed run's step count is then not a multiple of the current period's
length: Lightning takes that for a checkpoint saved mid-epoch and warns, wrongly, since every
checkpoint ends one of its epochs (:mod:`trainers.periods`). None of it is actionable for the
user; everything else Lightning says (devices, precision, warnings about the user's settings)
still shows.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar


class LightningNoiseFilter(logging.Filter):
    """Drops Lightning's known non-actionable info lines.

    Example:
        >>> record = logging.LogRecord("x", logging.INFO, "", 0, "💡 Tip: try it", None, None)
        >>> LightningNoiseFilter().filter(record)
        False
    """

    PREFIXES: ClassVar[tuple[str, ...]] = (
        "💡 Tip:",
        "Loading `train_dataloader` to estimate number of stepping batches",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.PREFIXES)


#: Third-party warnings raised inside Lightning itself, not by anything the user set.
LIGHTNING_INTERNAL_WARNINGS: tuple[str, ...] = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
#: Lightning's mid-epoch resume warning, which validation periods of unequal length set off.
PERIOD_RESUME_WARNING: str = r"You're resuming from a checkpoint that ended before the epoch ended"
LOGGERS: tuple[str, ...] = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Filter Lightning's noise for the duration of a fit."""
    noise = LightningNoiseFilter()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addFilter(noise)
    try:
        with warnings.catch_warnings():
            for message in LIGHTNING_INTERNAL_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            warnings.filterwarnings("ignore", message=PERIOD_RESUME_WARNING)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)
