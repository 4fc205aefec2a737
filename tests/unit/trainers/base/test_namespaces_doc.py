"""docs/namespaces.md lists every name a run logs, and nothing it lists is made up."""

from __future__ import annotations

import json
import re

from trainers.config import TrainerConfig
from trainers.runs.pipeline import log_learning_curve, log_run_files
from trainers.tracking import Invocation

from .fake_trainer import HP, FakeTrainer

PLACEHOLDERS = {
    "<category>": r"[a-z_]+",
    "<n>": r"\d+",
    "<split>": r"[A-Za-z0-9_.-]+",
    "<rank>": r"\d+",
    "<file>": r"[^/]+",
    "<key>/<key>...": r"[^/]+(/[^/]+)*",
}


def documented_patterns(repo_root) -> list[re.Pattern[str]]:
    text = (repo_root / "docs" / "namespaces.md").read_text()
    names = re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)
    patterns = []
    for name in names:
        regex = re.escape(name)
        for placeholder, replacement in PLACEHOLDERS.items():
            regex = regex.replace(re.escape(placeholder), replacement)
        regex = re.sub(
            r"\\\{([a-z_,]+)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", regex
        )
        patterns.append(re.compile(regex))
    return patterns


def logged_names(run_dir, tiny_4dir, config: TrainerConfig) -> set[str]:
    """The names a (fake) run with ``config`` logs, with the pipeline's files."""
    trainer = FakeTrainer(
        run_dir,
        dataset=tiny_4dir,
        config=config,
        echo=None,
        invocation=Invocation(("python", "train.py"), "train.py", sweep="s1"),
    )
    trainer.echo = lambda line: None
    model = trainer.build_model(HP, 10)
    trainer.train(
        model,
        tiny_4dir.encode_lstm("train"),
        tiny_4dir.encode_lstm("valid_a"),
        tiny_4dir.metadata("train"),
        tiny_4dir.metadata("valid_a"),
        HP,
    )
    trainer.evaluate(model, tiny_4dir.encode_lstm("test"), tiny_4dir.metadata("test"), "test")
    (trainer.run_dir / "report.html").write_text("<html></html>")  # the pipeline's files
    (trainer.run_dir / ".hydra").mkdir()
    (trainer.run_dir / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (trainer.run_dir / "vocab.json").write_text("[]")
    log_learning_curve(trainer)
    log_run_files(trainer)
    trainer.close()
    lines = (trainer.run_dir / "metrics.jsonl").read_text().splitlines()
    return {json.loads(line)["name"] for line in lines}


def test_every_logged_name_is_documented(tmp_path, tiny_4dir, repo_root):
    by_epoch = logged_names(tmp_path / "runs" / "r", tiny_4dir, TrainerConfig(max_epochs=3))
    by_step = TrainerConfig(max_epochs=2, val_check_interval=0.5)
    logged = by_epoch | logged_names(tmp_path / "runs" / "s", tiny_4dir, by_step)
    assert "best/step" in logged - by_epoch  # a step only with val_check_interval
    patterns = documented_patterns(repo_root)
    undocumented = sorted(n for n in logged if not any(p.fullmatch(n) for p in patterns))
    assert undocumented == []
    unused = [p.pattern for p in patterns if not any(p.fullmatch(n) for n in logged)]
    assert unused == [], "documented names that a run never logs"
