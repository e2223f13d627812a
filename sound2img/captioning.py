"""Audio captioning with audio attention (paper Sec. 3.1–3.2).

The audio attention A of a caption word is the probability the captioner gave to that word when it chose
it. Our default captioner is Whisper fine-tuned for audio captioning, whose vocabulary is byte-level BPE,
so one caption word may be several pieces. A word's audio attention is the product of the softmax
probabilities of its pieces: the probability the decoder assigned to emitting the whole word, the
quantity ACT's word-level decoder gives directly in the released code.

Words are runs of letters/digits (with inner apostrophes and hyphens, "man's", "dog-like") or runs of
punctuation ("."); `split_words` defines them once for every later stage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from .audio import Audio
from .errors import Sound2ImgError, notify

_WORD_PATTERN = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]+")


@dataclass(frozen=True)
class Word:
    """A word of a text and its character span [start, end) in that text."""

    text: str
    start: int
    end: int


def split_words(text: str) -> list[Word]:
    """Split a caption into words; every non-space character belongs to exactly one word."""
    return [Word(m.group(), m.start(), m.end()) for m in _WORD_PATTERN.finditer(text)]


@dataclass
class Caption:
    """A caption, its words, and each word's audio attention."""

    text: str
    words: list[Word]
    audio_attention: list[float]
    pieces: list[tuple[str, float]]
    notes: list[str]


class Captioner(Protocol):
    """Turns audio into a caption whose words carry the probability the model gave them."""

    def caption(self, audio: Audio) -> Caption: ...


def caption_from_pieces(tokenizer, piece_ids: Sequence[int], probabilities: Sequence[float]) -> tuple[str, list[Word], list[float]]:
    """Merge BPE pieces into caption words; a word's audio attention is the product of its pieces' probabilities.

    Each piece covers the characters it adds to the decoded text. A piece that adds no visible character (a
    bare space, or part of a multi-byte character) is counted with the next piece that does, so a word's
    attention includes the choice to start it; a piece that straddles two words counts for both.
    """
    spans: list[tuple[int, int]] = []
    carried = 1.0
    merged: list[float] = []
    previous_end = 0
    for index, probability in enumerate(probabilities):
        prefix = _decode(tokenizer, piece_ids[: index + 1]).rstrip("\ufffd")
        carried *= probability
        if prefix[previous_end:].strip():
            spans.append((previous_end, len(prefix)))
            merged.append(carried)
            carried = 1.0
            previous_end = len(prefix)
    raw = _decode(tokenizer, piece_ids)
    lead = len(raw) - len(raw.lstrip())
    text = raw.strip()
    words = split_words(text)
    attention = []
    for word in words:
        start, end = word.start + lead, word.end + lead
        attention.append(math.prod(p for (s, e), p in zip(spans, merged) if s < end and e > start))
    return text, words, attention


def _decode(tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


class WhisperCaptioner:
    """Whisper fine-tuned for audio captioning (MU-NLPC), decoded greedily with raw softmax probabilities.

    The model is prompted with `<|startoftranscript|><|en|><|transcribe|><|notimestamps|>` and a style text
    such as "clotho > caption: "; the caption is what it writes after that prompt. No logits processors
    are used, so the recorded probabilities are the model's own.
    """

    prompt_tokens = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")

    def __init__(self, model, tokenizer, feature_extractor, style_prefix: str = "clotho > caption: ", max_new_tokens: int = 64):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.style_prefix = style_prefix
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(cls, repo_id: str, revision: str, *, device: torch.device | str = "cpu", **kwargs) -> "WhisperCaptioner":
        from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

        model = WhisperForConditionalGeneration.from_pretrained(repo_id, revision=revision).to(device)
        tokenizer = WhisperTokenizer.from_pretrained(repo_id, revision=revision)
        feature_extractor = WhisperFeatureExtractor.from_pretrained(repo_id, revision=revision)
        return cls(model, tokenizer, feature_extractor, **kwargs)

    def prompt_ids(self) -> list[int]:
        special = self.tokenizer.convert_tokens_to_ids(list(self.prompt_tokens))
        return special + self.tokenizer.encode(self.style_prefix, add_special_tokens=False)

    def features(self, audio: Audio) -> torch.Tensor:
        rate = self.feature_extractor.sampling_rate
        features = self.feature_extractor(audio.resampled(rate), sampling_rate=rate, return_tensors="pt").input_features
        return features.to(self.model.device, self.model.dtype)

    @torch.no_grad()
    def generate(self, features: torch.Tensor) -> tuple[list[int], list[float], bool]:
        """Greedy decoding; returns the caption's piece ids, each piece's probability, and whether it ended."""
        stop_ids = set(self.tokenizer.all_special_ids)
        encoder_states = self.model.get_encoder()(features).last_hidden_state
        decoder_input = torch.tensor([self.prompt_ids()], device=features.device)
        cache = None
        ids: list[int] = []
        probabilities: list[float] = []
        for _ in range(self.max_new_tokens):
            out = self.model(encoder_outputs=(encoder_states,), decoder_input_ids=decoder_input, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            softmax = out.logits[0, -1].float().softmax(-1)
            chosen = int(softmax.argmax())
            if chosen in stop_ids:
                return ids, probabilities, True
            ids.append(chosen)
            probabilities.append(float(softmax[chosen]))
            decoder_input = torch.tensor([[chosen]], device=features.device)
        return ids, probabilities, False

    def caption(self, audio: Audio) -> Caption:
        ids, probabilities, finished = self.generate(self.features(audio))
        notes: list[str] = []
        if not finished:
            notify(notes, f"The caption reached the length limit of {self.max_new_tokens} pieces and was cut there.")
        text, words, attention = caption_from_pieces(self.tokenizer, ids, probabilities)
        if not words:
            raise Sound2ImgError(f"{audio.source}: the captioner could not describe this sound (it returned an empty caption).")
        pieces = list(zip(self.tokenizer.convert_ids_to_tokens(ids), probabilities))
        return Caption(text=text, words=words, audio_attention=attention, pieces=pieces, notes=notes)
