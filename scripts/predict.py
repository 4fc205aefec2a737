"""Answer new stories with a finished run's model: a JSONL file of stories and questions, or one
story given on the command line.

Usage::

    python scripts/predict.py run=<run_id> input=stories.jsonl output=predictions.jsonl
    python scripts/predict.py run=<run_id> story="Ava walks north. Ben follows Ava." \
        question="Is Ben going in the same direction as Ava?"

Input rows need ``story`` and ``question``; each output row is the input row plus
``probability`` (of ``yes``) and ``answer`` (``yes``/``no``), in input order. Rows that give an
``answer`` are scored (console report; the input answer is kept as ``expected_answer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from models.settings import SettingsError
from scripts._cli import CONFIG_DIR, register_configs, reports_user_errors, to_plain
from trainers.records.registry import Registry

register_configs()


def _mode(plain: dict[str, Any]) -> str:
    """``file`` or ``story``, refusing keys that do not go together."""
    has_input = plain["input"] is not None
    has_story = plain["story"] is not None or plain["question"] is not None
    if has_input and has_story:
        raise SettingsError("input: give input=<file> or story=... question=..., not both")
    if has_input:
        return "file"
    if plain["story"] is None or plain["question"] is None:
        missing = "question" if plain["story"] is not None else "story"
        if not has_story:
            raise SettingsError(
                "input: give input=<stories.jsonl> (one story and question per line), or "
                'story="..." question="..."'
            )
        given = "story" if missing == "question" else "question"
        raise SettingsError(f'{missing}: required with {given}=; give {missing}="..."')
    if plain["output"] is not None:
        raise SettingsError("output: only with input=<file>; one story's answer is printed")
    return "story"


@hydra.main(config_path=CONFIG_DIR, config_name="predict", version_base="1.3")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    from trainers.runs.predict import Predictor, output_file, predict_file

    plain = to_plain(cfg)
    mode = _mode(plain)
    if mode == "file":  # a bad output is refused before the model is loaded
        output_file(plain["input"], plain["output"])
    run_dir = Registry(Path(plain["paths"]["output_dir"])).resolve_run(plain["run"])
    predictor = Predictor.from_run(
        run_dir, plain["checkpoint"], allow_unknown_words=bool(plain["allow_unknown_words"])
    )
    if mode == "story":
        prediction = predictor.predict([str(plain["story"])], [str(plain["question"])])
        probability = float(prediction.probabilities[0])
        print(f"{prediction.answers[0]} (probability of yes: {probability:.4f})")
        return
    done = predict_file(
        predictor, Path(plain["input"]), plain["output"], progress=bool(plain["progress"])
    )
    if done.evaluation is not None:
        print(f"\n{done.scored} of {done.rows} rows give an answer:")
        print(done.evaluation.console_report())
    print(
        f"\nPredicted {done.rows} rows of {plain['input']} with run {run_dir.name}: {done.output}"
    )


if __name__ == "__main__":
    main()
