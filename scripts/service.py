"""The training service and its client: start the service, add a worker, and submit, watch,
cancel and resume runs over HTTP.

Usage::

    python scripts/service.py start                          # Redis, API on :8765, one worker
    python scripts/service.py start service.workers=2 service.port=9000
    python scripts/service.py worker service.redis_url=redis://host:6379/0 paths.output_dir=/mnt/o
    python scripts/service.py start 'service.notify=[{kind:discord,url:env:DISCORD_WEBHOOK}]'
    python scripts/service.py notifier service.notify=... # the notifier alone (start runs one)
    python scripts/service.py submit model=lstm trainer.max_minutes=5 --wait
    python scripts/service.py sweep model=lstm,transformer seed=0,1
    python scripts/service.py status <run_id> | list | logs <run_id> --follow
    python scripts/service.py cancel <run_id> | resume <run_id> | compare <id> <id>

``start``, ``worker``, ``api`` and ``notifier`` take Hydra-style overrides (``service.*``,
``paths.output_dir``), validated before anything starts. The client commands talk to ``--url``
(default ``STORYQA_SERVICE_URL`` or http://127.0.0.1:8765) with the key in ``STORYQA_API_KEY``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, open_dict

from scripts._cli import (
    CONFIG_DIR,
    USER_ERRORS,
    exit_with_user_error,
    register_configs,
    split_run_config,
    to_plain,
)

#: Overrides a service run may not take, and why.
REFUSED = {
    "resume": "resume a run with POST /runs/<id>/resume (storyqa-service resume <id>)",
    "hparams_search": "an Optuna search runs with train.py -m; the service takes sweeps "
    "(storyqa-service sweep ...)",
    "paths.output_dir": "the service's runs go to its own output folder (its "
    "paths.output_dir, set when it starts)",
    "hydra": "Hydra's own settings are the service's (but hydra.searchpath, for your model "
    "configs)",
}
#: Keys under a refused one that a service run may take: where a user's model configs are
#: (``hydra.searchpath=[file:///abs/my_conf]``; the workers import the model's module from
#: their PYTHONPATH).
ALLOWED = frozenset({"hydra.searchpath"})
#: Exit codes of ``submit --wait`` by the run's outcome.
OUTCOME_EXIT = {"finished": 0, "failed": 1, "canceled": 3, "interrupted": 3}


def _register() -> None:
    from hydra.core.config_store import ConfigStore

    from services.settings import ServiceSettings

    register_configs()
    defaults = ServiceSettings()
    node = {name: getattr(defaults, name) for name in ServiceSettings.FIELDS}
    node["notify"] = []  # a list of {kind, url, secret, events, name} (service.notify=[{...}])
    ConfigStore.instance().store(group="service", name="_defaults", node=node)


_COMPOSING = threading.Lock()


def _compose(config_name: str, overrides: Sequence[str], hydra_node: bool = False) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` (one at a time: Hydra's global
    state is the process')."""
    from hydra import compose, initialize_config_dir

    with _COMPOSING, initialize_config_dir(CONFIG_DIR, version_base="1.3", job_name="service"):
        return compose(config_name, list(overrides), return_hydra_config=hydra_node)


def _hydra_message(error: Exception) -> str:
    """Hydra's error as the command line prints it, on one line."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def load_settings(overrides: Sequence[str]) -> Any:
    """The service's settings from ``service.*`` and ``paths.output_dir`` overrides.

    Raises:
        SystemExit: One ``error:`` line (exit code 2) for a bad key or value.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from services.settings import ServiceSettings, ServiceSettingsError

    try:
        cfg = to_plain(_compose("service", overrides))
        return ServiceSettings.from_mapping(cfg["service"], output_dir=cfg["paths"]["output_dir"])
    except (HydraException, OmegaConfBaseException) as error:
        exit_with_user_error(_hydra_message(error))
    except ServiceSettingsError as error:
        exit_with_user_error(str(error))


