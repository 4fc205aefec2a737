"""Whether this machine can run a Lightning run's placement: the ``trainer.*`` keys
``accelerator``, ``devices``, ``num_nodes``, ``strategy`` and ``precision``, checked before
anything is built, so that what Lightning would refuse at ``fit`` (with the run folder already
written) is one error naming the key, what this machine has, and the fix.

What Lightning does with these keys on CPU, and so what is refused here:

* ``accelerator=gpu|cuda|mps`` without such a device: Lightning refuses at ``fit``;
* ``devices=N``: N GPUs, or on CPU N training processes (DDP). More GPUs than the machine has
  is refused by Lightning; more CPU processes than the machine has cores Lightning would start,
  each competing for the same cores, so this module counts a device as one CPU core;
* ``strategy``: a name of Lightning's strategy registry (``auto`` too), usable here (``fsdp``
  needs a GPU, ``deepspeed`` its package...);
* ``num_nodes=N`` outside a multi-node launch (SLURM, torchrun, ``MASTER_ADDR``/``NODE_RANK``):
  Lightning would wait for the other nodes forever;
* ``precision=16-mixed`` on CPU: Lightning would train in ``bf16-mixed`` instead.

Nothing is imported, and nothing checked, while every placement key has its default; otherwise
PyTorch and Lightning are imported here, when the check runs.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, NoReturn

from trainers.config import TrainerConfig
from trainers.lightning.trainer import launched_rank

#: Environment variables that make a process one node of a multi-node job set up by hand (for
#: Lightning's ``LightningEnvironment``).
MULTI_NODE_VARIABLES = ("MASTER_ADDR", "NODE_RANK")
#: What the devices of each kind are called in messages.
DEVICE_NAMES = {"gpu": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU core"}


def check_placement(config: TrainerConfig) -> None:
    """Refuse placement keys this machine cannot run (see the module's docstring).

    Runs only when a placement key differs from its default, and in a ``ddp`` worker
    process not at all (rank zero checked the same config).

    Raises:
        models.settings.SettingsError: Naming the key, what this machine has, and the fix.
    """
    if not config.placement_overrides() or launched_rank() > 0:
        return
    kind, available = _target(config)
    _check_devices(config, kind, available)
    _check_strategy(config)
    _check_num_nodes(config)
    if config.precision == "16-mixed" and kind == "cpu":
        _fail(
            "precision",
            "'16-mixed' (float16 mixed precision) needs a CUDA GPU, and this run trains on the "
            "CPU (Lightning would silently use bf16-mixed); use trainer.precision=bf16-mixed or "
            "32",
        )
    _check_with_lightning(config)


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fail(key: str, message: str) -> NoReturn:
    TrainerConfig.fail(key, message)


def _target(config: TrainerConfig) -> tuple[str, int]:
    """The kind of device the run would train on (``gpu``, ``mps`` or ``cpu``) and how many
    of them this machine has."""
    accelerator = config.accelerator
    if accelerator == "cpu":
        return "cpu", cpu_cores()
    import torch

    mps = torch.backends.mps.is_available()
    if accelerator == "mps":
        if not mps:
            _fail(
                "accelerator",
                "'mps' asked for, but this machine has no Apple GPU (MPS); use "
                "trainer.accelerator=cpu, or auto (a GPU when there is one)",
            )
        return "mps", 1
    count = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda") and count == 0:
        build = ", a CPU-only build," if torch.version.cuda is None else ""
        _fail(
            "accelerator",
            f"{accelerator!r} asked for, but this machine has no CUDA GPU (PyTorch "
            f"{torch.__version__}{build} sees none); use trainer.accelerator=cpu, or auto (a "
            "GPU when there is one)",
        )
    if count:
        return "gpu", count
    return ("mps", 1) if mps else ("cpu", cpu_cores())


def _check_devices(config: TrainerConfig, kind: str, available: int) -> None:
    devices = config.devices
    if not isinstance(devices, int) or devices <= available:
        return
    have = f"{available} {DEVICE_NAMES[kind]}{'s' if available != 1 else ''}"
    if kind == "cpu":
        gpu = "no CUDA GPU and " if config.accelerator == "auto" else ""
        _fail(
            "devices",
            f"{devices} asked for on CPU, where each device is one training process, and this "
            f"machine has {gpu}{have}; use trainer.devices={available} or fewer "
            "(trainer.num_threads=N gives each process more threads)",
        )
    _fail(
        "devices",
        f"{devices} asked for, and this machine has {have}; use trainer.devices={available} "
        "or fewer (trainer.devices=auto takes them all)",
    )


def _check_strategy(config: TrainerConfig) -> None:
    if config.strategy == "auto":
        return
    from lightning.pytorch.strategies import StrategyRegistry

    known = StrategyRegistry.available_strategies()
    if config.strategy in known:
        return
    main = sorted(name for name in known if "find_unused_parameters" not in name)
    _fail(
        "strategy",
        f"{config.strategy!r} is not a Lightning strategy; use one of "
        f"{', '.join(['auto', *main])} (ddp or ddp_spawn for several devices; each ddp name "
        "also has _find_unused_parameters_true/_false variants)",
    )


def _multi_node_launch() -> bool:
    """Whether this process was started as one node of a multi-node job."""
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    return any(name in os.environ for name in MULTI_NODE_VARIABLES) or any(
        environment.detect()
        for environment in (SLURMEnvironment, TorchElasticEnvironment, LSFEnvironment)
    )


def _check_num_nodes(config: TrainerConfig) -> None:
    if config.num_nodes == 1 or _multi_node_launch():
        return
    _fail(
        "num_nodes",
        f"{config.num_nodes} asked for, but this process was not started as one node of a "
        "multi-node job (no SLURM, torchrun, or MASTER_ADDR and NODE_RANK environment), so it "
        "would wait for the other nodes forever; start it on every node that way, or use "
        "trainer.num_nodes=1",
    )


def _lightning_precision(precision: str) -> str | None:
    """``trainer.precision`` as Lightning spells it; ``None`` for ``auto`` (the trainer picks
    it from the device)."""
    if precision == "auto":
        return None
    return "32-true" if precision == "32" else precision


def _check_with_lightning(config: TrainerConfig) -> None:
    """Let Lightning set up the placement (it starts no process and touches no device yet):
    whatever combination it refuses (``strategy=fsdp`` on CPU, ``deepspeed`` not installed,
    ``bf16-mixed`` on a GPU without bf16...) is refused here, in its words."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    placement: dict[str, Any] = {
        "accelerator": config.accelerator,
        "devices": config.devices,
        "num_nodes": config.num_nodes,
        "strategy": config.strategy,
    }
    precision = _lightning_precision(config.precision)
    if precision is not None:
        placement["precision"] = precision
    lightning_logger = logging.getLogger("lightning.pytorch")
    level = lightning_logger.level
    lightning_logger.setLevel(logging.ERROR)  # its "GPU available: ..." lines
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pl.Trainer(
                **placement,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as error:
        changed = config.placement_overrides()
        key = "strategy" if "strategy" in changed else changed[0]
        shown = ", ".join(f"trainer.{k}={getattr(config, k)}" for k in changed)
        lines = str(error).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        _fail(key, f"Lightning cannot train with {shown} on this machine: {reason}")
    finally:
        lightning_logger.setLevel(level)
