"""Keep secrets (API tokens, keys, passwords, credentials in URIs) out of every tracker field,
parameter and log line, without dropping innocent values.

A key is secret when one of its words is a secret word: keys are cut into words at ``_``,
``.``, ``/``, ``-`` and camelCase (``neptune.api_token`` -> ``neptune api token``), and a
word such as ``token``, ``secret`` or ``password`` (:attr:`SecretFilter.SECRET_WORDS`), a pair
such as ``api key`` (:attr:`SecretFilter.SECRET_PAIRS`) or a whole part that is a known
secret environment variable (``PGPASSWORD``) makes it secret. Words only match whole:
``max_sentence_tokens`` and ``tokenizer`` are not secrets.

A value is secret when it equals, or contains, the value of a secret environment variable
(:attr:`SecretFilter.ENV_VARS`, and any other variable whose *name* is a secret key), or holds
a URI with a password (``https://user:password@host``). Parameters with a secret key or value
are dropped (not even the key is logged); in free text (a field, an error message, a command
line) secret values, ``Bearer`` credentials and URI passwords are replaced by
:attr:`SecretFilter.REPLACEMENT`.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


class SecretFilter:
    """Recognises and removes secrets.

    Args:
        environ: Environment to read secret values from (default ``os.environ``, read once).
        extra_values: More secret values to remove.

    Example:
        >>> secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": "abcdef123456"})
        >>> secrets.clean_config({"lr": 0.1, "api_token": "x", "url": "abcdef123456",
        ...                       "max_sentence_tokens": 16})
        {'lr': 0.1, 'max_sentence_tokens': 16}
        >>> secrets.redact("bad token abcdef123456")
        'bad token ***'
        >>> secrets.redact_command(["train.py", "+auth.api_key=k1", "model.max_tokens=5"])
        "train.py '+auth.api_key=***' model.max_tokens=5"
    """

    #: Words that make a key secret wherever they stand in it.
    SECRET_WORDS: ClassVar[frozenset[str]] = frozenset(
        {
            "token",
            "secret",
            "secrets",
            "password",
            "passwords",
            "passwd",
            "passphrase",
            "credential",
            "credentials",
            "apikey",
            "authorization",
        }
    )
    #: Adjacent word pairs that make a key secret (``api_key``, ``privateKey``...).
    SECRET_PAIRS: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("api", "key"),
            ("access", "key"),
            ("private", "key"),
            ("signing", "key"),
            ("encryption", "key"),
            ("connection", "string"),
            ("client", "secret"),
        }
    )
    #: Environment variables known to hold secrets: as a key they are secret, and their
    #: values are removed wherever they appear.
    ENV_VARS: ClassVar[tuple[str, ...]] = (
        "NEPTUNE_API_TOKEN",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "DATABRICKS_TOKEN",
        "GITHUB_TOKEN",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "WANDB_API_KEY",
        "PGPASSWORD",
        "MYSQL_PWD",
    )
    REPLACEMENT: ClassVar[str] = "***"
    #: Values shorter than this are only matched exactly, never as a substring; values of
    #: variables that are not in :attr:`ENV_VARS` are only taken from this length on.
    MIN_SUBSTRING_LENGTH: ClassVar[int] = 8
    #: The password of a URI (``scheme://user:<password>@``; Hydra escapes the colons).
    URI_PASSWORD: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<head>[A-Za-z][\w+.-]*\\?://[^\s/:@\\]*\\?:)[^\s/@]+@"
    )
    #: An HTTP ``Bearer`` credential in free text.
    BEARER: ClassVar[re.Pattern[str]] = re.compile(r"(?P<head>\bBearer\s+)[^\s\"',;]+")
    #: Where a key is cut into parts (each may be a known variable) and into words.
    _PARTS: ClassVar[re.Pattern[str]] = re.compile(r"[./]+")
    _WORDS: ClassVar[re.Pattern[str]] = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

    def __init__(self, environ: Mapping[str, str] | None = None, extra_values: Iterable[str] = ()):
        env = os.environ if environ is None else environ
        values = {env.get(name, "") for name in self.ENV_VARS} | set(extra_values)
        values |= {
            value
            for name, value in env.items()
            if len(value) >= self.MIN_SUBSTRING_LENGTH and self.is_secret_key(name)
        }
        self.values = frozenset(value for value in values if value)

    @classmethod
    def key_words(cls, key: str) -> list[str]:
        """The lower-case words of a key (cut at ``_ . / -``, spaces and camelCase).

        Example:
            >>> SecretFilter.key_words("model.maxSentence_tokens")
            ['model', 'max', 'sentence', 'tokens']
        """
        return [word.lower() for word in cls._WORDS.findall(key)]

    def is_secret_key(self, key: str) -> bool:
        """Whether a config key (leaf name or dotted/slashed path) names a secret: one of its
        words is in :attr:`SECRET_WORDS`, two adjacent words are in :attr:`SECRET_PAIRS`, or
        one of its parts is a variable of :attr:`ENV_VARS`.

        Args:
            key: The key.
        """
        known = {name.lower() for name in self.ENV_VARS}
        if any(part.lower() in known for part in self._PARTS.split(key)):
            return True
        words = self.key_words(key)
        return any(word in self.SECRET_WORDS for word in words) or any(
            pair in self.SECRET_PAIRS for pair in itertools.pairwise(words)
        )

    def is_secret_value(self, value: object) -> bool:
        """Whether ``value`` (as text) equals or contains a secret value, or holds a URI with a
        password.

        Args:
            value: Any value; non-strings are compared through ``str``.
        """
        if isinstance(value, bool | int | float):
            return False
        text = str(value)
        if self.URI_PASSWORD.search(text):
            return True
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
        text = self.URI_PASSWORD.sub(rf"\g<head>{self.REPLACEMENT}@", text)
        return self.BEARER.sub(rf"\g<head>{self.REPLACEMENT}", text)

    def redact_command(self, argv: Sequence[str]) -> str:
        """A command line as one shell-quoted string without secrets: the value of a
        ``key=value`` override or ``--key value`` option whose key is secret becomes
        :attr:`REPLACEMENT`, and every argument goes through :meth:`redact`.

        Args:
            argv: The arguments, program first.
        """
        redacted: list[str] = []
        hide_next = False
        for arg in argv:
            key, equals, _ = arg.partition("=")
            if hide_next:
                redacted.append(self.REPLACEMENT)
            elif equals and self.is_secret_key(key.lstrip("+~-")):
                redacted.append(f"{key}={self.REPLACEMENT}")
            else:
                redacted.append(self.redact(arg))
            hide_next = arg.startswith("--") and not equals and self.is_secret_key(arg)
        return shlex.join(redacted)
