"""An entity-memory network: reads a story sentence by sentence into one memory slot per token.

The story is split into sentences at the sentence-end token (``.``). A memory holds one
``d_model`` state per vocabulary token, all starting from the same learned vector. Each
sentence, in order:

1. two attention heads over the sentence's tokens pick a *subject* and an *object*; their
   memory slots are read (a name's slot is the same slot wherever the name appears);
2. two content heads pool the sentence's embeddings (the verb, the direction or turn words);
3. an update network maps ``[subject state, object state, content]`` to a new, layer-normed
   state, written back into the subject's slot (softly, with the subject attention).

The question (the tokens after ``[SEP]``) reads two slots with two more attention heads, and a
classifier compares them: one logit, trained with ``BCEWithLogitsLoss``. The same update runs
once per sentence however many sentences there are, so stories longer than any seen in
training (more actors, more events) need no new parameters: this is the state-tracking
architecture storyqa offers for compositional generalisation. Its priors are that sentences
end with ``.`` and that a token names the same entity throughout a story.

Optionally, :meth:`EntityMemoryNetwork.forward_with_states` also returns, for each sentence, a
4-way prediction of the subject's direction after it (``state_head``), for the auxiliary state
loss (see :func:`stories.semantics.sentence_states`).

Example:
    >>> import torch
    >>> tokens = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", ".", "?", "ava", "is", "north", "walks")
    >>> model = EntityMemoryNetwork(len(tokens), tokens, d_model=8)
    >>> ids = torch.tensor([[2, 6, 9, 8, 4, 3, 7, 6, 5]])  # [CLS] ava walks north . [SEP] is ava ?
    >>> model(ids).shape
    torch.Size([1])
    >>> logits, states = model.forward_with_states(ids)
    >>> states.shape  # one sentence, four directions
    torch.Size([1, 1, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from models.entity_memory.config import EntityMemoryConfig

PAD_ID = 0
#: Directions the auxiliary state head predicts (clockwise from north).
DIRECTIONS = 4


def masked_softmax(scores: torch.Tensor, real: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax of ``scores`` over ``dim`` with padding (``real`` False) weighted 0; an
    all-padding slice gets equal weights instead of NaN (in any precision)."""
    return scores.masked_fill(~real, torch.finfo(scores.dtype).min).softmax(dim)


