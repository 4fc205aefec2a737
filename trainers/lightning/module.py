"""``StoryModule``: the LightningModule around any PyTorch model of the contract in
``docs/models.md`` (``forward(input_ids)`` -> one logit per example, ``[B]`` or ``[B, 1]``).

Training minimises ``BCEWithLogitsLoss`` with Adam (AdamW when ``weight_decay > 0``) and a
per-step schedule from :func:`trainers.batching.lr_multiplier` over
``trainer.estimated_stepping_batches``. It keeps the epoch's example-weighted training loss
and accuracy (:meth:`train_totals`) and the validation predictions with their row indices
(:attr:`val_outputs`); :class:`~trainers.lightning.callbacks.EpochReporter` turns them into the
epoch's report. With ``state_targets`` (per-sentence directions of the training rows) it adds
the model's ``state_loss_weight`` times its auxiliary state loss (a model that has a
``forward_with_states``, like the entity memory). Each training epoch
seeds torch from ``(seed, epoch, rank)`` (and the part of the epoch, for a validation period
after the first of its epoch: :mod:`trainers.periods`), so dropout draws do not depend on
whether the run was resumed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from stories.semantics import NO_SENTENCE
from trainers.batching import lr_multiplier
from trainers.config import Hyperparams
from trainers.errors import NonFiniteLossError
from trainers.lightning.data import Batch
from trainers.periods import ValidationSchedule

#: ``forward_with_states`` of a model with an auxiliary state head: logits and state logits.
StatesForward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def one_logit(output: torch.Tensor) -> torch.Tensor:
    """A model's output as one logit per example: ``[B]`` from ``[B]`` or ``[B, 1]``.

    Example:
        >>> one_logit(torch.zeros(3, 1)).shape
        torch.Size([3])
    """
    return output.squeeze(-1) if output.dim() == 2 and output.size(-1) == 1 else output


def _vocab_size(model: nn.Module) -> int | None:
    """The number of token ids ``model`` embeds (its first ``nn.Embedding``), if any."""
    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    return None if embedding is None else embedding.num_embeddings


class StoryModule(pl.LightningModule):
    """Trains a one-logit binary classifier on ``(input_ids, labels, rows)`` batches.

    Args:
        model: The network (``input_ids [B, L] -> logits [B]``).
        hyperparams: The model's settings (the optimiser's are read here; the state loss
            weight from the network settings), stored as a plain dict in the checkpoint.
        seed: The run's seed (per-epoch torch seeding).
        state_targets: ``int8 [N_train, S]`` per-sentence subject directions of the training
            rows (:func:`stories.semantics.state_targets`); when given, the model must have
            ``forward_with_states`` and its state loss is added. The reported training loss
            stays the answer's loss alone.
        schedule: The validation periods (Lightning's epochs are periods); default one per
            epoch.
        total_steps: Optimiser steps of the whole run (the learning-rate schedule's length);
            default Lightning's ``estimated_stepping_batches``.
    """

    def __init__(
        self,
        model: nn.Module,
        hyperparams: Hyperparams,
        seed: int = 0,
        state_targets: np.ndarray | None = None,
        schedule: ValidationSchedule | None = None,
        total_steps: int | None = None,
    ):
        super().__init__()
        self.model = model
        self.save_hyperparameters(
            {
                "model": {
                    "_target_": hyperparams.target,
                    **hyperparams.arguments,
                    "vocab_size": _vocab_size(model),
                },
                "hyperparams": hyperparams.to_dict(),
                "seed": seed,
            },
            ignore=["state_targets"],  # an array: kept out of the checkpoint's hyperparameters
        )
        self.hp = hyperparams.training
        self.seed = seed
        self.schedule = schedule
        self.total_steps = total_steps
        self.loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        self.state_targets = state_targets
        self.state_loss_weight = float(getattr(model, "state_loss_weight", 0.0))
        self.state_loss_fn = nn.CrossEntropyLoss(ignore_index=NO_SENTENCE)
        # loss sum, correct, examples
        self._train_totals = torch.zeros(3, dtype=torch.float64)
        self.val_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return one_logit(self.model(input_ids))

    def on_train_epoch_start(self) -> None:
        epoch, part = self.current_epoch, 0
        if self.schedule is not None:
            period = self.schedule.period(self.current_epoch)
            epoch, part = period.epoch, period.part
        entropy = [self.seed, epoch, self.global_rank, *([part] if part else [])]
        sequence = np.random.SeedSequence(entropy)
        torch.manual_seed(int(sequence.generate_state(1)[0]))
        self._train_totals = torch.zeros(3, dtype=torch.float64, device=self.device)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        input_ids, labels, rows = batch
        if self.state_targets is None:
            logits = one_logit(self.model(input_ids))
            auxiliary = None
        else:
            forward = cast(StatesForward, self.model.forward_with_states)
            logits, state_logits = forward(input_ids)
            auxiliary = self._state_loss(state_logits, rows)
        losses = self.loss_fn(logits.float(), labels)
        loss = losses.mean()
        if auxiliary is not None:
            loss = loss + self.state_loss_weight * auxiliary
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step} (batch {batch_idx}); lower model.lr, keep "
                "trainer.gradient_clip_val or use trainer.precision=32. The last good "
                "checkpoint is kept."
            )
        correct = ((logits > 0) == (labels > 0.5)).sum()
        stats = torch.stack([losses.detach().sum().double(), correct.double()])
        self._train_totals[:2] += stats
        self._train_totals[2] += labels.numel()
        return loss

    def _state_loss(self, state_logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each sentence's predicted subject direction (padding ignored)."""
        assert self.state_targets is not None
        sentences = state_logits.size(1)
        targets = self.state_targets[rows.cpu().numpy(), :sentences].astype(np.int64)
        target = torch.from_numpy(targets).to(state_logits.device)
        return self.state_loss_fn(state_logits.float().flatten(0, 1), target.flatten())

    def train_totals(self) -> tuple[float, float, int]:
        """The epoch's training loss (example-weighted mean), accuracy and examples so far,
        over all processes."""
        totals = self.trainer.strategy.reduce(self._train_totals.clone(), reduce_op="sum")
        loss_sum, correct, count = (float(v) for v in totals)
        if not count:
            return math.nan, math.nan, 0
        return loss_sum / count, correct / count, int(count)

    def on_validation_epoch_start(self) -> None:
        self.val_outputs = []

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        input_ids, labels, rows = batch
        logits = one_logit(self.model(input_ids)).float()
        losses = self.loss_fn(logits, labels)
        self.val_outputs.append((rows, torch.sigmoid(logits), losses))

    def configure_optimizers(self) -> Any:
        hp = self.hp
        optimizer: torch.optim.Optimizer
        if hp.weight_decay > 0:
            optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.Adam(self.parameters(), lr=hp.lr)
        total = self.total_steps or int(self.trainer.estimated_stepping_batches)

        def factor(step: int) -> float:
            return lr_multiplier(step, total, hp.warmup_steps, hp.lr_schedule)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
