"""AudioCLIP (Guzhov et al., ICASSP 2022), re-implemented to load the released `AudioCLIP-Full-Training.pt`.

The module names mirror the checkpoint's state-dict keys (see `shared/manifests` and the test
`test_audioclip_state_dict_matches_manifest`), so the file loads with `strict=True`:

- `visual`: CLIP's modified ResNet-50 (three-conv stem, anti-aliased strided bottlenecks, attention pooling);
- `transformer`, `token_embedding`, `positional_embedding`, `ln_final`, `text_projection`: CLIP's text head;
- `audio`: ESResNeXt-fbsp, a ResNeXt-50 32x4d over a learned Fourier filterbank ("FBSP") spectrogram;
- `logit_scale*`: log temperatures, used as clamp(exp(·), 1, 100).

Audio scale: AudioCLIP was trained on int16-range floats (its ESC-50 loader multiplies librosa's [-1, 1]
samples by 32768) and its first step maps [-32768, 32767] back to [-1, 1]. The released DSO code fed
[-1, 1] floats, which the model then sees 32768 times too quiet; we feed `samples × 32768`
(`audio_input`), keeping any amplitude gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import get_window
from torch import nn

from .checkpoints import download_checkpoint

SAMPLE_RATE = 44100
INT16_SCALE = 32768.0
IMAGE_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

CHECKPOINT_URL = "https://github.com/AndreyGuzhov/AudioCLIP/releases/download/v0.1/AudioCLIP-Full-Training.pt"
CHECKPOINT_SHA256 = "2441d35b353352c8b1bbfb8f7c687f46314c3d2909e940eaf763b8c17f632c44"


# ---------------------------------------------------------------------------------------------------------
# Image head: CLIP modified ResNet-50
# ---------------------------------------------------------------------------------------------------------


class _ClipBottleneck(nn.Module):
    """1x1 → 3x3 → (avg-pool when strided) → 1x1, with an avg-pool + 1x1 shortcut when the shape changes."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride > 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.pool(y)))
        shortcut = x if self.downsample is None else self.downsample(self.pool(x))
        return F.relu(y + shortcut)


class _AttentionPool2d(nn.Module):
    """Multi-head attention of the mean token over the 7x7 grid; the mean token's output is the embedding."""

    def __init__(self, grid: int, width: int, heads: int, output_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / width**0.5)
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, output_dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1) + self.positional_embedding
        n, length, width = tokens.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(n, -1, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(tokens[:, :1])), heads(self.k_proj(tokens)), heads(self.v_proj(tokens))
        pooled = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, width)
        return self.c_proj(pooled)


