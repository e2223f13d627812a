"""What the web app shows, computed without Gradio: controls → parameters, results → display values.

`app.py` only lays out components and wires events to these functions, so everything here can be
called and tested without a browser.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from PIL import Image

from .dso import DSOConfig
from .pipeline import CaptionAnalysis, GenerationParams, Sound2Image, Sound2ImageOutput
from .presets import get_preset
from .weighting import WeightingConfig

MAX_SEED = 2**31 - 1
TABLE_HEADERS = ["word", "source", "audio attention A", "sentence attention S", "noun", "W_init", "W after DSO"]

_pipelines: dict[str, Sound2Image] = {}
_lock = threading.Lock()


def pipeline(preset: str) -> Sound2Image:
    """The pipeline of a preset, loaded on first use and kept: models are never loaded per request."""
    with _lock:
        if preset not in _pipelines:
            _pipelines[preset] = Sound2Image.from_preset(preset)
        return _pipelines[preset]


def params_from_controls(
    preset: str,
    gain: float,
    text: str,
    text_weight: float,
    negative: str,
    seed: int,
    randomize_seed: bool,
    steps: int,
    guidance: float,
    size: int,
    audio_attention: bool,
    sentence_attention: bool,
    weighting: str,
    dso_on: bool,
    dso_steps: int,
    lr_noun: float,
    lr_other: float,
    lambda_aclip: float,
    lambda_clip: float,
    lambda_l2: float,
    cutouts: int,
    grad_steps: int,
) -> GenerationParams:
    """One run's parameters from the app's controls; `grad_steps` 0 means every sampler step."""
    base = get_preset(preset).dso
    dso = DSOConfig(
        steps=int(dso_steps) if dso_on else 0,
        lr_noun=lr_noun,
        lr_other=lr_other,
        lambda_aclip=lambda_aclip,
        lambda_clip=lambda_clip,
        lambda_l2=lambda_l2,
        cutouts=int(cutouts),
        grad_steps=int(grad_steps) or None,
        decoder=base.decoder,
        checkpoint=base.checkpoint,
        seed=int(seed),
    )
    return GenerationParams(
        gain=float(gain),
        text=text or None,
        text_weight=float(text_weight),
        negative_prompt=negative or "",
        seed=random.randint(0, MAX_SEED) if randomize_seed else int(seed),
        steps=int(steps),
        guidance_scale=float(guidance),
        size=int(size),
        weighting=WeightingConfig(variant=weighting, audio_attention=audio_attention, sentence_attention=sentence_attention),
        dso=dso,
    )


def caption_params(gain: float, audio_attention: bool, sentence_attention: bool, weighting: str) -> GenerationParams:
    """Parameters of the cheap caption-only run: the gain and the W_init settings are all it reads."""
    return GenerationParams(
        gain=float(gain),
        weighting=WeightingConfig(variant=weighting, audio_attention=audio_attention, sentence_attention=sentence_attention),
    )


def preset_defaults(preset: str) -> tuple[int, float, int, bool, int, int, int]:
    """Sampler and DSO settings a preset starts from: steps, guidance, size, DSO on, DSO steps, cutouts, K."""
    p = get_preset(preset)
    return p.steps, p.guidance_scale, p.size, p.dso.steps > 0, p.dso.steps or 3, p.dso.cutouts, p.dso.grad_steps or 0


def gpu_seconds(steps: int, dso_steps: int, size: int, dso_on: bool = True) -> int:
    """A generous GPU-time request for one run (for `spaces.GPU`): renderings × steps × a per-step cost."""
    renderings = 1 + (int(dso_steps) if dso_on else 0)
    per_step = 0.08 * (int(size) / 512) ** 2 * (3.0 if dso_on and dso_steps else 1.0)
    return int(min(600, 20 + renderings * int(steps) * per_step))


def highlighted_words(prompt: str, words: list, weights: list[float] | None = None) -> list[tuple[str, float | None]]:
    """The prompt as (text, score) pieces for highlighting: each word scored by its weight − 1 in [-1, 1]."""
    weights = weights if weights is not None else [w.weight for w in words]
    pieces, cursor = [], 0
    for word, weight in zip(words, weights):
        if word.start > cursor:
            pieces.append((prompt[cursor : word.start], None))
        pieces.append((prompt[word.start : word.end], max(-1.0, min(1.0, weight - 1.0))))
        cursor = word.end
    if cursor < len(prompt):
        pieces.append((prompt[cursor:], None))
    return pieces


def word_table(words: list, weights_after: list[float] | None = None) -> list[list[Any]]:
    after = weights_after or [None] * len(words)
    return [
        [w.word, w.source, _round(w.audio_attention), _round(w.sentence_attention), w.is_noun, _round(w.weight), _round(a)]
        for w, a in zip(words, after)
    ]


def loss_curves(output: Sound2ImageOutput) -> pd.DataFrame:
    """Loss terms and scores over the DSO renderings, long format for a line plot."""
    rows = []
    for entry in output.dso + ([output.dso_final] if output.dso_final else []):
        for term in ("loss", "audio_image_loss", "clip_loss", "l2", "clip_score", "audio_image_score"):
            rows.append({"step": entry["step"], "value": entry[term], "term": term})
    return pd.DataFrame(rows, columns=["step", "value", "term"])


def gallery(output: Sound2ImageOutput) -> list[tuple[Image.Image, str]]:
    return [(image, f"step {i}") for i, image in enumerate(output.dso_images)]


def save_run(output: Sound2ImageOutput) -> tuple[Path, dict[str, Any]]:
    """The run's JSON (the CLI sidecar's content) in a fresh temporary file, and the same data."""
    data = output.to_dict()
    folder = Path(tempfile.mkdtemp(prefix="sound2img-"))
    path = folder / "sound2img-run.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path, data


def caption_summary(analysis: CaptionAnalysis) -> dict[str, Any]:
    """The cheap /caption answer: the caption and each word's attentions and W_init."""
    return {
        "caption": analysis.caption,
        "words": [
            {"word": w.word, "audio_attention": w.audio_attention, "sentence_attention": w.sentence_attention, "is_noun": w.is_noun, "weight": w.weight}
            for w in analysis.words
        ],
        "warnings": analysis.notes,
    }


def run(pipe: Sound2Image, audio: str, params: GenerationParams, report: Callable[[str, int, int], None]) -> Sound2ImageOutput:
    """Generate, reporting sampling and DSO progress as (stage, step, total)."""
    return pipe(
        audio,
        params,
        callback=lambda step, total: report("sampling", step, total),
        dso_callback=lambda step, total: report("direct sound optimization", step, total),
        show_progress=False,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
