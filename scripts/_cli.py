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
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from stories.config import DatasetConfig
from stories.errors import StoriesError
from trainers.errors import TrainerError
from trainers.registry import RegistryError
from trainers.settings import SettingsError
from trainers.tracking import TrackerConfigError

CONFIG_DIR: Final = str(Path(__file__).resolve().parent.parent / "conf")
#: Errors that are the user's to fix: printed as one line, exit code 2.
USER_ERRORS: Final[tuple[type[BaseException], ...]] = (
    StoriesError,
    SettingsError,
    TrackerConfigError,
    TrainerError,
    RegistryError,
)
EXIT_USER_ERROR: Final = 2

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

F = TypeVar("F", bound=Callable[..., Any])


def register_configs() -> None:
    """Register the schemas and defaults that ``conf/`` extends, from the library's own
    dataclasses, and the ``storyqa_run_dir`` resolver."""
    from dataclasses import asdict

    from trainers.config import TrainerConfig
    from trainers.presets import PRESETS
    from trainers.tracking import TrackerConfig

    store = ConfigStore.instance()
    store.store(group="data", name="_schema", node=DatasetConfig)
    for name, preset in PRESETS.items():
        store.store(
            group="model", name=f"_{name}", node={"framework": preset.framework, **preset.to_dict()}
        )
    store.store(group="trainer", name="_defaults", node=TrainerConfig().to_dict())
    tracker = {
        k: list(v) if isinstance(v, tuple) else v for k, v in asdict(TrackerConfig()).items()
    }
    store.store(group="tracker", name="_defaults", node=tracker)
    if not OmegaConf.has_resolver("storyqa_run_dir"):
        OmegaConf.register_new_resolver("storyqa_run_dir", run_dir_for, use_cache=True)


def run_dir_for(resume: str | None, output_dir: str, model: str, dataset: str) -> str:
    """The run directory of a ``train.py`` job: the resumed run's, or a new
    ``<output_dir>/runs/<model>-<dataset>-<time>-<hex>``."""
    from trainers.run import new_run_id

    if resume:
        return str(Path(resume).expanduser().resolve())
    return str(Path(output_dir) / "runs" / new_run_id(model, dataset))


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
    """A resolved plain-dict copy of a Hydra config node.

    Raises:
        SettingsError: A value the user must give (``???``) is missing, naming its key.
    """
    from omegaconf.errors import MissingMandatoryValue

    try:
        plain = OmegaConf.to_container(config, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        key = error.full_key or "a value"
        raise SettingsError(f"{key}: required; give {key}=<value> on the command line") from None
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


def write_comparison(comparison: Any, path: Path, run_dirs: list[Path]) -> Path:
    """Save a :class:`~metrics.compare.Comparison` as HTML (with the runs listed) and CSV."""
    import html

    path.parent.mkdir(parents=True, exist_ok=True)
    runs = "".join(f"<li>{html.escape(str(run))}</li>" for run in run_dirs)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>storyqa comparison</title></head><body>"
        f"<h1>storyqa comparison</h1><ul>{runs}</ul>{comparison.to_html()}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    comparison.to_frame().to_csv(path.with_suffix(".csv"), index=False)
    return path


class CompareJobsCallback(Callback):
    """Hydra callback: at the end of a ``train.py -m`` sweep, print and save the comparison
    of its jobs (``<sweep dir>/comparison.html``)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from trainers.comparison import compare_runs, sweep_run_dirs

        sweep = Path(config.hydra.sweep.dir)
        try:
            run_dirs = sweep_run_dirs(sweep)
            comparison = compare_runs(run_dirs)
        except (RegistryError, ValueError) as error:
            print(f"no comparison of the sweep: {error}", file=sys.stderr)
            return
        print("\n" + comparison.console_table())
        saved = write_comparison(comparison, sweep / "comparison.html", run_dirs)
        print(f"\nSweep comparison: {saved}")