class EntityMemoryNetwork(nn.Module):
    """Sentence-recurrent memory with one slot per token; one logit per example.

    Args:
        vocab_size: Number of token ids; must be ``len(tokens)``.
        tokens: The vocabulary, in id order (the network finds the sentence-end and
            ``[SEP]`` ids in it, and its size sets the number of memory slots).
        **settings: :class:`EntityMemoryConfig`'s fields (its defaults for those left out).

    Attributes:
        state_loss_weight: The weight of the auxiliary state loss the Lightning trainer adds
            (through :meth:`forward_with_states`); 0 trains on answers alone.

    Raises:
        models.settings.SettingsError: A bad setting, or ``tokens`` lacks the sentence-end or
            question-start token.
        ValueError: ``vocab_size`` is not ``len(tokens)``.
    """

    #: The settings it takes, checked before any data is built.
    Settings: ClassVar[type[EntityMemoryConfig]] = EntityMemoryConfig
    #: Standard deviation of the learned initial state's initialisation.
    INITIAL_STATE_STD: ClassVar[float] = 0.1

    def __init__(self, vocab_size: int, tokens: Sequence[str], **settings: Any) -> None:
        super().__init__()
        if vocab_size != len(tokens):
            raise ValueError(f"vocab_size={vocab_size} but tokens has {len(tokens)} entries")
        config = EntityMemoryConfig.from_mapping(settings)
        config.check_vocabulary(tokens)
        self.config = config
        self.state_loss_weight = config.state_loss_weight
        self.tokens = tuple(tokens)
        self.vocab_size = len(self.tokens)
        width = config.d_model
        self.sentence_end_id = self.tokens.index(config.SENTENCE_END)
        self.question_start_id = self.tokens.index(config.QUESTION_START)
        self.embedding = nn.Embedding(self.vocab_size, width, padding_idx=PAD_ID)
        self.sentence_position = nn.Embedding(config.max_sentence_tokens, width)
        self.question_position = nn.Embedding(config.max_sentence_tokens, width)
        self.initial_state = nn.Parameter(torch.randn(width) * self.INITIAL_STATE_STD)
        self.address = nn.Linear(width, 2)  # subject, object
        self.content = nn.Linear(width, 2)  # two pooled views of the sentence
        self.update = nn.Sequential(
            nn.Linear(4 * width, 4 * width), nn.ReLU(), nn.Linear(4 * width, width)
        )
        self.norm = nn.LayerNorm(width)
        self.question_address = nn.Linear(width, 2)  # the two entities compared
        self.classifier = nn.Sequential(
            nn.Linear(4 * width, 2 * width), nn.ReLU(), nn.Linear(2 * width, 1)
        )
        self.state_head = nn.Linear(width, DIRECTIONS)

    def split(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences ``[B, S, T]`` and question ``[B, Q]`` token ids (``[PAD]``-filled).

        Sentence ``k`` of a row is its ``k``-th run of story tokens ending at the sentence-end
        token (a trailing run without one is a sentence too); the story is what lies between
        ``[CLS]`` and ``[SEP]``.

        Raises:
            ValueError: A row has no ``[SEP]``, or a sentence or the question is longer than
                ``max_sentence_tokens``.
        """
        batch, length = input_ids.shape
        device = input_ids.device
        is_sep = input_ids == self.question_start_id
        if not bool(is_sep.any(1).all()):
            raise ValueError(
                "input_ids: every row must be [CLS] story [SEP] question; encode the split "
                "with dataset.encode_transformer"
            )
        position = torch.arange(length, device=device).expand(batch, length)
        sep_position = is_sep.int().argmax(1, keepdim=True)
        in_story = (position >= 1) & (position < sep_position)
        ends = (input_ids == self.sentence_end_id) & in_story
        sentence = torch.cumsum(ends.long(), 1) - ends.long()
        starts = torch.zeros_like(ends)
        starts[:, 1:] = ends[:, :-1]
        starts[:, 1] = True
        start_position = torch.cummax(torch.where(starts, position, 0), 1).values
        offset = position - start_position
        in_question = (position > sep_position) & (input_ids != PAD_ID)
        question_offset = position - sep_position - 1
        widths = [
            int(offset[in_story].max()) + 1 if bool(in_story.any()) else 1,
            int(question_offset[in_question].max()) + 1 if bool(in_question.any()) else 1,
        ]
        if max(widths) > self.config.max_sentence_tokens:
            raise ValueError(
                f"a sentence or question has {max(widths)} tokens, more than "
                f"model.max_sentence_tokens={self.config.max_sentence_tokens}; raise it"
            )
        count = int(sentence[in_story].max()) + 1 if bool(in_story.any()) else 1
        rows = torch.arange(batch, device=device).unsqueeze(1).expand(batch, length)
        sentences = input_ids.new_zeros(batch, count, widths[0])
        sentences[rows[in_story], sentence[in_story], offset[in_story]] = input_ids[in_story]
        question = input_ids.new_zeros(batch, widths[1])
        question[rows[in_question], question_offset[in_question]] = input_ids[in_question]
        return sentences, question

    def forward_with_states(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B]`` and per-sentence direction logits ``[B, S, 4]``.

        Args:
            input_ids: ``[CLS] story [SEP] question``, right-padded with ``[PAD]`` (id 0).
        """
        sentences, question = self.split(input_ids)
        batch, count, width = sentences.shape
        d_model = self.config.d_model
        embedded = self.embedding(sentences) + self.sentence_position.weight[:width]
        real = (sentences != PAD_ID).unsqueeze(-1)
        address = masked_softmax(self.address(embedded), real, 2)
        pooling = masked_softmax(self.content(embedded), real, 2)
        contents = torch.einsum("bstk,bstd->bskd", pooling, embedded).reshape(batch, count, -1)
        present = real.squeeze(-1).any(2).to(embedded.dtype)
        memory = self.initial_state.to(embedded.dtype).expand(batch, self.vocab_size, d_model)
        new_states = []
        for step in range(count):
            ids = sentences[:, step]
            read = torch.gather(memory, 1, ids.unsqueeze(-1).expand(batch, width, d_model))
            subject, obj = torch.einsum("btk,btd->kbd", address[:, step], read)
            state = self.norm(self.update(torch.cat([subject, obj, contents[:, step]], -1)))
            slots = torch.nn.functional.one_hot(ids, self.vocab_size).to(embedded.dtype)
            write = torch.einsum("bt,btv->bv", address[:, step, :, 0], slots)
            write = (write * present[:, step, None]).unsqueeze(-1)
            memory = memory + write * (state.unsqueeze(1) - memory)
            new_states.append(state)
        logits = self._answer(memory, question)
        return logits, self.state_head(torch.stack(new_states, 1))

    def _answer(self, memory: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        width = question.size(1)
        embedded = self.embedding(question) + self.question_position.weight[:width]
        real = (question != PAD_ID).unsqueeze(-1)
        address = masked_softmax(self.question_address(embedded), real, 1)
        read = torch.gather(memory, 1, question.unsqueeze(-1).expand(-1, -1, memory.size(-1)))
        first, second = torch.einsum("btk,btd->kbd", address, read)
        features = torch.cat([first, second, first * second, (first - second).abs()], -1)
        return self.classifier(features).squeeze(-1)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for ``input_ids`` ``[B, L]`` (``[CLS] story [SEP] question``)."""
        return self.forward_with_states(input_ids)[0]
