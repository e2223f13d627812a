"""Word → text-encoder token alignment through the tokenizer's character offsets."""

import pytest
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

from sound2img.captioning import split_words
from sound2img.conditioning import weight_tokens
from sound2img.errors import Sound2ImgWarning
from sound2img.tiny import clip_tokenizer
from sound2img.weighting import WordWeight


@pytest.fixture(scope="module")
def tokenizer():
    return clip_tokenizer()


def rows_for(prompt: str) -> list[WordWeight]:
    """Each word gets a distinct weight (0.1, 0.2, ...) so a token's weight names its word."""
    return [
        WordWeight(w.text, w.start, w.end, "caption", 0.5, 0.5, None, False, round(0.1 * (i + 1), 6))
        for i, w in enumerate(split_words(prompt))
    ]


def pieces_by_word(conditioning, n_words: int) -> list[str]:
    """The text that the pieces given to each word spell out."""
    pieces: list[list[str]] = [[] for _ in range(n_words)]
    for token in conditioning.tokens:
        if token.word_index is not None:
            pieces[token.word_index].append(token.token)
    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    return [bytes(to_byte[c] for c in "".join(p).replace("</w>", "")).decode() for p in pieces]


@pytest.mark.parametrize(
    "prompt",
    [
        "A man's dog-like dog barks, 10 times!!",
        "Rain falls; a woman’s umbrella… flaps in 3-4 gusts (loudly).",
        "dog dog dog barks dog",
        "Birds' chirping and a car's horn — 2 honks.",
    ],
)
def test_every_piece_carries_its_own_words_weight(tokenizer, prompt):
    words = rows_for(prompt)
    conditioning = weight_tokens(tokenizer, prompt, words)
    # The pieces given to word i spell word i (lower-cased, as CLIP does), so no piece went to a neighbour.
    assert pieces_by_word(conditioning, len(words)) == [w.word.lower() for w in words]
    for token in conditioning.tokens:
        if token.word_index is not None:
            assert token.weight == words[token.word_index].weight


def test_repeated_words_keep_their_own_weights(tokenizer):
    prompt = "dog dog dog"
    conditioning = weight_tokens(tokenizer, prompt, rows_for(prompt))
    inner = conditioning.tokens[1:-1]
    assert [t.word_index for t in inner] == [0, 1, 2]
    assert [t.weight for t in inner] == [0.1, 0.2, 0.3]


def test_layout_matches_the_tokenizers_own_padding(tokenizer):
    prompt = "A dog barks."
    conditioning = weight_tokens(tokenizer, prompt, rows_for(prompt))
    reference = tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
    assert conditioning.input_ids.tolist() == [reference]
    n = len(conditioning.tokens)
    weights = conditioning.weights[0].tolist()
    assert conditioning.tokens[0].token == "<|startoftext|>" and conditioning.tokens[-1].token == "<|endoftext|>"
    assert weights[0] == 1.0 and weights[n - 1] == 1.0
    assert weights[n:] == [1.0] * (77 - n)
    assert weights[1 : n - 1] == pytest.approx([t.weight for t in conditioning.tokens[1:-1]])


def test_long_caption_is_cut_with_a_note_naming_the_first_lost_word(tokenizer):
    words = [f"w{i}" for i in range(120)]  # each "w<i>" is several pieces in the tiny vocabulary
    prompt = " ".join(words)
    with pytest.warns(Sound2ImgWarning, match="cut before"):
        conditioning = weight_tokens(tokenizer, prompt, rows_for(prompt))
    assert conditioning.input_ids.shape == (1, 77)
    assert len(conditioning.tokens) == 77
    reference = tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
    assert conditioning.input_ids.tolist() == [reference]
    last_kept = max(t.word_index for t in conditioning.tokens if t.word_index is not None)
    note = conditioning.notes[0]
    # The first word not (fully) seen is the last partly kept one or the next one.
    assert f"“w{last_kept}”" in note or f"“w{last_kept + 1}”" in note


def test_negative_prompt_is_unweighted(tokenizer):
    conditioning = weight_tokens(tokenizer, "blurry, low quality")
    assert set(conditioning.weights[0].tolist()) == {1.0}
    assert all(t.word_index is None for t in conditioning.tokens)
