"""W_init against numbers worked out by hand from the paper's eq. 1–3 and the released code.

Caption "A dog barks." with audio attention A = (0.9, 0.6, 0.3, 0.8) and sentence attention
S = (0.01, 0.95, 0.2, 0.0); with the noun threshold 0.5 only "dog" is a noun. λ_a = 0.1.
P(x) = 1 / (2 + e^(2 − 0.5x)):
  P(0.9) = 1/(2 + e^1.55) = 0.148999   P(0.6) = 1/(2 + e^1.70) = 0.133798
  P(0.3) = 1/(2 + e^1.85) = 0.119620   P(0.8) = 1/(2 + e^1.60) = 0.143822
  P(0)   = 1/(2 + e^2)    = 0.106507   P(1)   = 1/(2 + e^1.5)  = 0.154281
  P(2)   = 1/(2 + e^1)    = 0.211942   P(3)   = 1/(2 + e^0.5)  = 0.274069
"""

import pytest
import torch

from sound2img.captioning import Caption, split_words
from sound2img.conditioning import apply_weights
from sound2img.sentence_attention import NounScores
from sound2img.weighting import (
    WeightingConfig,
    caption_word_weights,
    join_prompt,
    positional_encoding,
    text_word_weights,
)

CAPTION = Caption(
    text="A dog barks.",
    words=split_words("A dog barks."),
    audio_attention=[0.9, 0.6, 0.3, 0.8],
    pieces=[],
    notes=[],
)
NOUNS = NounScores(probabilities=[0.01, 0.95, 0.2, 0.0], tags=["DET", "NOUN", "VERB", "PUNCT"])

EXPECTED = {
    # paper eq. 2 (noun): S + 0.1·A + P(A); eq. 3 (others): S + A + P(A)
    ("paper", True, True): [
        0.01 + 0.9 + 0.148999,  # A     1.058999
        0.95 + 0.06 + 0.133798,  # dog   1.143798
        0.2 + 0.3 + 0.119620,  # barks 0.619620
        0.0 + 0.8 + 0.143822,  # .     0.943822
    ],
    # without audio attention: A = 1 everywhere, so every P is P(1)
    ("paper", False, True): [0.01 + 1 + 0.154281, 0.95 + 0.1 + 0.154281, 0.2 + 1 + 0.154281, 0.0 + 1 + 0.154281],
    # without sentence attention: S = 0 and no nouns, eq. 3 for all
    ("paper", True, False): [0.9 + 0.148999, 0.6 + 0.133798, 0.3 + 0.119620, 0.8 + 0.143822],
    ("paper", False, False): [1.0, 1.0, 1.0, 1.0],
    # released code: nouns S + 0.1·A + P(position); others A + P(position)
    ("official", True, True): [0.9 + 0.106507, 0.95 + 0.06 + 0.154281, 0.3 + 0.211942, 0.8 + 0.274069],
    ("official", False, True): [1 + 0.106507, 0.95 + 0.1 + 0.154281, 1 + 0.211942, 1 + 0.274069],
    ("official", True, False): [0.9 + 0.106507, 0.6 + 0.154281, 0.3 + 0.211942, 0.8 + 0.274069],
    ("official", False, False): [1.0, 1.0, 1.0, 1.0],
}


def test_positional_encoding_eq1():
    assert positional_encoding(0.0) == pytest.approx(0.106507, abs=1e-6)
    assert positional_encoding(0.9) == pytest.approx(0.148999, abs=1e-6)
    assert positional_encoding(4.0) == pytest.approx(1 / 3, abs=1e-9)  # e^0 = 1


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_word_weights_match_hand_computed(key):
    variant, audio, sentence = key
    config = WeightingConfig(variant=variant, audio_attention=audio, sentence_attention=sentence)
    rows = caption_word_weights(CAPTION, NOUNS, config)
    assert [r.weight for r in rows] == pytest.approx(EXPECTED[key], abs=1e-6)
    assert [r.is_noun for r in rows] == [False, sentence, False, False]
    # The measured attentions are reported unchanged, whatever the ablation.
    assert [r.audio_attention for r in rows] == CAPTION.audio_attention
    assert [r.sentence_attention for r in rows] == NOUNS.probabilities


def test_noun_threshold_is_strict_and_configurable():
    rows = caption_word_weights(CAPTION, NOUNS, WeightingConfig(noun_threshold=0.95))
    assert not any(r.is_noun for r in rows)
    rows = caption_word_weights(CAPTION, NOUNS, WeightingConfig(noun_threshold=0.1))
    assert [r.is_noun for r in rows] == [False, True, True, False]


def test_lambda_a_scales_only_the_noun_audio_term():
    rows = caption_word_weights(CAPTION, NOUNS, WeightingConfig(lambda_a=0.5))
    assert rows[1].weight == pytest.approx(0.95 + 0.5 * 0.6 + 0.133798, abs=1e-6)
    assert rows[2].weight == pytest.approx(0.619620, abs=1e-6)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="paper"):
        WeightingConfig(variant="mine")


def test_text_fusion_words_get_the_user_weight_and_prompt_offsets():
    prompt, offset = join_prompt("A dog barks.", "  a car in the rain ")
    assert prompt == "A dog barks. a car in the rain"
    rows = text_word_weights("  a car in the rain ", offset, 1.7)
    assert [prompt[r.start : r.end] for r in rows] == ["a", "car", "in", "the", "rain"]
    assert all(r.weight == 1.7 and r.source == "text" and r.audio_attention is None for r in rows)
    assert join_prompt("A dog barks.", "   ") == ("A dog barks.", 12)
    assert text_word_weights(None, 12, 2.0) == []


def test_apply_weights_eq5_and_mean_preserving_variant():
    z = torch.arange(1.0, 13.0).reshape(1, 3, 4)
    w = torch.tensor([[1.0, 2.0, 0.5]])
    z_n = apply_weights(z, w)
    assert torch.equal(z_n[0, 1], 2.0 * z[0, 1])
    assert torch.equal(z_n[0, 2], 0.5 * z[0, 2])
    rescaled = apply_weights(z, w, preserve_mean=True)
    assert rescaled.mean().item() == pytest.approx(z.mean().item())
    assert torch.allclose(rescaled / z_n, torch.full_like(z, z.mean().item() / z_n.mean().item()))
