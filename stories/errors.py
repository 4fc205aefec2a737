"""Errors raised by the data layer.

Every error names the cause and the fix in its message, so command-line entry points can print
it as one line and exit non-zero.
"""

from __future__ import annotations


class StoriesError(Exception):
    """Base class of every error the data layer raises on bad input."""


class DatasetConfigError(StoriesError, ValueError):
    """A dataset configuration value is invalid (the message names the key)."""


class DataFileError(StoriesError, ValueError):
    """A data file is malformed (the message names the file, line and field)."""


class DatasetIntegrityError(StoriesError):
    """A dataset folder no longer matches its manifest (the message says how to rebuild)."""


class OutputDirError(StoriesError, OSError):
    """The output directory cannot be created or written."""
