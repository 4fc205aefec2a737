"""Keep secrets (API tokens, passwords) out of every tracker field, parameter and log line.

A key is secret when its name matches one of :attr:`SecretFilter.KEY_PATTERNS`
(case-insensitive globs such as ``*token*``); a value is secret when it equals, or contains,
the value of one of :attr:`SecretFilter.ENV_VARS` (``NEPTUNE_API_TOKEN``...). Parameters with
a secret key or value are dropped (not even the key is logged); secret values inside free text
(a field, an error message) are replaced by :attr:`SecretFilter.REPLACEMENT`.

Note that ``*token*`` also matches innocent names such as ``max_tokens``: name hyperparameters
without ``token``/``secret``/``password`` or they will not be logged.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


class SecretFilter:
    """Recognises and removes secrets.

    Args:
        environ: Environment to read secret values from (default ``os.environ``, read once).
        extra_values: More secret values to remove.

    Example:
        >>> secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": "abcdef123456"})
        >>> secrets.clean_config({"lr": 0.1, "api_token": "x", "url": "abcdef123456"})
        {'lr': 0.1}
        >>> secrets.redact("bad token abcdef123456")
        'bad token ***'
    """

    KEY_PATTERNS: ClassVar[tuple[str, ...]] = (
        "*token*",
        "*api_key*",
        "*apikey*",
        "*secret*",
        "*password*",
        "*passwd*",
        "*credential*",
    )
    ENV_VARS: ClassVar[tuple[str, ...]] = (
        "NEPTUNE_API_TOKEN",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
    )
    REPLACEMENT: ClassVar[str] = "***"
    #: Values shorter than this are only matched exactly, never as a substring.
    MIN_SUBSTRING_LENGTH: ClassVar[int] = 8

    def __init__(self, environ: Mapping[str, str] | None = None, extra_values: Iterable[str] = ()):
        env = os.environ if environ is None else environ
        values = {env.get(name, "") for name in self.ENV_VARS} | set(extra_values)
        self.values = frozenset(value for value in values if value)

    def is_secret_key(self, key: str) -> bool:
        """Whether a config key (leaf name or dotted/slashed path) names a secret.

        Args:
            key: The key.
        """
        lowered = key.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.KEY_PATTERNS)

    def is_secret_value(self, value: object) -> bool:
        """Whether ``value`` (as text) equals or contains a secret value.

        Args:
            value: Any value; non-strings are compared through ``str``.
        """
        if not self.values or isinstance(value, bool | int | float):
            return False
        text = str(value)
        return any(
            text == secret or (len(secret) >= self.MIN_SUBSTRING_LENGTH and secret in text)
            for secret in self.values
        )

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a nested config without secret keys or values (lists are checked too).

        Args:
            config: Nested mapping (plain dicts; convert OmegaConf first).
        """
        clean: dict[str, Any] = {}
        for key, value in config.items():
            if self.is_secret_key(str(key)):
                logger.info("parameter %r not logged: its name looks like a secret", key)
                continue
            if isinstance(value, Mapping):
                clean[key] = self.clean_config(value)
            elif isinstance(value, list | tuple):
                if any(self.is_secret_value(item) for item in value):
                    logger.info("parameter %r not logged: it holds a secret value", key)
                    continue
                clean[key] = value
            elif self.is_secret_value(value):
                logger.info("parameter %r not logged: it holds a secret value", key)
            else:
                clean[key] = value
        return clean

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by :attr:`REPLACEMENT`.

        Args:
            text: Free text (an error message, a field value).
        """
        for secret in sorted(self.values, key=len, reverse=True):
            text = text.replace(secret, self.REPLACEMENT)
        return text
