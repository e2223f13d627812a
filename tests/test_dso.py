"""Direct sound optimization on the tiny models: where gradients go, learning rates, L2, determinism, edge cases."""

import json

import numpy as np
import pytest
import torch

from conftest import ROOT
from sound2img import GenerationParams, Sound2ImgError, Sound2ImgWarning
from sound2img.conditioning import apply_weights, encode_text, weight_tokens
from sound2img.dso import DSOConfig, optimize


@pytest.fixture
def setup(tiny_pipe, example_wav):
    """W_init for a prompt whose "dog" tokens are the noun group, and a renderer from fixed noise."""
    pipe = tiny_pipe
    models = pipe.dso_models
    conditioning = weight_tokens(pipe.tokenizer, "a dog barks")
    with torch.no_grad():
        z = encode_text(pipe.text_encoder, conditioning.input_ids)
        negative = encode_text(pipe.text_encoder, weight_tokens(pipe.tokenizer, "").input_ids)
    latents = pipe.sampler.initial_latents(0, 64, 64)
    weights = conditioning.weights.clone()
    weights[0, 1:4] = torch.tensor([0.7, 1.2, 0.6])
    nouns = torch.zeros(1, 77, dtype=torch.bool)
    nouns[0, 2] = True  # "dog"

    def render(w, differentiable=False, config=DSOConfig()):
        out = pipe.sampler.denoise(latents, apply_weights(z, w), negative, steps=3, guidance_scale=3.0, show_progress=False,
                                   grad_steps=config.grad_steps if differentiable else None, checkpoint=differentiable)
        return pipe.sampler.decode(out)

    from sound2img.audio import load_audio

    def run(config, render=render):
        return optimize(
            render=render,
            z=z,
            weights=weights,
            noun_tokens=nouns,
            caption_embedding=models.image_text.text_embedding("a dog barks"),
            audio_embedding=models.audio_image.audio_embedding(load_audio(example_wav)),
            image_text=models.image_text,
            audio_image=models.audio_image,
            config=config,
            embed=lambda w: apply_weights(z, w),
        )

    return run, weights, nouns, render


def frozen_models(pipe):
    models = pipe.dso_models
    return [pipe.sampler.unet, pipe.sampler.vae, pipe.text_encoder, models.image_text.model, models.audio_image.model]


def test_both_groups_move_at_their_own_rate_and_nothing_else_gets_gradients(setup, tiny_pipe):
    run, weights, nouns, _ = setup
    result = run(DSOConfig(steps=1, cutouts=2, lr_noun=0.05, lr_other=0.002))
    delta = (result.final.weights - weights)[0]
    # Adam's first step moves each element with a non-zero gradient by exactly its group's learning rate.
    assert delta[2].abs().item() == pytest.approx(0.05, rel=1e-3)
    others = delta[~nouns[0]]
    moved = others[others.abs() > 0]
    assert len(moved) > 70
    # |Δ| = lr·|g|/(|g| + ε): exactly lr up to Adam's ε, which only shows for the tiniest gradients.
    assert moved.abs().max().item() <= 0.002 * 1.0001
    assert (moved.abs() > 0.0019).float().mean().item() > 0.9
    for model in frozen_models(tiny_pipe):
        assert all(p.grad is None for p in model.parameters())


def test_l2_is_zero_at_step_zero_and_steps_change_w_and_the_image(setup):
    run, weights, _, _ = setup
    result = run(DSOConfig(steps=3, cutouts=0))
    assert [s.step for s in result.steps] == [0, 1, 2] and result.final.step == 3
    assert result.steps[0].l2 == 0.0 and result.steps[1].l2 > 0.0
    assert torch.equal(result.steps[0].weights, weights)
    assert not torch.equal(result.final.weights, weights)
    assert not np.array_equal(np.asarray(result.steps[0].image), np.asarray(result.final.image))
    for step in result.steps + [result.final]:
        expected = 0.9 * step.audio_image_loss + 1.0 * step.clip_loss + 0.01 * step.l2
        assert step.loss == pytest.approx(expected, rel=1e-5)  # eq. 6


def test_runs_are_deterministic(setup):
    run, _, _, _ = setup
    first, again = run(DSOConfig(steps=2, cutouts=3)), run(DSOConfig(steps=2, cutouts=3))
    assert [s.record() | {"seconds": 0} for s in first.steps] == [s.record() | {"seconds": 0} for s in again.steps]
    assert np.array_equal(np.asarray(first.final.image), np.asarray(again.final.image))


def test_per_channel_weights_and_best_choice(setup):
    run, _, _, _ = setup
    result = run(DSOConfig(steps=2, cutouts=0, per_channel=True, keep="best"))
    assert result.final.weights.shape == (1, 77, 32)
    everything = result.steps + [result.final]
    assert result.chosen is min(everything, key=lambda s: s.loss)


def test_nan_loss_stops_with_a_warning_and_keeps_the_best_so_far(setup):
    run, _, _, render = setup
    calls = []

    def failing(w, differentiable=False):
        calls.append(1)
        images = render(w, differentiable)
        return images * float("nan") if len(calls) == 3 else images

    with pytest.warns(Sound2ImgWarning, match="DSO stopped at step 2"):
        result = run(DSOConfig(steps=5, cutouts=0, keep="last"), render=failing)
    assert [s.step for s in result.steps] == [0, 1]
    assert result.chosen is min(result.steps, key=lambda s: s.loss)  # the best, even with keep="last"


def test_out_of_memory_names_cheaper_settings(setup):
    run, _, _, _ = setup

    def oom(w, differentiable=False):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(Sound2ImgError, match="--grad-steps.*--preset fast"):
        run(DSOConfig(steps=2), render=oom)


@pytest.mark.parametrize("options,message", [(dict(steps=-1), "0 or more"), (dict(grad_steps=0), "at least 1"), (dict(keep="worst"), "last")])
def test_bad_dso_settings(options, message):
    with pytest.raises(Sound2ImgError, match=message):
        DSOConfig(**options)


def test_pipeline_returns_dso_history_and_weights_after(tiny_pipe, example_wav):
    output = tiny_pipe(example_wav, GenerationParams(dso=DSOConfig(steps=2, cutouts=1)), show_progress=False)
    assert len(output.dso) == 2 and output.dso_final["step"] == 2
    assert len(output.dso_images) == 3 and output.image is output.dso_images[-1]
    assert len(output.weights_after) == len(output.words)
    assert output.weights_after != [w.weight for w in output.words]
    assert "dso" in output.timings and "dso_images" not in output.to_dict()


def test_cli_dso_writes_three_entries_and_final_scores(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out.png"
    result = subprocess.run(
        [sys.executable, "-m", "sound2img", "generate", "examples/horse_neigh.wav", "-o", str(out), "--preset", "tiny", "--dso-steps", "3"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert [entry["step"] for entry in sidecar["dso"]] == [0, 1, 2]
    for entry in sidecar["dso"] + [sidecar["dso_final"]]:
        assert set(entry) >= {"step", "loss", "clip_score", "audio_image_score", "l2"}
    assert len(sidecar["weights_after"]) == len(sidecar["words"])
    assert sidecar["params"]["dso"]["steps"] == 3
    assert "DSO: loss" in result.stdout
