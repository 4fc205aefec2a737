"""List and inspect the model registry (``<output_dir>/registry.json``).

Usage::

    python scripts/registry.py list [paths.output_dir=models_out] [framework=keras] [model=lstm]
    python scripts/registry.py show run=<run id>
    python scripts/registry.py rebuild      # re-register every finished run found in runs/
    python scripts/registry.py register run=<run id> [name=storyqa-lstm] [alias=champion]
                                            # the run's MLflow model into MLflow's registry

After the command, every setting is ``key=value``, as for every other storyqa command
(``paths.output_dir=`` is the output root, as in ``train.py``). The older spellings
(``--output-dir DIR``, ``--name``, ``--alias``, ``--framework``, ``--model``, the run id
without ``run=``) are still read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from models.settings import SettingsError
from scripts._cli import EXIT_USER_ERROR
from trainers.records.manifest import RunManifest
from trainers.records.registry import Registry, RegistryEntry, RegistryError

COLUMNS = ("run_id", "framework", "model", "seed", "best val", "test acc", "dataset")


def _row(entry: RegistryEntry) -> tuple[str, ...]:
    best = entry.best.get("val_accuracy")
    test = entry.evaluation.get("test", {}).get("accuracy")
    return (
        entry.run_id,
        entry.framework,
        entry.model,
        str(entry.seed),
        "-" if best is None else f"{best:.4f}",
        "-" if test is None else f"{test:.4f}",
        str(entry.dataset.get("version", "")),
    )


def _table(entries: list[RegistryEntry]) -> str:
    rows = [COLUMNS, *(_row(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows
    )


#: The command -> the ``key=value`` settings it takes (and their defaults).
SETTINGS: dict[str, dict[str, str | None]] = {
    "list": {"paths.output_dir": "models_out", "framework": None, "model": None},
    "show": {"paths.output_dir": "models_out", "run": None},
    "rebuild": {"paths.output_dir": "models_out"},
    "register": {"paths.output_dir": "models_out", "run": None, "name": None, "alias": "champion"},
}
#: Older ``--flag`` spellings -> their key.
FLAGS = {
    "--output-dir": "paths.output_dir",
    "--framework": "framework",
    "--model": "model",
    "--name": "name",
    "--alias": "alias",
}
FRAMEWORKS = ("lightning", "keras")
HELP = """
settings (key=value, as for every storyqa command):
  list      [paths.output_dir=models_out] [framework=lightning|keras] [model=<name>]
            one line per registered run
  show      run=<run id> [paths.output_dir=...]
            one entry as JSON
  rebuild   [paths.output_dir=...]
            register every finished run in runs/
  register  run=<run id or folder> [name=storyqa-<model>] [alias=champion]
            [paths.output_dir=...]
            put a run's MLflow model (logged with the mlflow sink) into MLflow's model
            registry as a new version of name, with alias (alias= for none)
"""


def parse_settings(command: str, items: list[str]) -> dict[str, str | None]:
    """The ``key=value`` settings of ``command`` over its defaults; an older ``--flag value``
    or a bare run id (``show``, ``register``) is read as its key.

    Example:
        >>> parse_settings("register", ["run=lstm-x", "name=best"])["name"]
        'best'
        >>> parse_settings("show", ["lstm-x", "--output-dir", "out"])["paths.output_dir"]
        'out'

    Raises:
        SettingsError: An unknown key, a value missing, or a required one not given.
    """
    settings = dict(SETTINGS[command])
    given: dict[str, str] = {}
    rest = list(items)
    while rest:
        item = rest.pop(0)
        flag, _, inline = item.partition("=")
        if flag in FLAGS:
            if not inline and not rest:
                raise SettingsError(f"{flag}: needs a value; give {FLAGS[flag]}=<value>")
            given[FLAGS[flag]] = inline or rest.pop(0)
        elif "=" in item and not item.startswith("-"):
            key, _, value = item.partition("=")
            given[key] = value
        elif "run" in settings and "run" not in given and not item.startswith("-"):
            given["run"] = item
        else:
            raise SettingsError(
                f"{item!r}: not a setting; {command} takes key=value settings: "
                f"{', '.join(f'{k}=...' for k in settings)}"
            )
    for key, value in given.items():
        if key not in settings:
            raise SettingsError(
                f"{key}: unknown key for registry.py {command}; it takes {sorted(settings)}"
            )
        settings[key] = value
    if "run" in settings and not settings["run"]:
        raise SettingsError("run: required; give run=<run id> on the command line")
    if settings.get("framework") and settings["framework"] not in FRAMEWORKS:
        raise SettingsError(
            f"framework: {settings['framework']!r} is not one of {list(FRAMEWORKS)}"
        )
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s {list,show,rebuild,register} [key=value ...]",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=list(SETTINGS), help="what to do (below)")
    parser.add_argument(
        "settings", nargs=argparse.REMAINDER, metavar="key=value", help="its settings (below)"
    )
    items = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(items):
        parser.print_help()
        return 0
    args = parser.parse_args(items)
    try:
        settings = parse_settings(args.command, args.settings)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    registry = Registry(Path(str(settings["paths.output_dir"])))
    if args.command == "register":
        run, name, alias = settings["run"], settings["name"], settings["alias"]
        assert run is not None
        return _register(registry, run, name, alias or "")
    try:
        if args.command == "list":
            filters = {k: v for k in ("framework", "model") if (v := settings[k])}
            entries = registry.list(**filters)
            print(_table(entries) if entries else f"no runs registered in {registry.path}")
        elif args.command == "show":
            print(json.dumps(asdict(registry.get(str(settings["run"]))), indent=2))
        else:
            runs = registry.output_root / Registry.RUNS_DIR
            found = sorted(runs.glob(f"*/{RunManifest.FILENAME}"))
            finished = [p.parent for p in found if RunManifest.load(p.parent).status == "finished"]
            for run_dir in finished:
                registry.register_run(run_dir)
            print(f"registered {len(finished)} finished run(s) of {len(found)} in {registry.path}")
    except (RegistryError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def _register(registry: Registry, run: str, name: str | None, alias: str) -> int:
    """``register``: the run's MLflow model as a new version of ``name``, with ``alias``."""
    from trainers.runs.serving import ServingError, register_run_model

    try:
        run_dir = registry.resolve_run(run)
        model = name or f"storyqa-{RunManifest.load(run_dir).model}"
        done = register_run_model(run_dir, model, alias or None)
    except (RegistryError, ServingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(
        f"registered {run_dir.name} as {done['name']} version {done['version']}"
        f"{' (alias ' + str(done['alias']) + ')' if done['alias'] else ''}: {done['model_uri']} "
        f"in {done['tracking_uri']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
