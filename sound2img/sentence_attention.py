"""Sentence attention (paper Sec. 3.2): the probability that each caption word is a noun.

FLAIR's universal POS tagger gives every token a probability for every tag; S(word) = P(NOUN) + P(PROPN).
FLAIR tokenizes on its own ("man's" becomes "man" + "'s"), so its tokens are matched to our caption
words by character spans, never by index: a word's S is the largest S among the FLAIR tokens that
overlap it ("man's" takes the noun "man", not the particle "'s").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from .captioning import Word

NOUN_TAGS = ("NOUN", "PROPN")


@dataclass
class NounScores:
    """Per caption word: the noun probability S and the tagger's most likely tag."""

    probabilities: list[float]
    tags: list[str]


class NounScorer(Protocol):
    """Scores how likely each word of a text is to be a noun."""

    def score(self, text: str, words: Sequence[Word]) -> NounScores: ...


class FlairNounScorer:
    """Sentence attention from a FLAIR sequence tagger with all-class probabilities."""

    def __init__(self, tagger, noun_tags: Sequence[str] = NOUN_TAGS):
        self.tagger = tagger.eval()
        self.noun_tags = tuple(noun_tags)

    @classmethod
    def from_pretrained(cls, repo_id: str, revision: str, **kwargs) -> "FlairNounScorer":
        from flair.models import SequenceTagger
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(repo_id=repo_id, filename="pytorch_model.bin", revision=revision)
        return cls(SequenceTagger.load(path), **kwargs)

    def score(self, text: str, words: Sequence[Word]) -> NounScores:
        from flair.data import Sentence

        sentence = Sentence(text)
        label_type = self.tagger.label_type
        self.tagger.predict(sentence, return_probabilities_for_all_classes=True, label_name=label_type)
        tokens = []
        for token in sentence:
            distribution = token.get_tags_proba_dist(label_type)
            noun = sum(float(label.score) for label in distribution if label.value in self.noun_tags)
            tokens.append((token.start_position, token.end_position, noun, token.get_label(label_type).value))
        probabilities, tags = [], []
        for word in words:
            overlapping = [t for t in tokens if t[0] < word.end and t[1] > word.start]
            best = max(overlapping, key=lambda t: t[2], default=(0, 0, 0.0, "X"))
            probabilities.append(best[2])
            tags.append(best[3])
        return NounScores(probabilities=probabilities, tags=tags)