class HydraComposer:
    """Composes and validates a service run exactly as ``train.py`` composes a run (the
    :class:`services.compose.Composer` the API uses)."""

    def run(self, overrides: Sequence[str]) -> Any:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        from services.compose import ComposeError
        from services.queue import NewRun
        from trainers.records.run import new_run_id
        from trainers.runs.pipeline import PipelineConfig

        self._refuse(overrides, sweeps=True)
        try:
            cfg = _compose("train", overrides, hydra_node=True)
            model = str(cfg.model.get("name") or cfg.hydra.runtime.choices.get("model") or "model")
            with open_dict(cfg):
                del cfg["hydra"]
            plain, _ = split_run_config(cfg, model)
            plain["trainer"]["progress"] = False  # no terminal: the epoch lines go to run.log
            config = PipelineConfig.from_mapping(plain)
            config.check_trainer()
        except (HydraException, OmegaConfBaseException) as error:
            raise ComposeError(f"error: {_hydra_message(error)}") from None
        except USER_ERRORS as error:
            raise ComposeError(f"error: {error}") from None
        run_id = new_run_id(config.model.name, config.data.label)
        return NewRun(
            run_id=run_id,
            config=config.to_dict(),
            overrides=list(overrides),
            model=config.model.name,
            dataset=config.data.label,
        )

    def sweep(self, overrides: Sequence[str]) -> list[list[str]]:
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.errors import HydraException

        from services.compose import ComposeError

        self._refuse(overrides, sweeps=False)
        try:
            parsed = OverridesParser.create().parse_overrides(list(overrides))
        except HydraException as error:
            raise ComposeError(f"error: {_hydra_message(error)}") from None
        choices = []
        for override in parsed:
            key = override.get_key_element()
            if override.is_sweep_override():
                choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
            else:
                choices.append([override.input_line])
        return [list(combination) for combination in itertools.product(*choices)]

    @staticmethod
    def _refuse(overrides: Sequence[str], *, sweeps: bool) -> None:
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.errors import HydraException

        from services.compose import ComposeError

        for override in overrides:
            key = override.split("=", 1)[0].lstrip("+~")
            if key in ALLOWED:
                continue
            for refused, why in REFUSED.items():
                if key == refused or key.startswith(f"{refused}.") or key.startswith(f"{refused}/"):
                    raise ComposeError(f"error: {key}: not taken by the service: {why}")
        if not sweeps:
            return
        try:
            parsed = OverridesParser.create().parse_overrides(list(overrides))
        except HydraException as error:
            raise ComposeError(f"error: {_hydra_message(error)}") from None
        for override in parsed:
            if override.is_sweep_override():
                raise ComposeError(
                    f"error: {override.input_line}: a sweep; submit it as one (POST /sweeps, "
                    "storyqa-service sweep ...)"
                )


def _redis_url(settings: Any) -> str:
    """The Redis to use: ``service.redis_url``, or the embedded one of this output folder
    (the service must be running)."""
    from services.redis_server import EmbeddedRedis
    from services.store import connect

    if settings.redis_url:
        return str(settings.redis_url)
    embedded = EmbeddedRedis(settings.state_dir)
    import redis

    try:
        connect(embedded.url, timeout_s=2).ping()
    except (redis.RedisError, OSError):
        exit_with_user_error(
            f"no Redis: no service runs on {settings.output_dir} (no answer on "
            f"{embedded.socket}); start it (storyqa-service start) or give "
            "service.redis_url=redis://host:6379/0"
        )
    return embedded.url


def cmd_start(overrides: list[str]) -> int:
    from services.redis_server import RedisServerError
    from services.supervisor import ServiceStartError, Supervisor, child_command

    settings = load_settings(overrides)
    supervisor = Supervisor(
        settings, lambda kind, url: child_command(kind, overrides, url), log=_say
    )
    try:
        return supervisor.run()
    except (ServiceStartError, RedisServerError) as error:
        exit_with_user_error(str(error))


def cmd_api(overrides: list[str]) -> int:
    from services.api.app import create_app, serve

    settings = load_settings(overrides)
    serve(create_app(settings, _redis_url(settings), HydraComposer()), settings)
    return 0


def cmd_worker(overrides: list[str]) -> int:
    import logging

    from services.worker import run_worker

    settings = load_settings(overrides)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    run_worker(settings, _redis_url(settings))
    return 0


def cmd_notifier(overrides: list[str]) -> int:
    import logging

    from services.notify.notifier import run_notifier

    settings = load_settings(overrides)
    if not settings.notify:
        exit_with_user_error(
            "service.notify: no targets; give service.notify=[{kind: webhook, url: https://...}]"
            " (or STORYQA_SERVICE_NOTIFY)"
        )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    for name in ("httpx", "httpcore"):  # their INFO lines name each request's URL
        logging.getLogger(name).setLevel(logging.WARNING)
    return run_notifier(settings, _redis_url(settings))


def _say(text: str) -> None:
    print(text, flush=True)


def _client(args: argparse.Namespace) -> Any:
    from services.client import ServiceClient

    return ServiceClient(args.url)


