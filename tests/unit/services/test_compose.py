"""How the service composes runs from overrides (``scripts/service.py``'s ``HydraComposer``):
as ``train.py`` does, with the keys a service run may not take refused, and sweeps expanded in
``train.py -m``'s order."""

from __future__ import annotations

import pytest

from scripts.service import HydraComposer, _register
from services.compose import ComposeError

_register()


def test_a_run_is_composed_and_validated_as_train_py_would() -> None:
    run = HydraComposer().run(["model=lstm", "data.size=tiny", "trainer.max_epochs=2"])
    assert run.model == "lstm" and run.dataset == "all_4dir"
    assert run.run_id.startswith("lstm-all_4dir-")
    assert run.config["trainer"]["max_epochs"] == 2
    assert run.config["trainer"]["progress"] is False  # a worker has no terminal
    assert run.overrides == ["model=lstm", "data.size=tiny", "trainer.max_epochs=2"]


def test_a_sweep_is_every_combination_in_order() -> None:
    jobs = HydraComposer().sweep(["model=lstm,transformer", "seed=0,1", "data.size=tiny"])
    assert jobs == [
        ["model=lstm", "seed=0", "data.size=tiny"],
        ["model=lstm", "seed=1", "data.size=tiny"],
        ["model=transformer", "seed=0", "data.size=tiny"],
        ["model=transformer", "seed=1", "data.size=tiny"],
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+hydra.job.name=x"], "hydra.job.name: not taken by the service"),
        (["hparams_search=optuna"], "hparams_search: not taken by the service"),
        (["trainer.max_epochs=zero"], "trainer.max_epochs"),
    ],
)
def test_refused_runs_say_why(overrides: list[str], message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        HydraComposer().run(overrides)


def test_importing_the_service_loads_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, services, services.worker, services.jobs, services.api.app, "
        "services.client, services.supervisor\n"
        "heavy = {'torch', 'tensorflow', 'lightning', 'keras', 'jax'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
