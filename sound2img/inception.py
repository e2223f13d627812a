"""The Inception-v3 network of the Inception Score: TensorFlow's 2015-12-05 graph, as ported for FID.

Inception Score numbers (the paper's Table 1 included) come from that exact graph, not from torchvision's
Inception-v3: it has 1008 classes and three blocks that pool differently (average pooling that ignores
the padding, and max pooling in the last block). This is our own module with the layer names of the
released PyTorch port, so its weight file loads strictly. The file comes from the pytorch-fid release
(the same file torch-fidelity, and so torchmetrics, uses) and is checked against its sha256.

Images go in as uint8 (N, 3, H, W), the way torchmetrics' `InceptionScore(normalize=True)` hands them
over, and are prepared as the TensorFlow graph does it: TensorFlow 1's bilinear resize to 299² (no
half-pixel offset, no antialiasing), then (x − 128) / 128. The output is the 1008 "unbiased" logits,
pool3 · Wᵀ without the bias, which is what the original Inception Score code turns into probabilities.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoints import download_checkpoint

WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
NUM_CLASSES = 1008
INPUT_SIZE = 299


def resize_like_tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) to size², as TensorFlow 1's `resize_bilinear` with its defaults:
    output pixel i samples input position i · (in / out), with no half-pixel offset and no antialiasing
    (PyTorch's `interpolate` samples (i + ½) · (in / out) − ½, which gives other values)."""
    for dim in (2, 3):
        length = images.shape[dim]
        source = torch.arange(size, dtype=torch.float64, device=images.device) * (length / size)
        low = source.floor().long().clamp(max=length - 1)
        high = (low + 1).clamp(max=length - 1)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        fraction = (source - low).to(images.dtype).view(shape)
        images = images.index_select(dim, low) * (1 - fraction) + images.index_select(dim, high) * fraction
    return images


class ConvBN(nn.Module):
    """Convolution without bias, batch norm (TensorFlow's epsilon) and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1, padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 average pooling that, like TensorFlow's, averages only over pixels inside the image."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _row(cin: int, cout: int, n: int) -> ConvBN:
    """A 1×n convolution (padding keeps the size)."""
    return ConvBN(cin, cout, (1, n), padding=(0, n // 2))


def _column(cin: int, cout: int, n: int) -> ConvBN:
    """An n×1 convolution (padding keeps the size)."""
    return ConvBN(cin, cout, (n, 1), padding=(n // 2, 0))


class MixedA(nn.Module):
    """35×35 block: 1×1, 5×5, double 3×3 and pooled branches."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class ReductionB(nn.Module):
    """35×35 → 17×17."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, 3, stride=2)], 1)


class MixedC(nn.Module):
    """17×17 block with factorised 7×7 convolutions."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, c7, 1)
        self.branch7x7_2 = _row(c7, c7, 7)
        self.branch7x7_3 = _column(c7, 192, 7)
        self.branch7x7dbl_1 = ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = _column(c7, c7, 7)
        self.branch7x7dbl_3 = _row(c7, c7, 7)
        self.branch7x7dbl_4 = _column(c7, c7, 7)
        self.branch7x7dbl_5 = _row(c7, 192, 7)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_avg_pool(x))], 1)


class ReductionD(nn.Module):
    """17×17 → 8×8."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = _row(192, 192, 7)
        self.branch7x7x3_3 = _column(192, 192, 7)
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, 3, stride=2)], 1)


class MixedE(nn.Module):
    """8×8 block with split 3×3 convolutions; the graph's last block max-pools where the first averages."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = _row(384, 384, 3)
        self.branch3x3_2b = _column(384, 384, 3)
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _row(384, 384, 3)
        self.branch3x3dbl_3b = _column(384, 384, 3)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(three),
                self.branch3x3_2b(three),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


class InceptionV3(nn.Module):
    """uint8 images → 1008 unbiased logits (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, 32)
        self.Mixed_5c = MixedA(256, 64)
        self.Mixed_5d = MixedA(288, 64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = MixedC(768, 128)
        self.Mixed_6c = MixedC(768, 160)
        self.Mixed_6d = MixedC(768, 160)
        self.Mixed_6e = MixedC(768, 192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = MixedE(1280, max_pool=False)
        self.Mixed_7c = MixedE(2048, max_pool=True)
        self.fc = nn.Linear(2048, NUM_CLASSES)

    @classmethod
    def from_pretrained(cls, url: str = WEIGHTS_URL, sha256: str = WEIGHTS_SHA256, cache_dir: str | Path | None = None) -> "InceptionV3":
        """Download the weights once (checked by sha256) and load them strictly."""
        model = cls()
        model.load_state_dict(torch.load(download_checkpoint(url, sha256, cache_dir), map_location="cpu", weights_only=True), strict=True)
        return model.eval().requires_grad_(False)

    def pool3(self, images: torch.Tensor) -> torch.Tensor:
        """The 2048-d pooled features (FID's features) of uint8 images."""
        x = resize_like_tf1(images.to(self.fc.weight.device, torch.float32), INPUT_SIZE)
        x = (x - 128.0) / 128.0
        for stem in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3):
            x = stem(x)
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.linear(self.pool3(images), self.fc.weight)
