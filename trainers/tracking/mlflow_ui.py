"""Where MLflow's UI shows storyqa's runs: the console line that ``train.py`` and a sweep print
at their end when the ``mlflow`` sink is on.

MLflow 3's UI opens an experiment on its GenAI page (traces) unless the address asks for its
"Model training" view (runs, logged models, traces) with ``workflowType=machine_learning``:
``<ui>/#/experiments/<id>?workflowType=machine_learning``. With a tracking server
(``tracker.mlflow_tracking_uri=http(s)://...``) that address is on the server; with a database
store (the default ``sqlite:///<output root>/mlflow.db``) the line gives the ``mlflow ui``
command that serves it and the address that command serves (``http://127.0.0.1:5000``).
"""

from __future__ import annotations

import shlex
from typing import Final

#: Where ``mlflow ui`` serves by default.
LOCAL_UI: Final = "http://127.0.0.1:5000"
#: The query that opens an experiment on MLflow's "Model training" view.
MODEL_TRAINING_QUERY: Final = "workflowType=machine_learning"


def mlflow_ui_line(tracking_uri: str, experiment_id: str) -> str:
    """The console line that opens experiment ``experiment_id`` of ``tracking_uri`` on MLflow's
    "Model training" view.

    Args:
        tracking_uri: The run's MLflow tracking URI: a server (``http(s)://``) or a store.
        experiment_id: The experiment's id.

    Example:
        >>> mlflow_ui_line("https://mlflow.example.org/", "3")
        'MLflow UI: https://mlflow.example.org/#/experiments/3?workflowType=machine_learning'
        >>> print(mlflow_ui_line("sqlite:////work/models_out/mlflow.db", "1"))
        MLflow UI: mlflow ui --backend-store-uri sqlite:////work/models_out/mlflow.db, then open http://127.0.0.1:5000/#/experiments/1?workflowType=machine_learning
        >>> mlflow_ui_line("sqlite:////my runs/mlflow.db", "1").split(", then")[0]
        "MLflow UI: mlflow ui --backend-store-uri 'sqlite:////my runs/mlflow.db'"
    """
    if tracking_uri.startswith(("http://", "https://")):
        return f"MLflow UI: {_experiment_url(tracking_uri, experiment_id)}"
    command = f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri)}"
    return f"MLflow UI: {command}, then open {_experiment_url(LOCAL_UI, experiment_id)}"


def _experiment_url(ui: str, experiment_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}?{MODEL_TRAINING_QUERY}"
