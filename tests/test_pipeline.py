"""The whole pipeline on the tiny preset: CLI, sidecar, reproducibility, fusion, and the sampler loop."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from sound2img import GenerationParams, WeightingConfig
from sound2img.conditioning import apply_weights, encode_text, weight_tokens


def paper_weight(a: float, s: float) -> float:
    """Eq. 1–3 written out again, independently of sound2img.weighting."""
    p = 1 / (2 + math.exp(2 - 0.5 * a))
    return s + 0.1 * a + p if s > 0.5 else s + a + p


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sound2img", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_cli_generate_writes_png_and_a_sidecar_that_agrees_with_the_equations(tmp_path):
    out = tmp_path / "out.png"
    result = run_cli("generate", "examples/rain_in_garden.wav", "-o", out, "--preset", "tiny")
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    image.load()
    assert image.format == "PNG" and image.size == (64, 64)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert image.text["caption"] == sidecar["caption"] and image.text["seed"] == "0"
    for key in ("caption", "words", "tokens", "seed", "params", "models", "timings", "versions"):
        assert key in sidecar
    assert sidecar["words"], "the caption has words"
    for row in sidecar["words"]:
        assert set(row) >= {"word", "audio_attention", "sentence_attention", "is_noun", "weight"}
        assert row["is_noun"] == (row["sentence_attention"] > 0.5)
        assert row["weight"] == pytest.approx(paper_weight(row["audio_attention"], row["sentence_attention"]), abs=1e-9)
    for token in sidecar["tokens"]:
        expected = 1.0 if token["word_index"] is None else sidecar["words"][token["word_index"]]["weight"]
        assert token["weight"] == pytest.approx(expected)
    assert sidecar["tokens"][0]["token"] == "<|startoftext|>"
    assert sidecar["params"]["steps"] == 10 and sidecar["params"]["weighting"]["variant"] == "paper"
    assert "sampling" in result.stderr  # the progress bar


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    result = run_cli("generate", bad, "-o", tmp_path / "x.png", "--preset", "tiny")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: notes.wav: could not be decoded")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_cli_rejects_unknown_options():
    result = run_cli("generate", "examples/thunder.wav", "-o", "x.png", "--weighting", "mine")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_same_seed_same_image_other_seed_other_image(tiny_pipe, example_wav):
    first = tiny_pipe(example_wav, GenerationParams(seed=7), show_progress=False)
    again = tiny_pipe(example_wav, GenerationParams(seed=7), show_progress=False)
    other = tiny_pipe(example_wav, GenerationParams(seed=8), show_progress=False)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))
    assert first.to_dict() | {"timings": None} == again.to_dict() | {"timings": None}


def test_gain_reaches_the_weights(tiny_pipe, example_wav):
    quiet = tiny_pipe(example_wav, GenerationParams(gain=1.0), show_progress=False)
    with pytest.warns(UserWarning, match="above full scale"):
        loud = tiny_pipe(example_wav, GenerationParams(gain=3.0), show_progress=False)
    assert [w.audio_attention for w in quiet.words] != [w.audio_attention for w in loud.words]
    assert [w.weight for w in quiet.words] != [w.weight for w in loud.words]
    assert any("above full scale" in w for w in loud.warnings)


def test_text_fusion_adds_weighted_words_to_the_prompt(tiny_pipe, example_wav):
    output = tiny_pipe(example_wav, GenerationParams(text="a car in the rain", text_weight=2.5), show_progress=False)
    assert output.prompt == f"{output.caption} a car in the rain"
    text_rows = [w for w in output.words if w.source == "text"]
    assert [w.word for w in text_rows] == ["a", "car", "in", "the", "rain"]
    first_text = output.words.index(text_rows[0])
    text_tokens = [t for t in output.tokens if t.word_index is not None and t.word_index >= first_text]
    assert text_tokens and all(t.weight == 2.5 for t in text_tokens)


def test_both_ablations_give_the_plain_caption_embedding(tiny_pipe, example_wav):
    params = GenerationParams(weighting=WeightingConfig(audio_attention=False, sentence_attention=False))
    output = tiny_pipe(example_wav, params, show_progress=False)
    assert all(w.weight == 1.0 for w in output.words)
    assert all(t.weight == 1.0 for t in output.tokens)


def test_bad_settings_are_refused_clearly(tiny_pipe, example_wav):
    from sound2img import Sound2ImgError

    with pytest.raises(Sound2ImgError, match="multiple of 8"):
        tiny_pipe(example_wav, GenerationParams(size=60), show_progress=False)
    with pytest.raises(Sound2ImgError, match="at least 1"):
        tiny_pipe(example_wav, GenerationParams(steps=0), show_progress=False)
    with pytest.raises(Sound2ImgError, match="Unknown sampler"):
        tiny_pipe(example_wav, GenerationParams(scheduler="heun"), show_progress=False)
    with pytest.raises(Sound2ImgError, match="Unknown preset"):
        type(tiny_pipe).from_preset("huge")


@pytest.mark.parametrize("scheduler", ["pndm", "ddim", "euler"])
def test_our_loop_matches_diffusers_stable_diffusion_pipeline(tiny_pipe, scheduler):
    """Given the same embeddings and starting noise, our loop and diffusers' pipeline give the same image."""
    from diffusers import StableDiffusionPipeline

    from sound2img.sampling import make_scheduler

    sampler = tiny_pipe.sampler
    prompt = weight_tokens(tiny_pipe.tokenizer, "a dog barks in the rain")
    negative = weight_tokens(tiny_pipe.tokenizer, "")
    with torch.no_grad():
        z_n = apply_weights(encode_text(tiny_pipe.text_encoder, prompt.input_ids), torch.linspace(0.5, 1.5, 77)[None])
        neg = encode_text(tiny_pipe.text_encoder, negative.input_ids)
        latents = sampler.initial_latents(3, 64, 64)
        ours = sampler.decode(
            sampler.denoise(latents, z_n, neg, scheduler=scheduler, steps=6, guidance_scale=7.5, show_progress=False)
        )
        reference = StableDiffusionPipeline(
            vae=sampler.vae,
            text_encoder=tiny_pipe.text_encoder,
            tokenizer=tiny_pipe.tokenizer,
            unet=sampler.unet,
            scheduler=make_scheduler(scheduler, sampler.scheduler_config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        reference.set_progress_bar_config(disable=True)
        theirs = reference(
            prompt_embeds=z_n,
            negative_prompt_embeds=neg,
            latents=latents.clone(),
            num_inference_steps=6,
            guidance_scale=7.5,
            height=64,
            width=64,
            output_type="pt",
        ).images
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_gradients_reach_the_weights_only_and_checkpointing_keeps_them(tiny_pipe):
    """The sampler is differentiable in W; checkpointing and K = all steps give the same gradient."""
    sampler = tiny_pipe.sampler
    prompt = weight_tokens(tiny_pipe.tokenizer, "a dog barks in the rain")
    with torch.no_grad():
        z = encode_text(tiny_pipe.text_encoder, prompt.input_ids)
        neg = encode_text(tiny_pipe.text_encoder, weight_tokens(tiny_pipe.tokenizer, "").input_ids)
    latents = sampler.initial_latents(5, 64, 64)
    weights = torch.ones(1, 77, requires_grad=True)

    def gradient(**options):
        weights.grad = None
        z_n = apply_weights(z, weights)
        out = sampler.denoise(latents, z_n, neg, steps=4, guidance_scale=3.0, show_progress=False, **options)
        sampler.decode(out).mean().backward()
        return weights.grad.clone()

    full = gradient()
    assert full.abs().sum() > 0
    assert torch.allclose(gradient(checkpoint=True), full, rtol=1e-4, atol=1e-9)
    assert torch.allclose(gradient(checkpoint=True, grad_steps=5), full, rtol=1e-4, atol=1e-9)  # PLMS: 5 UNet calls
    last_only = gradient(grad_steps=1)
    assert last_only.abs().sum() > 0 and not torch.allclose(last_only, full)
    for model in (sampler.unet, sampler.vae, tiny_pipe.text_encoder):
        assert all(p.grad is None for p in model.parameters())


def test_cli_runs_the_image_model_in_bfloat16(tmp_path):
    out = tmp_path / "bf16.png"
    result = run_cli("generate", "examples/thunder.wav", "-o", out, "--preset", "tiny", "--dtype", "bfloat16", "--dso-steps", "1", "--cutouts", "0")
    assert result.returncode == 0, result.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert Image.open(out).size == (64, 64) and len(sidecar["dso"]) == 1


def test_a_device_that_is_not_there_is_a_clear_error():
    import torch

    from sound2img import Sound2Image, Sound2ImgError
    from sound2img.pipeline import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(Sound2ImgError, match="Unknown device 'gpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(Sound2ImgError, match="no usable CUDA GPU"):
            Sound2Image.from_preset("tiny", device="cuda")