def _status_line(run: Any) -> str:
    best = "" if run.best_val_accuracy is None else f"  best val {run.best_val_accuracy:.4f}"
    epochs = f"{run.epoch}/{run.max_epochs}" if run.max_epochs else str(run.epoch)
    worker = (
        f"  on {run.worker.host}:{run.worker.pid}" if run.worker and run.status == "running" else ""
    )
    message = f"\n  {run.message}" if run.message else ""
    return (
        f"{run.run_id}  {run.status}  attempt {run.attempt}  epochs {epochs}{best}{worker}{message}"
    )


def cmd_client(args: argparse.Namespace) -> int:
    """The client commands."""
    from services.client import ServiceError

    try:
        with _client(args) as client:
            return _client_command(client, args)
    except ServiceError as error:
        message = error.message.removeprefix("error: ")
        print(f"error: {message}", file=sys.stderr)
        return 2 if error.status in (400, 404, 409, 413, 422) else 1
    except KeyboardInterrupt:
        return 130


def _client_command(client: Any, args: argparse.Namespace) -> int:
    if args.command == "submit":
        accepted = client.submit(args.overrides)
        print(accepted.run_id)
        return _follow(client, accepted.run_id) if args.wait else 0
    if args.command == "sweep":
        sweep = client.sweep(args.overrides)
        print(sweep.sweep_id)
        for run in sweep.runs:
            print(f"  {run.run_id}")
        return 0
    if args.command == "status":
        print(_status_line(client.status(args.run_id)))
        return 0
    if args.command == "list":
        for run in client.runs(status=args.status, model=args.model):
            print(_status_line(run).split("\n")[0])
        return 0
    if args.command == "logs":
        if args.follow:
            return _follow(client, args.run_id, tail=args.tail)
        text, _ = client.logs(args.run_id, tail=args.tail)
        print(text, end="")
        return 0
    if args.command == "cancel":
        print(_status_line(client.cancel(args.run_id)))
        return 0
    if args.command == "resume":
        print(_status_line(client.resume(args.run_id)))
        return 0
    if args.command == "compare":
        print(client.compare(args.run_ids).text)
        return 0
    raise AssertionError(args.command)


def _follow(client: Any, run_id: str, tail: int = 0) -> int:
    """Print the run's log as it grows (its event stream: nothing missed after a dropped
    connection) until the run ends; exit with its outcome."""
    offset = 0
    if tail:
        text, offset = client.logs(run_id, tail=tail)
        print(text, end="", flush=True)
    for text in client.follow_log(run_id, offset):
        print(text, end="", flush=True)
    run = client.status(run_id)
    print(f"\n{_status_line(run)}")
    for split, accuracy in run.evaluation.items():
        print(f"  {split:<12} accuracy {accuracy:.4f}")
    return OUTCOME_EXIT.get(run.status, 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start the service: embedded Redis, the API and service.workers workers"),
        ("worker", "start one more worker (here or on another machine)"),
        ("api", "start the API alone"),
        ("notifier", "start the notifier alone (service.notify's targets; start runs one)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("overrides", nargs="*", help="service.<key>=<value>, paths.output_dir=...")

    def client_command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--url", help="the service (default STORYQA_SERVICE_URL or the local one)")
        return sub

    sub = client_command("submit", "queue a run (train.py's overrides); prints its id")
    sub.add_argument("overrides", nargs="*", help="e.g. model=lstm trainer.max_minutes=5")
    sub.add_argument("--wait", action="store_true", help="follow it to the end; exit 0 if finished")
    sub = client_command("sweep", "queue a sweep (train.py -m's overrides)")
    sub.add_argument("overrides", nargs="+", help="e.g. model=lstm,transformer seed=0,1")
    for name, text in (
        ("status", "a run's state"),
        ("cancel", "cancel a run (a running one stops at the end of its step)"),
        ("resume", "resume a canceled, interrupted or failed run from its last checkpoint"),
    ):
        client_command(name, text).add_argument("run_id")
    sub = client_command("list", "runs, newest first")
    sub.add_argument("--status", help="only runs with this status")
    sub.add_argument("--model", help="only runs of this model")
    sub = client_command("logs", "a run's log")
    sub.add_argument("run_id")
    sub.add_argument("--follow", "-f", action="store_true", help="follow it until the run ends")
    sub.add_argument("--tail", type=int, default=200, help="last lines (default 200)")
    sub = client_command("compare", "compare finished runs (the first is the baseline)")
    sub.add_argument("run_ids", nargs="+")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("start", "worker", "api", "notifier"):
        _register()
        run = {
            "start": cmd_start,
            "worker": cmd_worker,
            "api": cmd_api,
            "notifier": cmd_notifier,
        }[args.command]
        return run(list(args.overrides))
    return cmd_client(args)


if __name__ == "__main__":
    raise SystemExit(main())
