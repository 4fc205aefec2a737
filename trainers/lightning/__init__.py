"""The Lightning side of :class:`~trainers.lightning.trainer.LightningTrainer`: module, data,
callbacks, and the relay to the shared per-epoch routine."""
