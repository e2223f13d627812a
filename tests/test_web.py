"""What the app shows, computed without Gradio."""

import pytest

from sound2img import web
from sound2img.captioning import split_words
from sound2img.weighting import WordWeight


def rows(prompt, weights):
    return [WordWeight(w.text, w.start, w.end, "caption", 0.5, 0.5, None, False, x) for w, x in zip(split_words(prompt), weights)]


def test_highlighted_words_cover_the_prompt_and_score_weight_minus_one():
    prompt = "A dog  barks."
    pieces = web.highlighted_words(prompt, rows(prompt, [1.0, 2.5, 0.4, 1.1]))
    assert "".join(text for text, _ in pieces) == prompt
    scores = [score for _, score in pieces if score is not None]
    assert scores == pytest.approx([0.0, 1.0, -0.6, 0.1])  # clipped to [-1, 1]


def test_controls_map_to_parameters():
    params = web.params_from_controls("tiny", 2.0, "", 1.5, "", 5, False, 8, 3.0, 64, False, True, "official",
                                      True, 4, 0.02, 0.002, 0.5, 1.0, 0.1, 3, 0)
    assert params.gain == 2.0 and params.text is None and params.seed == 5 and params.steps == 8
    assert params.weighting.variant == "official" and not params.weighting.audio_attention
    assert params.dso.steps == 4 and params.dso.grad_steps is None and params.dso.cutouts == 3 and params.dso.lr_noun == 0.02
    off = web.params_from_controls("tiny", 1.0, "x", 1.0, "", 5, True, 8, 3.0, 64, True, True, "paper",
                                   False, 4, 0.01, 0.001, 0.9, 1.0, 0.01, 0, 2)
    assert off.dso.steps == 0 and off.dso.grad_steps == 2 and off.text == "x"
    assert 0 <= off.seed <= web.MAX_SEED


def test_preset_defaults_and_gpu_time():
    assert web.preset_defaults("fast") == (4, 1.0, 512, True, 10, 8, 2)
    assert web.preset_defaults("tiny")[3] is False
    short, long = web.gpu_seconds(4, 0, 512, False), web.gpu_seconds(40, 10, 512, True)
    assert 20 <= short < long <= 600
    assert web.gpu_seconds(100, 20, 768, True) == 600  # capped


def test_caption_summary_and_table(tiny_pipe, example_wav):
    analysis = tiny_pipe.analyze(example_wav, web.caption_params(1.0, True, True, "paper"))
    summary = web.caption_summary(analysis)
    assert summary["caption"] == analysis.caption and len(summary["words"]) == len(analysis.words)
    table = web.word_table(analysis.words)
    assert len(table[0]) == len(web.TABLE_HEADERS) and table[0][-1] is None
