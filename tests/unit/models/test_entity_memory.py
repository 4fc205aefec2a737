"""The entity-memory model: sentence splitting, padding invariance, any story length, errors."""

from __future__ import annotations

import pytest
import torch

from models.entity_memory import EntityMemoryConfig, EntityMemoryNetwork, masked_softmax
from stories.vocab import Vocabulary

VOCAB = Vocabulary.build(
    [
        "Ava walks north. Ben follows Ava. Cara turns left. Ben goes in the opposite "
        "direction of Cara. Is Ava going in the same direction as Ben?"
    ]
)


def ids_of(story: str, question: str = "Is Ava going in the same direction as Ben?") -> list[int]:
    return [2, *VOCAB.encode(story), 3, *VOCAB.encode(question)]


def batch(*rows: list[int], width: int | None = None) -> torch.Tensor:
    width = width or max(map(len, rows))
    return torch.tensor([row + [0] * (width - len(row)) for row in rows])


def make_model(**overrides) -> EntityMemoryNetwork:
    torch.manual_seed(0)
    return EntityMemoryNetwork(len(VOCAB.tokens), VOCAB.tokens, d_model=8, **overrides)


def test_split_gives_each_sentence_and_the_question_their_own_padded_rows():
    model = make_model()
    long = ids_of("Ava walks north. Ben follows Ava. Cara turns left.")
    short = ids_of("Ava walks north.", "Is Ava going?")
    sentences, question = model.split(batch(long, short))
    decoded = [[VOCAB.decode(s.tolist()) for s in row] for row in sentences]
    assert decoded[0] == [["ava", "walks", "north", "."], ["ben", "follows", "ava", "."],
                          ["cara", "turns", "left", "."]]  # fmt: skip
    assert decoded[1] == [["ava", "walks", "north", "."], [], []]
    assert VOCAB.decode(question[1].tolist()) == ["is", "ava", "going", "?"]
    assert VOCAB.decode(question[0].tolist())[-2:] == ["ben", "?"]


def test_padding_and_batch_neighbours_do_not_change_a_rows_logit():
    model = make_model().eval()
    short = ids_of("Ava walks north. Ben follows Ava.")
    long = ids_of("Ava walks north. Ben follows Ava. Cara turns left. Ava turns left.")
    with torch.no_grad():
        alone = model(batch(short))
        padded = model(batch(short, width=len(short) + 20))
        beside_long = model(batch(short, long))[0]
    assert torch.allclose(alone, padded, atol=1e-6)
    assert torch.allclose(alone[0], beside_long, atol=1e-6)


def test_the_story_changes_the_answer_and_states_come_one_per_sentence():
    model = make_model().eval()
    rows = batch(
        ids_of("Ava walks north. Ben follows Ava."), ids_of("Ava walks north. Ben walks north.")
    )
    with torch.no_grad():
        logits, states = model.forward_with_states(rows)
    assert states.shape == (2, 2, 4)
    assert not torch.allclose(logits[0], logits[1])


def test_any_number_of_sentences_runs_with_the_same_parameters():
    model = make_model().eval()
    story = "Ava walks north. " + "Ben follows Ava. Ava turns left. " * 150
    with torch.no_grad():
        logits, states = model.forward_with_states(batch(ids_of(story)))
    assert states.shape[1] == 301 and torch.isfinite(logits).all()


def test_a_row_without_sep_or_an_overlong_sentence_is_refused():
    model = make_model(max_sentence_tokens=6)
    with pytest.raises(ValueError, match=r"\[CLS\] story \[SEP\] question"):
        model(torch.tensor([[2, *VOCAB.encode("Ava walks north.")]]))
    with pytest.raises(ValueError, match=r"model\.max_sentence_tokens=6"):
        model(batch(ids_of("Ben goes in the opposite direction of Cara.")))


def test_a_vocabulary_without_a_sentence_end_is_refused():
    with pytest.raises(ValueError, match=r"model.sentence_end: '\.' is not in the vocabulary"):
        EntityMemoryNetwork(5, ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "ava"))


def test_config_round_trips_through_plain_containers():
    config = EntityMemoryConfig(d_model=8, state_loss_weight=0.5)
    assert EntityMemoryConfig.from_mapping(config.to_dict()) == config
    model = EntityMemoryNetwork(len(VOCAB.tokens), VOCAB.tokens, **config.to_dict())
    assert model.config == config and model.state_loss_weight == 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_masked_softmax_ignores_padding_and_never_gives_nan(dtype: torch.dtype) -> None:
    scores = torch.tensor([[3.0, 1.0, 50.0], [2.0, 2.0, 2.0]], dtype=dtype)
    real = torch.tensor([[True, True, False], [False, False, False]])
    weights = masked_softmax(scores, real, 1).float()
    assert weights[0, 2] == 0 and abs(float(weights[0, :2].sum()) - 1) < 1e-2
    assert not torch.isnan(weights).any()
