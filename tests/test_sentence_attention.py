"""Sentence attention from a FLAIR tagger trained here, offline, on a few tagged sentences."""

import pytest
import torch
from flair.data import Sentence

from sound2img.captioning import split_words
from sound2img.sentence_attention import FlairNounScorer
from sound2img.tiny import flair_tagger

TRAINING = [
    ("a dog barks .", "DET NOUN VERB PUNCT"),
    ("the man speaks loudly", "DET NOUN VERB ADV"),
    ("a car passes", "DET NOUN VERB"),
    ("birds chirp", "NOUN VERB"),
    ("the woman laughs .", "DET NOUN VERB PUNCT"),
    ("the man 's horse neighs", "DET NOUN PART NOUN VERB"),
    ("a dog-like cat meows", "DET ADJ NOUN VERB"),
    ("rain falls", "NOUN VERB"),
]


@pytest.fixture(scope="module")
def scorer():
    torch.manual_seed(0)
    tagger = flair_tagger()
    sentences = []
    for text, tags in TRAINING:
        sentence = Sentence(text.split())
        for token, tag in zip(sentence, tags.split()):
            token.add_label("upos", tag)
        sentences.append(sentence)
    optimizer = torch.optim.Adam(tagger.parameters(), lr=0.05)
    tagger.train()
    for _ in range(80):
        loss, count = tagger.forward_loss(sentences)
        optimizer.zero_grad()
        (loss / count).backward()
        optimizer.step()
        for sentence in sentences:
            sentence.clear_embeddings()
    return FlairNounScorer(tagger)


def test_nouns_score_high_and_verbs_low(scorer):
    text = "A dog barks loudly."
    result = scorer.score(text, split_words(text))
    s = dict(zip([w.text for w in split_words(text)], result.probabilities))
    assert s["dog"] > 0.5
    assert s["barks"] < 0.5 and s["A"] < 0.5 and s["."] < 0.5
    assert result.tags[1] == "NOUN"


def test_score_is_noun_plus_propn_probability_of_the_aligned_flair_token(scorer):
    text = "The man's dog-like horse neighs, 2 birds chirp."
    words = split_words(text)
    result = scorer.score(text, words)

    # FLAIR splits "man's" into "man" + "'s"; recompute S per FLAIR token straight from the tagger.
    sentence = Sentence(text)
    scorer.tagger.predict(sentence, return_probabilities_for_all_classes=True)
    per_token = {
        token.text: sum(l.score for l in token.get_tags_proba_dist("upos") if l.value in ("NOUN", "PROPN"))
        for token in sentence
    }
    assert [t.text for t in sentence][:4] == ["The", "man", "'s", "dog-like"]
    by_word = dict(zip([w.text for w in words], result.probabilities))
    assert by_word["man's"] == pytest.approx(max(per_token["man"], per_token["'s"]))
    assert by_word["man's"] == pytest.approx(per_token["man"])  # the noun part wins
    assert by_word["dog-like"] == pytest.approx(per_token["dog-like"])
    assert by_word["horse"] == pytest.approx(per_token["horse"])
    assert by_word[","] == pytest.approx(per_token[","])
    assert len(result.probabilities) == len(words) == len(result.tags)
    assert all(0.0 <= p <= 1.0 + 1e-6 for p in result.probabilities)


def test_alignment_survives_unusual_spacing_and_unicode(scorer):
    text = "A  woman’s   umbrella… (3-4 gusts)"
    words = split_words(text)
    result = scorer.score(text, words)
    assert len(result.probabilities) == len(words)
    assert all(p > 0.0 for p in result.probabilities)  # every word found at least one FLAIR token
