"""Scores and loss terms on inputs with known answers, and the scorers' differentiable image paths."""

import math

import pytest
import torch
import torch.nn.functional as F

from sound2img.audio import load_audio
from sound2img.audioclip import TINY_CONFIG, AudioCLIP
from sound2img.scoring import AudioClipScorer, ClipScorer, audio_image_loss, clip_score, l2_loss, spherical_distance

E1, E2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])


def test_clip_score_is_2_5_max_cos_0():
    assert clip_score(torch.tensor(1.0)).item() == 2.5  # identical embeddings
    assert clip_score(torch.tensor(0.0)).item() == 0.0
    assert clip_score(torch.tensor(-0.7)).item() == 0.0  # negative cosines count as 0
    assert clip_score(torch.tensor(0.3)).item() == pytest.approx(0.75)


def test_spherical_distance_values():
    assert spherical_distance(E1, E1).item() == 0.0
    assert spherical_distance(E1, E2).item() == pytest.approx(math.pi**2 / 8)  # 90°: 2·(π/4)²
    assert spherical_distance(E1, -E1).item() == pytest.approx(math.pi**2 / 2)  # 180°: 2·(π/2)²


def test_audio_image_loss_and_l2():
    assert audio_image_loss(torch.tensor(1.0), torch.tensor(100.0)).item() == 0.0
    assert audio_image_loss(torch.tensor(0.2), torch.tensor(50.0)).item() == pytest.approx(0.9)
    z = torch.zeros(1, 3, 2)
    assert l2_loss(z, z).item() == 0.0
    assert l2_loss(z, z + 0.5).item() == pytest.approx(6 * 0.25)


def test_clip_scorer_on_a_tiny_clip(tiny_parts):
    from transformers import CLIPConfig, CLIPModel

    tokenizer = tiny_parts.tokenizer
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                         num_attention_heads=2, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(image_size=224, patch_size=32, hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=16,
    )
    scorer = ClipScorer(CLIPModel(config), tokenizer)
    text = scorer.text_embedding("a dog barks")
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    embedded = scorer.image_embedding(images)
    assert text.shape == (1, 16) and embedded.shape == (2, 16)
    assert torch.allclose(embedded.norm(dim=-1), torch.ones(2), atol=1e-5)
    spherical_distance(embedded, text).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in scorer.model.parameters())  # frozen


def test_audioclip_scorer_feeds_int16_scale_and_is_frozen(example_wav):
    torch.manual_seed(0)
    scorer = AudioClipScorer(AudioCLIP(TINY_CONFIG))
    clip = load_audio(example_wav)
    a = scorer.audio_embedding(clip)
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    i = scorer.image_embedding(images)
    loss = audio_image_loss((a * i).sum(-1), scorer.scale())
    loss.sum().backward()
    assert images.grad.abs().sum() > 0
    assert all(p.grad is None for p in scorer.model.parameters())
    # A different level reaches the audio head (int16 scale, gain kept).
    louder = scorer.audio_embedding(load_audio(example_wav, gain=0.25))
    assert not torch.allclose(a, louder)
    assert torch.allclose(F.normalize(a, dim=-1), a)
