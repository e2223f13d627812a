"""From word weights to the weighted text embedding z_n = W ⊙ z (paper eq. 5).

The CLIP tokenizer splits words into BPE pieces; its character offsets tell which word each piece came
from, and every piece gets its word's weight. The start token, the end token and the padding get 1.0.
A prompt longer than the encoder's window (77 tokens for CLIP) is cut, with a note naming the first word
the image model no longer sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .errors import notify
from .weighting import WordWeight


@dataclass
class TokenWeight:
    """One text-encoder token, the word it belongs to (None for start/end tokens) and its weight."""

    token: str
    word_index: int | None
    weight: float


@dataclass
class Conditioning:
    """Token ids for the text encoder and the weight of each position."""

    input_ids: torch.Tensor
    weights: torch.Tensor
    tokens: list[TokenWeight]
    notes: list[str] = field(default_factory=list)


def weight_tokens(tokenizer, prompt: str, words: Sequence[WordWeight] = ()) -> Conditioning:
    """Tokenize `prompt` to the encoder's fixed length and give each piece the weight of the word it overlaps most.

    Pieces outside every word (and every piece, when `words` is empty, as for a negative prompt) get 1.0.
    """
    length = tokenizer.model_max_length
    encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(encoded["input_ids"]), list(encoded["offset_mapping"])
    notes: list[str] = []
    room = length - 2
    if len(ids) > room:
        first_cut = offsets[room][0]
        dropped = next((w.word for w in words if w.end > first_cut), prompt[first_cut:].split()[0])
        notify(notes, f"The prompt is longer than the text encoder's {length} tokens; it is cut before “{dropped}”.")
        ids, offsets = ids[:room], offsets[:room]

    pieces = tokenizer.convert_ids_to_tokens(ids)
    tokens = [TokenWeight(tokenizer.bos_token, None, 1.0)]
    for piece, (start, end) in zip(pieces, offsets):
        overlaps = [(min(end, w.end) - max(start, w.start), i) for i, w in enumerate(words)]
        overlap, index = max(overlaps, default=(0, None))
        if overlap > 0:
            tokens.append(TokenWeight(piece, index, words[index].weight))
        else:
            tokens.append(TokenWeight(piece, None, 1.0))
    tokens.append(TokenWeight(tokenizer.eos_token, None, 1.0))

    padding = length - len(ids) - 2
    input_ids = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * padding
    weights = [t.weight for t in tokens] + [1.0] * padding
    return Conditioning(
        input_ids=torch.tensor([input_ids]),
        weights=torch.tensor([weights], dtype=torch.float32),
        tokens=tokens,
        notes=notes,
    )


def encode_text(text_encoder, input_ids: torch.Tensor) -> torch.Tensor:
    """z: the text encoder's last hidden states, the conditioning Stable Diffusion 1.x reads."""
    return text_encoder(input_ids.to(text_encoder.device))[0]


def apply_weights(z: torch.Tensor, weights: torch.Tensor, preserve_mean: bool = False) -> torch.Tensor:
    """Eq. 5: z_n = W ⊙ z with W per token (broadcast over channels) or per token and channel; optionally
    rescaled to the mean of z (released code)."""
    weights = weights.to(z.device, z.dtype)
    z_n = z * (weights if weights.dim() == z.dim() else weights.unsqueeze(-1))
    if preserve_mean:
        z_n = z_n * (z.mean() / z_n.mean())
    return z_n
