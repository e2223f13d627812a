"""The evaluation metrics on inputs with known answers, the Inception graph's layout, and the detector."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sound2img import Sound2ImgError
from sound2img.datasets import MULTI_ESC50_PAIRS, URBANSOUND_CLASSES
from sound2img.checkpoints import sha256_of
from sound2img.inception import NUM_CLASSES, WEIGHTS_SHA256, WEIGHTS_URL, InceptionV3, resize_like_tf1
from sound2img.metrics import SOUND_OBJECTS, TransformersDetector, caption_clip_score, inception_score, object_presence
from sound2img.tiny import COCO_LABELS


def images(n, size=32):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


class FixedScorer:
    """Embeds every image as `image` and each caption as the vector given for it."""

    def __init__(self, image, texts):
        self.image, self.texts = F.normalize(torch.tensor([image]), dim=-1), texts

    def text_embedding(self, text):
        return F.normalize(torch.tensor([self.texts[text]]), dim=-1)

    def image_embedding(self, pixels):
        assert pixels.shape[1:] == (3, 32, 32) and 0 <= pixels.min() and pixels.max() <= 1
        return self.image.expand(len(pixels), -1)


def test_clip_score_is_2_5_for_identical_embeddings_and_averages_captions():
    scorer = FixedScorer([1.0, 0.0], {"same": [1.0, 0.0], "orthogonal": [0.0, 1.0], "opposite": [-1.0, 0.0], "cos 0.6": [0.6, 0.8]})
    image = images(1)[0]
    assert caption_clip_score(scorer, image, ["same"]) == pytest.approx(2.5)
    assert caption_clip_score(scorer, image, ["orthogonal"]) == pytest.approx(0.0)
    assert caption_clip_score(scorer, image, ["opposite"]) == 0.0  # max(cos, 0)
    assert caption_clip_score(scorer, image, ["same", "cos 0.6"]) == pytest.approx((2.5 + 1.5) / 2)
    with pytest.raises(Sound2ImgError, match="ground-truth caption"):
        caption_clip_score(scorer, image, [])


class LookupClassifier(torch.nn.Module):
    """Logits chosen per image by its top-left pixel value (so the test decides p(y|x))."""

    def __init__(self, logits_by_value):
        super().__init__()
        self.table = logits_by_value

    def forward(self, uint8_images):
        assert uint8_images.dtype == torch.uint8  # torchmetrics hands over 0..255 with normalize=True
        return torch.stack([self.table[int(v)] for v in uint8_images[:, 0, 0, 0]])


def coloured(values):
    return [Image.new("RGB", (16, 16), (v, v, v)) for v in values]


def test_inception_score_of_a_uniform_classifier_is_1():
    uniform = LookupClassifier({v: torch.zeros(NUM_CLASSES) for v in range(256)})
    mean, std = inception_score(uniform, coloured(range(0, 250, 10)))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_of_confident_predictions_spread_over_k_classes_is_k():
    """p(y|x) one-hot, p(y) uniform over 4 classes: KL = log 4 for every image, IS = 4."""
    table = {v: 100.0 * F.one_hot(torch.tensor(v % 4), NUM_CLASSES).float() for v in range(8)}
    mean, std = inception_score(LookupClassifier(table), coloured(range(8)))
    assert mean == pytest.approx(4.0, rel=1e-4) and std is None  # 8 images: a single split


def test_inception_score_splits_hold_at_least_ten_images_and_read_files(tmp_path):
    table = {v: 100.0 * F.one_hot(torch.tensor(v % 5), NUM_CLASSES).float() for v in range(256)}
    paths = []
    for i, image in enumerate(coloured(range(200))):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    mean, std = inception_score(LookupClassifier(table), paths, splits=10)
    assert std is not None  # 200 images: 10 splits of 20
    assert 1.0 < mean <= 5.0
    assert inception_score(LookupClassifier(table), paths, splits=10) == (mean, std)  # seeded shuffle


def test_inception_graph_has_the_layout_of_the_fid_weights():
    model = InceptionV3()
    # torchvision's Inception3(num_classes=1008, aux_logits=False), whose names the weight file uses:
    # 27,161,264 parameters with the auxiliary head and 1000 classes, minus the auxiliary head's 3,326,696,
    # plus 8 more classes × 2049 = 23,850,960.
    assert sum(p.numel() for p in model.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049
    state = model.state_dict()
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert "Conv2d_1a_3x3.bn.running_var" in state and not any("Aux" in key for key in state)
    with torch.no_grad():
        logits = model.eval()(torch.randint(0, 255, (2, 3, 40, 60), dtype=torch.uint8))
    assert logits.shape == (2, NUM_CLASSES)
    with torch.no_grad():  # the "unbiased" logits: pool3 · Wᵀ, the bias left out
        pool3 = model.pool3(torch.full((1, 3, 8, 8), 128, dtype=torch.uint8))
        assert torch.allclose(model(torch.full((1, 3, 8, 8), 128, dtype=torch.uint8)), pool3 @ model.fc.weight.T)


def test_inception_input_is_resized_as_tensorflow_1_does():
    row = torch.tensor([0.0, 10.0]).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    # Output pixel i samples input position i · 2/4 = 0, 0.5, 1, 1.5 (the last clamps to the edge):
    assert resize_like_tf1(row, 4)[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]
    assert F.interpolate(row, size=(4, 4), mode="bilinear", align_corners=False)[0, 0, 0].tolist() == [0.0, 2.5, 7.5, 10.0]
    down = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 6, 6)
    assert resize_like_tf1(down, 4)[0, 0, 0].tolist() == [0.0, 1.5, 3.0, 4.5]  # positions i · 1.5, no antialiasing
    image = torch.rand(2, 3, 5, 7)
    assert torch.equal(resize_like_tf1(image[..., :5], 5), image[..., :5])


def test_inception_weights_load_from_a_checked_file_strictly(tmp_path):
    reference = InceptionV3()
    source = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(reference.state_dict(), source)
    model = InceptionV3.from_pretrained(source.as_uri(), sha256_of(source), cache_dir=tmp_path / "cache")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    assert WEIGHTS_SHA256.startswith("6726825d")  # the release names its file by the sha256 prefix
    state = reference.state_dict()
    del state["fc.bias"]
    torch.save(state, tmp_path / "incomplete.pth")
    with pytest.raises(RuntimeError, match="fc.bias"):
        InceptionV3.from_pretrained((tmp_path / "incomplete.pth").as_uri(), sha256_of(tmp_path / "incomplete.pth"), tmp_path / "cache")


def test_every_mapped_object_is_a_coco_label_and_every_pair_has_one():
    assert {coco for labels in SOUND_OBJECTS.values() for coco in labels} <= set(COCO_LABELS)
    assert all(any(c in SOUND_OBJECTS for c in pair) for pair in MULTI_ESC50_PAIRS)
    assert {"dog_bark", "children_playing", "car_horn"} <= set(SOUND_OBJECTS) and "gun_shot" not in SOUND_OBJECTS
    assert set(SOUND_OBJECTS) >= set(URBANSOUND_CLASSES) - {"gun_shot"}


def test_object_presence_checks_each_detectable_class():
    assert object_presence("dog+rain", {"dog": 0.9}) == {"dog": True}  # rain has no object
    assert object_presence("dog+cat", {"dog": 0.9, "person": 0.7}) == {"dog": True, "cat": False}
    assert object_presence("crying_baby+laughing", {"person": 0.6}) == {"crying_baby": True, "laughing": True}
    assert object_presence("car_horn", {"bus": 0.8}) == {"car_horn": True}
    assert object_presence("train+thunderstorm", {}) == {"train": False}
    assert object_presence("gun_shot", {"person": 0.9}) is None
    assert object_presence("rain+wind", {"dog": 1.0}) is None


def test_detector_reports_labels_above_the_threshold():
    from sound2img import tiny

    detector = tiny.detector(threshold=0.0)
    found = detector.detect(images(2, size=48))
    assert len(found) == 2 and found[0] and set(found[0]) <= set(COCO_LABELS)
    assert all(0.0 <= score <= 1.0 for score in found[0].values())
    detector.threshold = 1.01
    assert detector.detect(images(1)) == [{}]


def test_detector_without_coco_labels_is_refused():
    from sound2img import tiny

    model = tiny.detector().model
    model.config.id2label = {i: f"LABEL_{i}" for i in range(80)}
    with pytest.raises(Sound2ImgError, match="no label for"):
        TransformersDetector(model, None)


def test_detector_loads_at_its_pinned_revision(monkeypatch):
    import transformers

    from sound2img import tiny
    from sound2img.presets import RTDETR_R18

    stand_in = tiny.detector()
    calls = []
    for cls, value in ((transformers.AutoModelForObjectDetection, stand_in.model), (transformers.AutoImageProcessor, stand_in.processor)):

        def fake(cls_, repo_id, *, revision, _value=value, **kwargs):
            calls.append((cls_.__name__, repo_id, revision))
            return _value

        monkeypatch.setattr(cls, "from_pretrained", classmethod(fake))
    detector = TransformersDetector.from_pretrained(threshold=0.3)
    assert calls == [
        ("AutoModelForObjectDetection", RTDETR_R18.repo_id, RTDETR_R18.revision),
        ("AutoImageProcessor", RTDETR_R18.repo_id, RTDETR_R18.revision),
    ]
    assert detector.threshold == 0.3 and detector.model is stand_in.model


def test_real_scorers_load_at_their_pins_and_a_failed_download_is_readable(monkeypatch):
    from sound2img import inception, metrics, tiny
    from sound2img.presets import CLIP_VIT_B32, RTDETR_R18

    small = tiny.eval_models()
    calls = []

    def record(name, value):
        def fake(cls_, *args, **kwargs):
            calls.append((name, args, kwargs))
            return value

        return classmethod(fake)

    monkeypatch.setattr(metrics.ClipScorer, "from_pretrained", record("clip", small.image_text))
    monkeypatch.setattr(metrics.TransformersDetector, "from_pretrained", record("detector", small.detector))
    monkeypatch.setattr(inception.InceptionV3, "from_pretrained", record("inception", small.inception))
    models = metrics.EvalModels.load("default", threshold=0.4)
    assert calls[0][:2] == ("clip", (CLIP_VIT_B32.repo_id, CLIP_VIT_B32.revision))
    assert calls[1][:2] == ("detector", (RTDETR_R18,)) and calls[1][2]["threshold"] == 0.4
    assert calls[2][0] == "inception"
    assert models.about["detector"] == f"{RTDETR_R18.repo_id}@{RTDETR_R18.revision}" and models.about["inception"].startswith(WEIGHTS_URL)

    def offline(cls_, *args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    calls.clear()
    only_objects = metrics.EvalModels.load("default", captions=False)
    assert [name for name, *_ in calls] == ["detector", "inception"] and only_objects.image_text is None
    assert "clip" not in only_objects.about and "detector" in only_objects.about

    monkeypatch.setattr(metrics.ClipScorer, "from_pretrained", classmethod(offline))
    with pytest.raises(Sound2ImgError, match="Could not load the evaluation models"):
        metrics.EvalModels.load("default")
