"""The scores direct sound optimization raises (paper Sec. 3.5): image–caption and audio–image similarity.

Both scorers take images as differentiable tensors in [0, 1] (resized and normalised on the tensor, no PIL
round trip) and return L2-normalised embeddings, so a cosine is a dot product. The loss terms are the
released code's: the spherical distance for CLIP, and 1 − (scale/100)·cos for AudioCLIP.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from .audio import Audio
from .audioclip import SAMPLE_RATE, AudioCLIP, audio_input, clip_image_input


class ImageTextScorer(Protocol):
    """Embeds a text and images into one space (CLIP)."""

    def text_embedding(self, text: str) -> torch.Tensor: ...

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor: ...


class AudioImageScorer(Protocol):
    """Embeds a sound and images into one space (AudioCLIP); `scale` is its audio–image temperature."""

    def audio_embedding(self, audio: Audio) -> torch.Tensor: ...

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor: ...

    def scale(self) -> torch.Tensor: ...


class ClipScorer:
    """CLIP from transformers (ViT-B/32 by default), as CLIPScore and the released DSO code use it."""

    def __init__(self, model, tokenizer):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, repo_id: str, revision: str, *, device: torch.device | str = "cpu") -> "ClipScorer":
        from transformers import CLIPModel, CLIPTokenizerFast

        model = CLIPModel.from_pretrained(repo_id, revision=revision).to(device)
        return cls(model, CLIPTokenizerFast.from_pretrained(repo_id, revision=revision))

    @torch.no_grad()
    def text_embedding(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer([text], padding=True, truncation=True, max_length=77, return_tensors="pt")
        return F.normalize(self.model.get_text_features(**tokens.to(self.model.device)), dim=-1)

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        pixels = clip_image_input(images.to(self.model.device, torch.float32))
        return F.normalize(self.model.get_image_features(pixel_values=pixels.to(self.model.dtype)), dim=-1)


class AudioClipScorer:
    """AudioCLIP's audio and image heads; the sound is fed at the int16 scale the model was trained on."""

    def __init__(self, model: AudioCLIP):
        self.model = model.eval().requires_grad_(False)

    @torch.no_grad()
    def audio_embedding(self, audio: Audio) -> torch.Tensor:
        samples = audio_input(audio.resampled(SAMPLE_RATE)).to(self.model.logit_scale.device)
        return self.model.encode_audio(samples)

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(images.to(self.model.logit_scale.device, torch.float32))

    def scale(self) -> torch.Tensor:
        return self.model.audio_image_scale()


def clip_score(cosine: torch.Tensor) -> torch.Tensor:
    """CLIPScore (Hessel et al. 2021): 2.5 · max(cos, 0), on the scale of the paper's tables."""
    return 2.5 * cosine.clamp_min(0.0)


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L_CLIP of the released code: 2·arcsin(‖a − b‖/2)², the squared great-circle distance of unit vectors / 2."""
    return 2.0 * torch.arcsin((a - b).norm(dim=-1) / 2.0).pow(2)


def audio_image_loss(cosine: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """L_aCLIP of the released code: 1 − (scale/100)·cos, scale = clamp(exp(logit_scale_ai), 1, 100)."""
    return 1.0 - scale / 100.0 * cosine


def l2_loss(z: torch.Tensor, z_n: torch.Tensor) -> torch.Tensor:
    """L_L2: the squared distance that pulls z_n back toward the caption embedding z."""
    return (z - z_n).pow(2).sum()
