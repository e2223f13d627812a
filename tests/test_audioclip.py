"""AudioCLIP re-implementation against the manifest of the released checkpoint, and its input handling."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import ROOT
from sound2img import audioclip
from sound2img.audioclip import AudioCLIP, ESResNeXtFBSP, audio_input, clip_image_input
from sound2img.checkpoints import download_checkpoint, sha256_of
from sound2img.errors import Sound2ImgError

# Copied from shared/manifests: the key list derived from the official model class (see its "notes").
MANIFEST = ROOT / "tests" / "data" / "audioclip_state_dict.json"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AudioCLIP().eval()


def test_audioclip_state_dict_matches_manifest(model):
    manifest = json.loads(MANIFEST.read_text())["keys"]
    state = model.state_dict()
    assert list(state) == list(manifest)  # same keys, same order
    for name, tensor in state.items():
        assert list(tensor.shape) == manifest[name]["shape"], name
        assert str(tensor.dtype).removeprefix("torch.") == manifest[name]["dtype"], name
    params = dict(model.named_parameters())
    kinds = {name: "parameter" if name in params else "buffer" for name in state}
    assert kinds == {name: entry["kind"] for name, entry in manifest.items()}
    assert sum(p.numel() for p in model.parameters()) == 134_111_910


def test_strict_round_trip_through_a_weights_only_file(model, tmp_path, monkeypatch):
    path = tmp_path / "AudioCLIP-Full-Training.pt"
    torch.save(model.state_dict(), path)
    digest = sha256_of(path)
    loaded = AudioCLIP.from_pretrained(url=path.as_uri(), sha256=digest, cache_dir=tmp_path / "cache")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert not loaded.training


def test_corrupt_download_is_refused_and_not_cached(tmp_path):
    source = tmp_path / "AudioCLIP-Full-Training.pt"
    source.write_bytes(b"not a checkpoint")
    with pytest.raises(Sound2ImgError, match="corrupt"):
        download_checkpoint(source.as_uri(), "0" * 64, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())


def test_framing_follows_the_original_padding():
    head = ESResNeXtFBSP()
    samples = torch.zeros(1, 220500)
    samples[0, 0] = 1.0  # the first sample lands after 252 zeros of left padding, then 197 of frame padding
    frames = head.frames(samples)
    assert frames.shape == (1, 392, 2048)
    first = frames[0, 0]
    assert first.nonzero().flatten().tolist() == [197 + 252]
    assert first[197 + 252].item() == pytest.approx(head.window[252].item())
    assert head.frames(torch.zeros(1, 1000)).shape == (1, 1, 2048)


def test_fbsp_starts_as_a_normalised_fourier_transform():
    """With its initial parameters (m = 0, fb = 1, fc = k) FBSP is the DFT of the frame over t ∈ π·[-1, 1]."""
    fbsp = audioclip.LinearFBSP()
    frame = torch.randn(2048, dtype=torch.float64)
    real, imag = fbsp(frame.float())
    t = math.pi * torch.linspace(-1, 1, 2048, dtype=torch.float64) + 1e-8
    k = torch.arange(1025, dtype=torch.float64)[:, None]
    expected = (frame * torch.exp(-1j * k * t)).sum(-1) / math.sqrt(2048)
    assert torch.allclose(real.double(), expected.real, atol=1e-3)
    assert torch.allclose(imag.double(), expected.imag, atol=1e-3)


def test_audio_is_fed_at_int16_scale_and_keeps_the_gain():
    samples = np.array([0.5, -0.25, 1.5], dtype=np.float32)  # 1.5: above full scale after a gain
    x = audio_input(samples)
    assert x.shape == (1, 1, 3)
    assert x.flatten().tolist() == [16384.0, -8192.0, 49152.0]
    # The model's own first step maps the int16 range back to about [-1, 1].
    inner = (x + 32768.0) * 2.0 / 65535.0 - 1.0
    assert inner.flatten().tolist() == pytest.approx(samples.tolist(), abs=1e-4)
    with pytest.raises(ValueError, match="44100"):
        audio_input(samples, 16000)


def test_audio_from_the_pipeline_is_resampled_to_44k(example_wav):
    from sound2img.audio import load_audio

    clip = load_audio(example_wav)
    x = audio_input(clip.resampled(audioclip.SAMPLE_RATE))
    assert x.shape[-1] == pytest.approx(clip.duration * 44100, abs=2)


def test_image_preprocessing_is_differentiable_and_normalised():
    images = torch.full((1, 3, 64, 96), 0.5, requires_grad=True)
    x = clip_image_input(images)
    assert x.shape == (1, 3, 224, 224)
    expected = (0.5 - torch.tensor(audioclip.CLIP_MEAN)) / torch.tensor(audioclip.CLIP_STD)
    assert torch.allclose(x[0, :, 100, 100], expected, atol=1e-4)
    x.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_forward_passes_give_unit_embeddings_and_gradients_reach_the_image(model):
    audio = audio_input(np.random.default_rng(0).uniform(-0.5, 0.5, 44100).astype(np.float32))
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    with torch.no_grad():
        a = model.encode_audio(audio)
    i = model.encode_image(images)
    t = model.encode_text(torch.tensor([[49406, 320, 1929, 49407] + [0] * 73]))
    for e in (a, i, t):
        assert e.shape == (1, 1024) and torch.allclose(e.norm(dim=-1), torch.ones(1), atol=1e-5)
    (model.audio_image_scale() * (a @ i.T)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert model.audio_image_scale().item() == pytest.approx(100.0)


def test_tiny_config_is_the_same_architecture_at_a_small_size():
    tiny = AudioCLIP(audioclip.TINY_CONFIG).eval()
    full_keys = set(json.loads(MANIFEST.read_text())["keys"])
    assert set(tiny.state_dict()) <= full_keys  # the same modules, fewer blocks
    assert sum(p.numel() for p in tiny.parameters()) < 2_000_000
    with torch.no_grad():
        a = tiny.encode_audio(audio_input(np.zeros(22050, dtype=np.float32) + 0.1))
        i = tiny.encode_image(torch.rand(1, 3, 64, 64))
    assert a.shape == i.shape == (1, 32)
