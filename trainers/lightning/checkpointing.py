"""Lightning's ``ModelCheckpoint`` set up to keep the files of the shared top-k policy.

:mod:`trainers.checkpoints` holds the policy and the file names; this module turns them into
``ModelCheckpoint`` keyword arguments (it imports no framework itself).
"""

from __future__ import annotations

from typing import Any

from trainers.checkpoints import CheckpointFiles, TopKPolicy


def lightning_checkpoint_kwargs(
    files: CheckpointFiles, policy: TopKPolicy, by_step: bool = False
) -> dict[str, Any]:
    """Keyword arguments of Lightning's ``ModelCheckpoint`` that reproduce ``policy``.

    ``ModelCheckpoint`` then keeps the same top-k files, with the same names, as
    :class:`CheckpointManager`, except when several kept epochs tie for worst and a better
    epoch arrives: ``ModelCheckpoint`` evicts the earliest of them, the policy the latest (see
    the module docstring). The Lightning trainer has to apply the policy's eviction in that
    case (a ``ModelCheckpoint`` subclass or :class:`CheckpointManager`). It writes
    ``last.ckpt``. It writes no ``best.ckpt``: the Lightning adapter copies the epoch file
    (``ModelCheckpoint.best_model_path``) when :class:`TopKDecision` says ``is_new_best``.
    The LightningModule must log ``val/accuracy`` (and the monitor key) per epoch.

    Args:
        files: The run's checkpoint files (framework ``lightning``).
        policy: The top-k policy.
        by_step: Name the files by the step too (``trainer.val_check_interval``); the
            checkpoint callback must then give the period's epoch and step as ``epoch`` and
            ``step``.

    Example:
        >>> from pathlib import Path
        >>> files = CheckpointFiles(Path("runs/r/checkpoints"), "lightning", "all_4dir")
        >>> kwargs = lightning_checkpoint_kwargs(files, TopKPolicy())
        >>> kwargs["filename"], kwargs["save_top_k"], kwargs["mode"]
        ('lightning-all_4dir-epoch={epoch:03d}-val_acc={val/accuracy:.4f}', 3, 'max')
    """
    return {
        "dirpath": str(files.directory),
        "filename": files.lightning_filename(by_step),
        "monitor": policy.monitor,
        "mode": policy.mode,
        "save_top_k": policy.k,
        "save_last": True,
        "auto_insert_metric_name": False,
        "enable_version_counter": False,
    }


def lightning_periodic_checkpoint_kwargs(
    files: CheckpointFiles, every_n_epochs: int
) -> dict[str, Any]:
    """``ModelCheckpoint`` keyword arguments for the optional every-N-epochs files.

    Lightning saves them after epochs ``e`` with ``(e + 1) % every_n_epochs == 0``, as
    :class:`CheckpointManager` does.

    Args:
        files: The run's checkpoint files (framework ``lightning``).
        every_n_epochs: Period in epochs (>= 1).
    """
    if every_n_epochs < 1:
        raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
    return {
        "dirpath": str(files.directory),
        "filename": files.lightning_periodic_filename(),
        "monitor": None,
        "save_top_k": -1,
        "save_last": False,
        "every_n_epochs": every_n_epochs,
        "auto_insert_metric_name": False,
        "enable_version_counter": False,
    }
