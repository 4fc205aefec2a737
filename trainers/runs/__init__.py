"""A run's life from its config: :mod:`~.pipeline` takes one run from config to registry
(data, trainer, training, evaluation of every split, report, registry entry) and re-evaluates
or diagnoses a finished run; :mod:`~.comparison` puts finished runs side by side.
"""