class ClipResNet(nn.Module):
    """CLIP RN50's image encoder: 224x224 normalised RGB → 1024-d embedding."""

    def __init__(self, layers=(3, 4, 6, 3), width: int = 64, heads: int = 32, output_dim: int = 1024):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        inplanes = width
        stages = []
        for i, blocks in enumerate(layers):
            planes = width * 2**i
            stage = [_ClipBottleneck(inplanes, planes, 1 if i == 0 else 2)]
            inplanes = planes * _ClipBottleneck.expansion
            stage += [_ClipBottleneck(inplanes, planes, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = _AttentionPool2d(IMAGE_SIZE // 32, inplanes, heads, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.conv1.weight.dtype)
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = F.relu(bn(conv(x)))
        x = F.avg_pool2d(x, 2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


# ---------------------------------------------------------------------------------------------------------
# Text head: CLIP transformer (kept so the checkpoint loads strictly; sound2img scores text with HF CLIP)
# ---------------------------------------------------------------------------------------------------------


class _Mlp(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, width * 4)
        self.c_proj = nn.Linear(width * 4, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        return self.c_proj(h * torch.sigmoid(1.702 * h))  # QuickGELU


class _ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = _Mlp(width)
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.ModuleList(_ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


# ---------------------------------------------------------------------------------------------------------
# Audio head: ESResNeXt-fbsp
# ---------------------------------------------------------------------------------------------------------


class LinearFBSP(nn.Module):
    """A learned complex filterbank: per output bin a windowed complex exponential with learned
    frequency `fc`, bandwidth `fb` and window power `m` (initialised to plain Fourier bins)."""

    def __init__(self, n_fft: int = 2048, normalized: bool = True):
        super().__init__()
        bins = n_fft // 2 + 1
        self.n_fft = n_fft
        self.normalized = normalized
        self.m = nn.Parameter(torch.zeros(bins))
        self.fb = nn.Parameter(torch.ones(bins))
        self.fc = nn.Parameter(torch.arange(bins, dtype=torch.float32))
        self.bias = nn.Parameter(torch.empty(0))  # the original registers an empty bias; the checkpoint has it

    def weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts of the [bins, n_fft] filterbank."""
        t = math.pi * torch.linspace(-1.0, 1.0, self.n_fft, device=self.fc.device) + 1e-8
        fc, fb, m = self.fc[:, None], self.fb[:, None], self.m[:, None]
        kernel_re, kernel_im = torch.cos(fc * t), -torch.sin(fc * t)
        x = fb * t / (m + 1e-8)
        sinc = torch.sinc(x / math.pi)  # sin(x)/x with sinc(0) = 1
        # The window raised to the real power m as a complex number: |w|^m · e^(i·m·arg w), arg w ∈ {0, π}.
        magnitude = sinc.abs() ** m
        phase = m * torch.where(sinc < 0, math.pi, 0.0)
        window_re, window_im = magnitude * torch.cos(phase), magnitude * torch.sin(phase)
        amplitude = fb.sqrt()
        weight_re = amplitude * (window_re * kernel_re - window_im * kernel_im)
        weight_im = amplitude * (window_re * kernel_im + window_im * kernel_re)
        if self.normalized:
            scale = self.n_fft**0.5
            weight_re, weight_im = weight_re / scale, weight_im / scale
        return weight_re, weight_im

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [..., n_fft] → real and imaginary spectra [..., bins]."""
        weight_re, weight_im = self.weight()
        return frames @ weight_re.T, frames @ weight_im.T


class _AttentionBlock(nn.Module):
    """Pools a feature map to a target size and turns it into a sigmoid gate of `out_channels`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], padding: tuple[int, int]):
        super().__init__()
        self.conv_depth = nn.Conv2d(in_channels, in_channels, kernel, padding=padding, groups=in_channels)
        self.conv_point = nn.Conv2d(in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.adaptive_max_pool2d(x, size)
        return torch.sigmoid(self.bn(self.conv_point(self.conv_depth(x))))


class _ResNeXtBottleneck(nn.Module):
    """torchvision's ResNeXt bottleneck (full size: 32 groups of 4 channels at the first stage); the stride
    sits on the grouped 3x3."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, groups: int, group_width: int, base_planes: int):
        super().__init__()
        width = int(planes * group_width / base_planes) * groups
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride > 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ESResNeXtFBSP(nn.Module):
    """Audio [batch, channels, samples] at 44.1 kHz in int16 range → 1024-d embedding (channels summed)."""

    def __init__(
        self,
        layers=(3, 4, 6, 3),
        width: int = 64,
        groups: int = 32,
        group_width: int = 4,
        output_dim: int = 1024,
        n_fft: int = 2048,
        hop_length: int = 561,
        win_length: int = 1654,
    ):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        window = get_window("blackmanharris", win_length, fftbins=True)
        self.register_buffer("window", torch.from_numpy(np.asarray(window, dtype=np.float32)))
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # Registered in the checkpoint's order: each stage, then the gate that scales its output.
        inplanes = width
        gate_shapes = (((3, 1), (1, 0)), ((1, 5), (0, 2)), ((3, 1), (1, 0)), ((1, 5), (0, 2)))
        for i, (blocks, (kernel, padding)) in enumerate(zip(layers, gate_shapes)):
            planes = width * 2**i
            out = planes * _ResNeXtBottleneck.expansion
            stage = [
                _ResNeXtBottleneck(inplanes if b == 0 else out, planes, 2 if b == 0 and i > 0 else 1, groups, group_width, width)
                for b in range(blocks)
            ]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            setattr(self, f"att{i + 1}", _AttentionBlock(inplanes, out, kernel, padding))
            inplanes = out
        self.att5 = _AttentionBlock(inplanes, inplanes, (3, 5), (1, 2))
        self.fc = nn.Linear(inplanes, output_dim)
        self.fbsp = LinearFBSP(n_fft)

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        """[N, L] → windowed frames [N, frames, n_fft]: centred zero padding, hop 561, window 1654 padded to 2048."""
        length = samples.shape[-1]
        count = 1 if length <= self.win_length else 1 + math.ceil((length - self.win_length) / self.hop_length)
        padding = (count - 1) * self.hop_length + self.win_length - length
        padded = F.pad(samples, (padding // 2, padding - padding // 2))
        frames = padded.unfold(-1, self.win_length, self.hop_length) * self.window
        side = (self.n_fft - self.win_length) // 2
        return F.pad(frames, (side, self.n_fft - self.win_length - side))

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, C, L] int16-range → power in dB as 3 frequency bands: [B·C, 3, 341, frames]."""
        x = audio.float().flatten(0, 1)
        x = (x + INT16_SCALE) * 2.0 / (2 * INT16_SCALE - 1) - 1.0
        with torch.no_grad():
            frames = self.frames(x)
        real, imag = self.fbsp(frames)  # [N, frames, 1025]
        bands = 3 * ((self.n_fft // 2 + 1) // 3)
        power = (real[..., :bands] ** 2 + imag[..., :bands] ** 2).transpose(1, 2)  # [N, 1023, frames]
        power = power.reshape(power.shape[0], 3, bands // 3, power.shape[-1])
        return 10.0 * torch.log10(power.clamp_min(1e-18))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        batch, channels = audio.shape[:2]
        x = self.spectrogram(audio)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        for layer, gate in ((self.layer1, self.att1), (self.layer2, self.att2), (self.layer3, self.att3), (self.layer4, self.att4)):
            y = layer(x)
            x = y * gate(x, y.shape[-2:])
        pooled = F.adaptive_avg_pool2d(x, 1) * self.att5(x, (1, 1))
        features = pooled.flatten(1).view(batch, channels, -1).sum(dim=1)
        return self.fc(features)


# ---------------------------------------------------------------------------------------------------------
# AudioCLIP
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioCLIPConfig:
    """Sizes of the three heads; the defaults are the released model's (CLIP RN50 + ESResNeXt-50 32x4d)."""

    embed_dim: int = 1024
    vision_layers: tuple[int, ...] = (3, 4, 6, 3)
    vision_width: int = 64
    vision_heads: int = 32
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    audio_layers: tuple[int, ...] = (3, 4, 6, 3)
    audio_width: int = 64
    audio_groups: int = 32
    audio_group_width: int = 4


# The same architecture, small enough for the tiny preset and the tests.
TINY_CONFIG = AudioCLIPConfig(
    embed_dim=32,
    vision_layers=(1, 1, 1, 1),
    vision_width=8,
    vision_heads=2,
    vocab_size=1000,
    text_width=16,
    text_layers=1,
    text_heads=2,
    audio_layers=(1, 1, 1, 1),
    audio_width=8,
    audio_groups=2,
    audio_group_width=4,
)


class AudioCLIP(nn.Module):
    """CLIP RN50 (image, text) plus the ESResNeXt-fbsp audio head, in one joint 1024-d space."""

    def __init__(self, config: AudioCLIPConfig = AudioCLIPConfig()):
        super().__init__()
        c = self.config = config
        self.positional_embedding = nn.Parameter(torch.empty(c.context_length, c.text_width))
        self.text_projection = nn.Parameter(torch.empty(c.text_width, c.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(1.0))
        self.logit_scale_ai = nn.Parameter(torch.tensor(math.log(100.0)))
        self.logit_scale_at = nn.Parameter(torch.tensor(math.log(100.0)))
        self.visual = ClipResNet(c.vision_layers, c.vision_width, c.vision_heads, c.embed_dim)
        self.transformer = _Transformer(c.text_width, c.text_layers, c.text_heads)
        self.token_embedding = nn.Embedding(c.vocab_size, c.text_width)
        self.ln_final = nn.LayerNorm(c.text_width)
        self.audio = ESResNeXtFBSP(c.audio_layers, c.audio_width, c.audio_groups, c.audio_group_width, c.embed_dim)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=c.text_width**-0.5)

    @classmethod
    def from_pretrained(cls, url: str = CHECKPOINT_URL, sha256: str = CHECKPOINT_SHA256, cache_dir: str | Path | None = None) -> "AudioCLIP":
        """Download (once) the released checkpoint, verify its sha256, and load it strictly."""
        path = download_checkpoint(url, sha256, cache_dir)
        model = cls()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        return model.eval()

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, C, L] int16-range samples at 44.1 kHz → L2-normalised embeddings [B, 1024]."""
        return F.normalize(self.audio(audio), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1], differentiable → L2-normalised embeddings [B, 1024]."""
        return F.normalize(self.visual(clip_image_input(images)), dim=-1)

    def encode_text(self, token_ids: torch.Tensor) -> torch.Tensor:
        """CLIP BPE ids [B, 77] (end token = the largest id) → L2-normalised embeddings [B, 1024]."""
        length = token_ids.shape[1]
        x = self.token_embedding(token_ids) + self.positional_embedding[:length]
        mask = torch.full((length, length), float("-inf"), device=x.device).triu(1)
        x = self.ln_final(self.transformer(x.transpose(0, 1), mask).transpose(0, 1))
        features = x[torch.arange(x.shape[0]), token_ids.argmax(dim=-1)] @ self.text_projection
        return F.normalize(features, dim=-1)

    def audio_image_scale(self) -> torch.Tensor:
        return self.logit_scale_ai.exp().clamp(1.0, 100.0)


def audio_input(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Mono float samples (full scale = 1.0, already at 44.1 kHz) → AudioCLIP's [1, 1, L] int16-range input."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"AudioCLIP needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    return torch.as_tensor(np.asarray(samples, dtype=np.float32) * INT16_SCALE)[None, None]


def clip_image_input(images: torch.Tensor) -> torch.Tensor:
    """Differentiable CLIP preprocessing: bicubic resize of the shorter side to 224, centre crop, normalise."""
    height, width = images.shape[-2:]
    scale = IMAGE_SIZE / min(height, width)
    size = (max(IMAGE_SIZE, round(height * scale)), max(IMAGE_SIZE, round(width * scale)))
    if size != (height, width):
        images = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True)
    top, left = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
    images = images[..., top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    mean = images.new_tensor(CLIP_MEAN)[:, None, None]
    std = images.new_tensor(CLIP_STD)[:, None, None]
    return (images - mean) / std
