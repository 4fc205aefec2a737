"""Shared plumbing of the Hydra entry points in ``scripts/``.

Hydra lives only here and in ``conf/``: the config schemas registered below are the
library's own dataclasses, so every key, type and default has exactly one source.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from stories.config import DatasetConfig
from stories.errors import StoriesError

CONFIG_DIR: Final = str(Path(__file__).resolve().parent.parent / "conf")
#: Errors that are the user's to fix: printed as one line, exit code 2.
USER_ERRORS: Final[tuple[type[BaseException], ...]] = (StoriesError,)
EXIT_USER_ERROR: Final = 2

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

F = TypeVar("F", bound=Callable[..., Any])


def register_configs() -> None:
    """Register the structured-config schemas that ``conf/`` extends."""
    store = ConfigStore.instance()
    store.store(group="data", name="_schema", node=DatasetConfig)


def reports_user_errors(main: F) -> F:
    """Turn a user error into one ``error: ...`` line on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(EXIT_USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


def to_plain(config: DictConfig) -> dict[str, Any]:
    """A resolved plain-dict copy of a Hydra config node."""
    plain = OmegaConf.to_container(config, resolve=True)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}
