"""The Transformer model: padding mask used, positions of any length, scaled embeddings."""

from __future__ import annotations

import math

import pytest
import torch

from models.transformer import (
    SinusoidalPositionalEncoding,
    StoryTransformer,
    TransformerConfig,
)


def make_model(**overrides) -> StoryTransformer:
    torch.manual_seed(0)
    return StoryTransformer(40, d_model=16, nhead=2, d_hid=32, nlayers=2, **overrides).eval()


def test_logits_ignore_whatever_sits_under_the_padding_mask():
    model = make_model()
    ids = torch.tensor([[2, 5, 6, 3, 7, 0, 0, 0], [2, 5, 3, 8, 9, 10, 0, 0]])
    mask = ids == 0
    scrambled = ids.clone()
    scrambled[mask] = torch.randint(4, 40, (int(mask.sum()),))
    with torch.no_grad():
        reference = model(ids)
        assert torch.allclose(model(scrambled, mask), reference, atol=1e-5)
        # Without the mask the scrambled tokens are attended to and the logits move.
        assert not torch.allclose(model(scrambled, torch.zeros_like(mask)), reference, atol=1e-3)


def test_extra_padding_columns_do_not_change_the_logits():
    model = make_model()
    ids = torch.tensor([[2, 5, 6, 3, 7], [2, 5, 3, 8, 0]])
    padded = torch.cat([ids, torch.zeros(2, 30, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_positional_encoding_grows_to_any_length_and_matches_the_formula():
    encoding = SinusoidalPositionalEncoding(d_model=8)
    x = torch.zeros(1, 3000, 8)
    out = encoding(x)
    assert out.shape == (1, 3000, 8)
    position, i = 2500, 2
    assert out[0, position, 2 * i].item() == pytest.approx(
        math.sin(position / 10_000 ** (2 * i / 8)), abs=1e-4
    )
    assert out[0, position, 2 * i + 1].item() == pytest.approx(
        math.cos(position / 10_000 ** (2 * i / 8)), abs=1e-4
    )
    assert torch.equal(encoding(torch.zeros(1, 10, 8)), out[:, :10])


def test_embeddings_are_scaled_by_sqrt_d_model():
    model = make_model()
    ids = torch.tensor([[2, 5]])
    expected = model.embedding.weight[ids] * 4.0 + SinusoidalPositionalEncoding.encoding(2, 16)
    assert torch.allclose(model.embed(ids), expected)


def test_the_model_learns_a_separable_toy_task():
    torch.manual_seed(0)
    model = StoryTransformer(12, d_model=16, nhead=2, d_hid=32, nlayers=1)
    # Label: does token 5 appear anywhere after [CLS]? Needs attention from the CLS position.
    ids = torch.randint(4, 12, (256, 10))
    ids[:, 0] = 2
    labels = (ids[:, 1:] == 5).any(dim=1).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    first = loss_fn(model(ids), labels).item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = loss_fn(model(ids), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.5
    assert ((model(ids) > 0).float() == labels).float().mean() > 0.9


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"d_model": 10, "nhead": 4}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"nlayers": 0}, "model.nlayers"),
    ],
)
def test_invalid_hyperparameters_name_the_key(overrides, message):
    base = {"d_model": 16, "nhead": 2}
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**{**base, **overrides})
    with pytest.raises(ValueError, match=message):
        StoryTransformer(10, **{**base, **overrides})


@pytest.mark.parametrize("vocab_size", [0, -3, 2.5, True])
def test_rejects_a_bad_vocabulary_size(vocab_size: object) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        StoryTransformer(vocab_size)  # type: ignore[arg-type]


def full_encoder_logits(model: StoryTransformer, ids: torch.Tensor) -> torch.Tensor:
    """Logits from every position of every layer, reading [CLS] at the end."""
    hidden = model.encoder(model.embed(ids), src_key_padding_mask=ids == 0)
    return model.classifier(hidden[:, 0]).squeeze(-1)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("nlayers", [1, 3])
@pytest.mark.parametrize("training", [True, False])
def test_computing_only_the_cls_position_of_the_last_layer_changes_nothing(
    norm_first, nlayers, training
):
    torch.manual_seed(0)
    model = StoryTransformer(
        40, d_model=16, nhead=2, d_hid=32, nlayers=nlayers, norm_first=norm_first
    ).train(training)
    ids = torch.randint(4, 40, (5, 30))
    ids[:, 0] = 2
    ids[2, 20:] = 0
    logits, reference = model(ids), full_encoder_logits(model, ids)
    assert torch.allclose(logits, reference, atol=1e-5)
    (gradient,) = torch.autograd.grad(logits.sum(), model.embedding.weight)
    (reference_gradient,) = torch.autograd.grad(reference.sum(), model.embedding.weight)
    assert torch.allclose(gradient, reference_gradient, atol=1e-5)
    assert gradient.abs().sum() > 0
