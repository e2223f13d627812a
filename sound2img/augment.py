"""VQGAN-CLIP-style augmentations for direct sound optimization (paper Sec. 3.5).

The scores are computed on several random cutouts of the image, each flipped, warped and colour-jittered,
so the optimization rewards what the whole picture shows rather than pixel patterns one view of CLIP
likes. `count = 0` is the released code: the image itself, scored once.
Randomness comes from torch's global generator; seed it (e.g. inside `torch.random.fork_rng`) for
reproducible runs.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn


class Cutouts(nn.Module):
    """`count` random square crops (between `min_scale` and all of the shorter side), resized to `size`."""

    def __init__(self, count: int, size: int = 224, min_scale: float = 0.5):
        super().__init__()
        if count < 0:
            raise ValueError(f"the number of cutouts must be 0 or more, got {count}")
        self.count, self.size, self.min_scale = count, size, min_scale
        self.augment = K.AugmentationSequential(
            K.RandomHorizontalFlip(p=0.5),
            K.RandomAffine(degrees=15, translate=(0.1, 0.1), shear=5, p=0.7, padding_mode="border"),
            K.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05, p=0.7),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] → [count·B, 3, size, size] (or the images unchanged when count is 0)."""
        if self.count == 0:
            return images
        height, width = images.shape[-2:]
        shortest = min(height, width)
        crops = []
        for _ in range(self.count):
            side = int(shortest * (self.min_scale + (1 - self.min_scale) * torch.rand(()).item()))
            top = int(torch.randint(0, height - side + 1, ()).item())
            left = int(torch.randint(0, width - side + 1, ()).item())
            crop = images[..., top : top + side, left : left + side]
            crops.append(F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True))
        return self.augment(torch.cat(crops)).clamp(0, 1)
