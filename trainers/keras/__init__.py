"""The Keras side of the trainers: backend set-up, bucketed batches and the callbacks that
connect ``model.fit`` to the shared per-epoch routine and top-k policy.

Each submodule imports Keras; select the backend (:func:`trainers.keras.backend.use_backend`)
before importing any of them. This package itself imports nothing.
"""
