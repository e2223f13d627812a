"""Cutouts and augmentations for DSO: shapes, the released code's no-augmentation case, gradients, seeding."""

import pytest
import torch

from sound2img.augment import Cutouts


def test_zero_cutouts_is_the_image_itself():
    images = torch.rand(1, 3, 64, 64)
    assert Cutouts(0)(images) is images


def test_cutouts_are_differentiable_distinct_views_of_clip_size():
    images = torch.rand(1, 3, 96, 64, requires_grad=True)
    torch.manual_seed(0)
    views = Cutouts(4)(images)
    assert views.shape == (4, 3, 224, 224)
    assert 0.0 <= views.min().item() and views.max().item() <= 1.0
    assert not torch.allclose(views[0], views[1])
    views.mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_same_seed_same_cutouts():
    images = torch.rand(1, 3, 64, 64)
    cut = Cutouts(3)
    torch.manual_seed(7)
    first = cut(images)
    torch.manual_seed(7)
    assert torch.equal(cut(images), first)


def test_negative_count_is_refused():
    with pytest.raises(ValueError, match="0 or more"):
        Cutouts(-1)
