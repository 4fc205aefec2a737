"""List and inspect the model registry (``<output_dir>/registry.json``).

Usage::

    python scripts/registry.py list [--output-dir models_out] [--framework keras] [--model lstm]
    python scripts/registry.py show <run id>
    python scripts/registry.py rebuild      # re-register every finished run found in runs/
    python scripts/registry.py register <run id> [--name storyqa-lstm] [--alias champion]
                                            # the run's MLflow model into MLflow's registry
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output-dir", default="models_out", help="output root")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="one line per registered run")
    listing.add_argument("--framework", choices=["lightning", "keras"])
    listing.add_argument("--model")
    show = commands.add_parser("show", parents=[common], help="one entry as JSON")
    show.add_argument("run_id")
    commands.add_parser("rebuild", parents=[common], help="register every finished run in runs/")
    register = commands.add_parser(
        "register",
        parents=[common],
        help="put a run's MLflow model (logged with the mlflow sink) into MLflow's model registry",
    )
    register.add_argument("run_id")
    register.add_argument("--name", help="registered model name (default: storyqa-<model>)")
    register.add_argument("--alias", default="champion", help="alias of the new version")
    args = parser.parse_args(argv)
    if args.command == "register":
        return _register(Registry(Path(args.output_dir)), args.run_id, args.name, args.alias)

    registry = Registry(Path(args.output_dir))
    try:
        if args.command == "list":
            filters = {k: v for k, v in (("framework", args.framework), ("model", args.model)) if v}
            entries = registry.list(**filters)
            print(_table(entries) if entries else f"no runs registered in {registry.path}")
        elif args.command == "show":
            print(json.dumps(asdict(registry.get(args.run_id)), indent=2))
        else:
            found = sorted((Path(args.output_dir) / "runs").glob(f"*/{RunManifest.FILENAME}"))
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
