"""Errors the trainers raise for bad input; each message names the cause and the fix."""

from __future__ import annotations


class TrainerError(Exception):
    """Base of the trainers' user-facing errors."""


class TrainerInputError(TrainerError, ValueError):
    """Data, metadata or hyperparameters handed to a trainer do not fit it."""


class CheckpointError(TrainerError):
    """A checkpoint is missing, corrupt, or made for another framework or vocabulary."""


class ResumeError(TrainerError):
    """A run cannot be resumed from what was given."""


class NonFiniteLossError(TrainerError):
    """The training loss became NaN or infinite; the run stops with the last good checkpoint."""
