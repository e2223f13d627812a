"""Audio attention: per-word probabilities from the captioner, recomputed independently here."""

import math

import pytest
import torch

from sound2img.audio import load_audio
from sound2img.captioning import caption_from_pieces, split_words
from sound2img.tiny import whisper_tokenizer


def test_split_words_keeps_inner_apostrophes_and_hyphens_and_separates_punctuation():
    words = split_words("A man's dog-like dog barks, 10 times!!  Rock’n’roll.")
    assert [w.text for w in words] == ["A", "man's", "dog-like", "dog", "barks", ",", "10", "times", "!!", "Rock’n’roll", "."]
    text = "A man's dog-like dog barks, 10 times!!  Rock’n’roll."
    assert all(text[w.start : w.end] == w.text for w in words)


def test_word_probability_is_the_product_of_its_pieces():
    tokenizer = whisper_tokenizer()
    ids = tokenizer.encode(" A man's dog-like café barks.", add_special_tokens=False)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    # How the tiny BPE splits this caption (checked here so the expectation below is grounded):
    assert pieces == ["ĠA", "Ġm", "an", "'", "s", "Ġ", "dog", "-", "li", "k", "e", "Ġca", "f", "Ã", "©", "Ġb", "ar", "k", "s", "."]
    probabilities = [0.9, 0.5, 0.8, 0.7, 0.6, 0.95, 0.4, 0.9, 0.8, 0.9, 0.7, 0.3, 0.9, 0.5, 0.6, 0.8, 0.9, 0.7, 0.95, 0.99]
    text, words, attention = caption_from_pieces(tokenizer, ids, probabilities)
    assert text == "A man's dog-like café barks."
    assert [w.text for w in words] == ["A", "man's", "dog-like", "café", "barks", "."]
    expected = [
        0.9,
        0.5 * 0.8 * 0.7 * 0.6,
        0.95 * 0.4 * 0.9 * 0.8 * 0.9 * 0.7,  # the bare space piece "Ġ" belongs to the word it leads into
        0.3 * 0.9 * 0.5 * 0.6,  # "Ã" completes no character alone; it counts with "©"
        0.8 * 0.9 * 0.7 * 0.95,
        0.99,
    ]
    assert attention == pytest.approx(expected, rel=1e-12)


def test_prompt_is_the_special_prefix_then_the_style_text(tiny_parts):
    captioner = tiny_parts.captioner
    tok = captioner.tokenizer
    prompt = captioner.prompt_ids()
    assert tok.convert_ids_to_tokens(prompt[:4]) == ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    assert tok.decode(prompt[4:]) == "clotho > caption: "


def test_audio_attention_equals_teacher_forced_softmax(tiny_parts, example_wav):
    captioner = tiny_parts.captioner
    audio = load_audio(example_wav)
    caption = captioner.caption(audio)
    ids, probabilities, _ = captioner.generate(captioner.features(audio))

    # Independent recomputation: one teacher-forced pass over prompt + caption, raw softmax at each position.
    prompt = captioner.prompt_ids()
    sequence = torch.tensor([prompt + ids])
    with torch.no_grad():
        logits = captioner.model(input_features=captioner.features(audio), decoder_input_ids=sequence).logits[0]
    softmax = logits.softmax(-1)
    positions = range(len(prompt) - 1, len(prompt) - 1 + len(ids))
    forced = [softmax[p, token].item() for p, token in zip(positions, ids)]
    assert probabilities == pytest.approx(forced, rel=1e-4)
    # Greedy: each chosen piece is the most likely one.
    assert [int(softmax[p].argmax()) for p in positions] == ids

    # Every piece of the tiny captioner is a whole space-led word, so word i's attention is piece i's.
    assert len(caption.words) == len(ids)
    assert caption.audio_attention == pytest.approx(forced, rel=1e-4)
    assert math.prod(p for _, p in caption.pieces) == pytest.approx(math.prod(caption.audio_attention), rel=1e-9)


def test_louder_input_changes_the_audio_attention(tiny_parts, example_wav):
    captioner = tiny_parts.captioner
    quiet = captioner.caption(load_audio(example_wav, gain=1.0))
    loud = captioner.caption(load_audio(example_wav, gain=3.0))
    assert quiet.audio_attention != pytest.approx(loud.audio_attention, rel=1e-6)


def test_caption_ends_at_the_end_token_or_says_it_was_cut(tiny_parts, example_wav):
    from sound2img.captioning import WhisperCaptioner

    captioner = tiny_parts.captioner
    audio = load_audio(example_wav)
    ids, _, finished = captioner.generate(captioner.features(audio))
    assert finished and len(ids) == 8 < captioner.max_new_tokens  # the tiny captioner ends after 8 words
    assert captioner.caption(audio).notes == []
    short = WhisperCaptioner(captioner.model, captioner.tokenizer, captioner.feature_extractor, max_new_tokens=3)
    cut = short.caption(audio)
    assert len(cut.words) == 3 and cut.notes == ["The caption reached the length limit of 3 pieces and was cut there."]
