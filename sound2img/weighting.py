"""W_init: one weight per caption word from audio attention A and sentence attention S (paper Sec. 3.3).

Two variants, each written out once:

- ``paper`` (default), eq. 1–3, with P evaluated at the word's audio attention:
      nouns      W_n  = S + λ_a·A + P(A)          (eq. 2)
      non-nouns  W_wn = S + A + P(A)              (eq. 3)
- ``official``, what the authors' released code does: P is evaluated at the word's 0-based position in
  the caption, non-nouns drop the S term, and z_n is later rescaled to keep the mean of z:
      nouns      W = S + λ_a·A + P(position)
      non-nouns  W = A + P(position)

with P(x) = 1 / (2 + e^(2 − 0.5x)) (eq. 1) and λ_a = 0.1. A word is a noun when S > noun_threshold.

Ablations (paper Sec. 5) switch an attention off by giving it a neutral value:
- without audio attention: A = 1 for every word (the captioner is taken as certain);
- without sentence attention: S = 0 and no word is a noun (nothing is emphasised as an object);
- without both: W = 1 for every word, i.e. the plain caption embedding (the paper's "w/o attns").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .captioning import Caption, split_words
from .sentence_attention import NounScores

Variant = Literal["paper", "official"]


@dataclass
class WeightingConfig:
    """How W_init is formed; the defaults are the paper's."""

    variant: Variant = "paper"
    lambda_a: float = 0.1
    noun_threshold: float = 0.5
    audio_attention: bool = True
    sentence_attention: bool = True

    def __post_init__(self) -> None:
        if self.variant not in WORD_WEIGHTS:
            raise ValueError(f"Unknown weighting variant {self.variant!r}; choose one of {sorted(WORD_WEIGHTS)}.")

    @property
    def preserve_mean(self) -> bool:
        """The released code rescales z_n to the mean of z; the paper does not."""
        return self.variant == "official"


@dataclass
class WordWeight:
    """One row of the word table: what the models said about a word and the weight it gets."""

    word: str
    start: int
    end: int
    source: Literal["caption", "text"]
    audio_attention: float | None
    sentence_attention: float | None
    tag: str | None
    is_noun: bool
    weight: float


def positional_encoding(x: float) -> float:
    """Eq. 1: P(x) = 1 / (2 + e^(2 − 0.5x))."""
    return 1.0 / (2.0 + math.exp(2.0 - 0.5 * x))


def paper_word_weight(a: float, s: float, is_noun: bool, position: int, lambda_a: float) -> float:
    """Eq. 2 for nouns, eq. 3 for the other words."""
    if is_noun:
        return s + lambda_a * a + positional_encoding(a)
    return s + a + positional_encoding(a)


def official_word_weight(a: float, s: float, is_noun: bool, position: int, lambda_a: float) -> float:
    """The released code: P over the word position, no S term for non-nouns."""
    if is_noun:
        return s + lambda_a * a + positional_encoding(position)
    return a + positional_encoding(position)


WORD_WEIGHTS = {"paper": paper_word_weight, "official": official_word_weight}


def caption_word_weights(caption: Caption, nouns: NounScores, config: WeightingConfig) -> list[WordWeight]:
    """W_init for every caption word, with the measured A and S kept beside it for display."""
    word_weight = WORD_WEIGHTS[config.variant]
    rows = []
    for position, (word, a, s, tag) in enumerate(zip(caption.words, caption.audio_attention, nouns.probabilities, nouns.tags)):
        is_noun = config.sentence_attention and s > config.noun_threshold
        if not (config.audio_attention or config.sentence_attention):
            weight = 1.0
        else:
            used_a = a if config.audio_attention else 1.0
            used_s = s if config.sentence_attention else 0.0
            weight = word_weight(used_a, used_s, is_noun, position, config.lambda_a)
        rows.append(WordWeight(word.text, word.start, word.end, "caption", a, s, tag, is_noun, weight))
    return rows


def join_prompt(caption: str, text: str | None) -> tuple[str, int]:
    """The prompt the image model reads: the caption, then the user's extra text (sound + text fusion, Sec. 4.7).

    Returns the prompt and the offset at which the extra text starts.
    """
    if not text or not text.strip():
        return caption, len(caption)
    return f"{caption} {text.strip()}", len(caption) + 1


def text_word_weights(text: str | None, offset: int, weight: float) -> list[WordWeight]:
    """Rows for the user's extra text: every word gets the user's fusion weight, nothing is measured."""
    if not text or not text.strip():
        return []
    return [
        WordWeight(w.text, w.start + offset, w.end + offset, "text", None, None, None, False, float(weight))
        for w in split_words(text.strip())
    ]
