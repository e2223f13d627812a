"""The metrics of the paper's Tables 1 and 3, computed on generated images.

- **CLIPScore** (Hessel et al. 2021) of an image against its clip's ground-truth captions: CLIP ViT-B/32
  (the model of the CLIPScore paper), 2.5 · max(cos, 0) per caption, averaged over the captions.
  The paper's 0.5–0.66 values are on this scale.
- **Inception Score**: torchmetrics' `InceptionScore` fed by the TensorFlow Inception graph of the original
  score (`sound2img.inception`). 10 splits, fewer below 100 images so that a split holds at least 10
  (a split of one image always scores 1). The shuffle before splitting is seeded: scores are reproducible.
- **Object score**, our stand-in for the paper's YOLO score (YOLOv5 is AGPL): RT-DETR from transformers
  finds COCO objects; an image scores 1 when every sound class of its clip that has a visible COCO
  counterpart (`SOUND_OBJECTS`) is detected with confidence ≥ `threshold`. Clips with no such class
  (e.g. rain, wind, a gun shot) are left out of the score's denominator. Two classes shown by the same
  label (crying baby and laughing: a person) are both satisfied by one detection.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from .errors import Sound2ImgError
from .presets import CLIP_VIT_B32, RTDETR_R18, HubModel
from .scoring import ClipScorer, ImageTextScorer, clip_score

# Sound classes (ESC-50 and the four UrbanSound8K classes the paper keeps) → the COCO labels that show
# them; any one of the labels counts. Classes not listed (weather, water, fire, insects, frog, pig, saws,
# bells, machines without a COCO class, gun shots...) have no detectable object.
SOUND_OBJECTS: dict[str, tuple[str, ...]] = {
    # ESC-50: animals
    "dog": ("dog",),
    "cat": ("cat",),
    "cow": ("cow",),
    "sheep": ("sheep",),
    "rooster": ("bird",),
    "hen": ("bird",),
    "crow": ("bird",),
    "chirping_birds": ("bird",),
    # ESC-50: human sounds are made by a person
    "crying_baby": ("person",),
    "laughing": ("person",),
    "sneezing": ("person",),
    "clapping": ("person",),
    "breathing": ("person",),
    "coughing": ("person",),
    "footsteps": ("person",),
    "brushing_teeth": ("person", "toothbrush"),
    "snoring": ("person",),
    "drinking_sipping": ("person", "cup", "bottle", "wine glass"),
    # ESC-50: interior and urban sounds
    "toilet_flush": ("toilet",),
    "mouse_click": ("mouse",),
    "keyboard_typing": ("keyboard", "laptop"),
    "clock_alarm": ("clock",),
    "clock_tick": ("clock",),
    "glass_breaking": ("wine glass", "cup", "bottle"),
    "car_horn": ("car", "truck", "bus"),
    "engine": ("car", "truck", "bus", "motorcycle"),
    "siren": ("car", "truck"),
    "train": ("train",),
    "airplane": ("airplane",),
    # UrbanSound8K
    "dog_bark": ("dog",),
    "children_playing": ("person",),
}


def to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """PIL images of one size → (N, 3, H, W) float in [0, 1]."""
    arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2)


@torch.no_grad()
def caption_clip_score(scorer: ImageTextScorer, image: Image.Image, captions: list[str]) -> float:
    """Mean CLIPScore of one image against each of its ground-truth captions."""
    if not captions:
        raise Sound2ImgError("CLIPScore needs at least one ground-truth caption.")
    image_embedding = scorer.image_embedding(to_tensor([image]))
    cosines = torch.cat([scorer.text_embedding(text) for text in captions]) @ image_embedding[0]
    return float(clip_score(cosines).mean())


@torch.no_grad()
def inception_score(model: nn.Module, images: Sequence[Image.Image | str | Path], *, splits: int = 10, seed: int = 0, batch_size: int = 16) -> tuple[float, float | None]:
    """Inception Score (mean, std over splits) of a set of images; std is None with a single split.
    `splits` is the most splits: each holds at least 10 images. Image files are read a batch at a time."""
    from torchmetrics.image.inception import InceptionScore

    if not images:
        raise Sound2ImgError("The Inception Score needs at least one image.")
    splits = max(1, min(splits, len(images) // 10))
    with warnings.catch_warnings():  # "will save all extracted features": they are 1008 floats per image
        warnings.filterwarnings("ignore", message=".*save all extracted features", category=UserWarning)
        metric = InceptionScore(feature=model, splits=splits, normalize=True)
    for start in range(0, len(images), batch_size):
        metric.update(to_tensor([_open(image) for image in images[start : start + batch_size]]))
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.filterwarnings("ignore", message=".*degrees of freedom", category=UserWarning)  # one split: no std
        mean, std = metric.compute()
    return float(mean), (float(std) if splits > 1 else None)


def _open(image: Image.Image | str | Path) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    with Image.open(image) as file:
        return file.convert("RGB")


def objects_of(label: str) -> dict[str, tuple[str, ...]]:
    """The detectable sound classes of a clip label ("dog" or a Multi-ESC50 pair "dog+rain")."""
    return {name: SOUND_OBJECTS[name] for name in label.split("+") if name in SOUND_OBJECTS}


def object_presence(label: str, found: dict[str, float]) -> dict[str, bool] | None:
    """For each detectable sound class of `label`: whether one of its COCO labels was `found`;
    None when the label has no detectable class."""
    wanted = objects_of(label)
    if not wanted:
        return None
    return {name: any(coco in found for coco in labels) for name, labels in wanted.items()}


class ObjectDetector(Protocol):
    """Finds objects in images; `labels` are the names it can answer with."""

    labels: set[str]

    def detect(self, images: list[Image.Image]) -> list[dict[str, float]]: ...


class TransformersDetector:
    """A transformers object detector (RT-DETR by default): label → best confidence ≥ `threshold`."""

    def __init__(self, model, processor, threshold: float = 0.5):
        self.model = model.eval().requires_grad_(False)
        self.processor = processor
        self.threshold = threshold
        self.labels = set(model.config.id2label.values())
        absent = sorted({coco for labels in SOUND_OBJECTS.values() for coco in labels} - self.labels)
        if absent:
            raise Sound2ImgError(f"The detector has no label for {', '.join(absent)}; the object score needs COCO labels.")

    @classmethod
    def from_pretrained(cls, model: HubModel = RTDETR_R18, *, threshold: float = 0.5, device: torch.device | str = "cpu") -> "TransformersDetector":
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        detector = AutoModelForObjectDetection.from_pretrained(model.repo_id, revision=model.revision).to(device)
        return cls(detector, AutoImageProcessor.from_pretrained(model.repo_id, revision=model.revision), threshold)

    @torch.no_grad()
    def detect(self, images: list[Image.Image]) -> list[dict[str, float]]:
        inputs = self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt").to(self.model.device)
        outputs = self.model(**inputs)
        sizes = [(image.height, image.width) for image in images]
        results = self.processor.post_process_object_detection(outputs, threshold=self.threshold, target_sizes=sizes)
        found = []
        for result in results:
            best: dict[str, float] = {}
            for label, score in zip(result["labels"].tolist(), result["scores"].tolist()):
                name = self.model.config.id2label[label]
                best[name] = max(best.get(name, 0.0), score)
            found.append(best)
        return found


@dataclass
class EvalModels:
    """The models that score generated images; a scorer no clip needs may be left out (None)."""

    image_text: ImageTextScorer | None  # CLIPScore: clips with ground-truth captions
    inception: nn.Module
    detector: ObjectDetector | None  # object score: clips with a detectable sound class
    about: dict[str, str | float] = field(default_factory=dict)  # which weights, for metrics.json

    @classmethod
    def load(
        cls, preset: str, *, device: torch.device | str = "cpu", threshold: float = 0.5, captions: bool = True, objects: bool = True
    ) -> "EvalModels":
        """The real scorers at pinned versions (CLIP only with `captions`, the detector only with `objects`, so
        nothing unused is downloaded), or, for the tiny preset, tiny random ones built in-process."""
        if preset == "tiny":
            from . import tiny

            return tiny.eval_models(threshold=threshold, device=device)
        from .inception import WEIGHTS_SHA256, WEIGHTS_URL, InceptionV3

        about: dict[str, str | float] = {"inception": f"{WEIGHTS_URL} (sha256 {WEIGHTS_SHA256})"}
        try:
            image_text = ClipScorer.from_pretrained(CLIP_VIT_B32.repo_id, CLIP_VIT_B32.revision, device=device) if captions else None
            detector = TransformersDetector.from_pretrained(RTDETR_R18, threshold=threshold, device=device) if objects else None
            inception = InceptionV3.from_pretrained().to(device)
        except OSError as error:
            raise Sound2ImgError(f"Could not load the evaluation models ({error}); they are downloaded on first use.") from error
        if captions:
            about["clip"] = f"{CLIP_VIT_B32.repo_id}@{CLIP_VIT_B32.revision}"
        if objects:
            about.update(detector=f"{RTDETR_R18.repo_id}@{RTDETR_R18.revision}", detector_threshold=threshold)
        return cls(image_text, inception, detector, about)
