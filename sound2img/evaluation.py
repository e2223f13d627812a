"""`python -m sound2img eval`: the paper's Tables 1 and 3 on a local copy of an evaluation set.

Every configuration (the full method and the ablations of Table 3) renders every clip once, into
OUT/<config>/<clip>.png with its JSON sidecar; a rerun reuses finished images made with the same
settings (as `batch` does) and scores them again. Rendering can be split over processes (`render` with rank and world), scoring is one
process's work. Then (see `sound2img.metrics` for the definitions):

- OUT/results.jsonl: one line per clip and configuration: the generated caption, the ground truth, the
  CLIPScore, the detected objects, or the error that stopped the clip;
- OUT/metrics.json: the scores of each configuration beside the paper's;
- OUT/table.md: the same as a markdown table laid out like the paper's tables.

All configurations use the same seed, hence the same starting noise for a clip.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

from PIL import Image
from tqdm.auto import tqdm

from .audio import AUDIO_EXTENSIONS
from .batch import render_to
from .datasets import Clip, Dataset, ensure_audio
from .dso import DSOConfig
from .errors import Sound2ImgError
from .metrics import EvalModels, caption_clip_score, inception_score, object_presence, objects_of
from .pipeline import GenerationParams, Sound2Image


@dataclass(frozen=True)
class Ablation:
    """One row of Table 3: which parts of the method are on."""

    name: str
    title: str
    audio_attention: bool = True
    sentence_attention: bool = True
    dso: bool = True

    def params(self, base: GenerationParams, dso: DSOConfig) -> GenerationParams:
        """`base` with this row's attentions, and DSO off or on (the given steps, else the paper's 10)."""
        weighting = replace(base.weighting, audio_attention=self.audio_attention, sentence_attention=self.sentence_attention)
        steps = (dso.steps or DSOConfig().steps) if self.dso else 0
        return replace(base, weighting=weighting, dso=replace(dso, steps=steps))


ABLATIONS = {
    ablation.name: ablation
    for ablation in (
        Ablation("full", "Ours"),
        Ablation("wo-all", "w/o all", audio_attention=False, sentence_attention=False, dso=False),
        Ablation("wo-attns", "w/o attns", audio_attention=False, sentence_attention=False),
        Ablation("wo-s-attn", "w/o s attn", sentence_attention=False),
        Ablation("wo-a-attn", "w/o a attn", audio_attention=False),
        Ablation("wo-opt", "w/o opt", dso=False),
    )
}

# The paper's Table 1 ("Ours") and Table 3 (ablations), by dataset, configuration and metric.
PAPER_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "audiocaps": {
        "full": {"clip_score": 0.6580, "inception_score": 17.03},
        "wo-all": {"clip_score": 0.6538, "inception_score": 16.13},
        "wo-attns": {"clip_score": 0.6563, "inception_score": 16.57},
        "wo-s-attn": {"clip_score": 0.6573, "inception_score": 16.63},
        "wo-a-attn": {"clip_score": 0.6564, "inception_score": 16.75},
        "wo-opt": {"clip_score": 0.6581, "inception_score": 16.00},
    },
    "clotho": {"full": {"clip_score": 0.5875, "inception_score": 17.47}},
    "urbansound8k": {"full": {"inception_score": 6.30}},
    "multi-esc50": {
        "full": {"inception_score": 6.51, "object_score": 0.7857},
        "wo-all": {"inception_score": 5.80, "object_score": 0.4186},
        "wo-attns": {"inception_score": 6.24, "object_score": 0.6914},
        "wo-s-attn": {"inception_score": 6.32, "object_score": 0.7285},
        "wo-a-attn": {"inception_score": 6.46, "object_score": 0.7243},
        "wo-opt": {"inception_score": 6.15, "object_score": 0.7200},
    },
}

# Column title, number format and footnote of each metric; the paper's "Yolo" column is our object score.
METRICS = {
    "clip_score": ("CLIPscore", "{:.4f}", "2.5·max(cos, 0) of CLIP ViT-B/32 against each ground-truth caption, mean over captions and images"),
    "inception_score": ("IS", "{:.2f}", "Inception Score of the TensorFlow Inception graph, ± std over splits"),
    "object_score": ("Object", "{:.4f}", "share of images showing every detectable sound class of the clip (RT-DETR, COCO labels; the paper's YOLOv5 score)"),
}


@dataclass
class ConfigScores:
    """The scores of one configuration over the clips it rendered."""

    config: str
    title: str
    images: int
    failed: int
    clip_score: float | None = None
    inception_score: float | None = None
    inception_std: float | None = None
    object_score: float | None = None
    object_clips: int = 0


@dataclass
class EvalReport:
    """What `evaluate` found: the scores per configuration and one result row per clip and configuration."""

    dataset: str
    preset: str
    clips: int
    missing: list[str]
    scores: list[ConfigScores]
    models: dict = field(default_factory=dict)  # the image models and the scorers
    results: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(score.failed for score in self.scores)

    def columns(self) -> list[str]:
        """The metrics this dataset has: CLIPScore needs captions, the object score detectable classes."""
        paper = PAPER_RESULTS.get(self.dataset, {}).values()

        def present(metric: str) -> bool:
            return any(getattr(s, metric) is not None for s in self.scores) or any(metric in row for row in paper)

        return [metric for metric in METRICS if metric == "inception_score" or present(metric)]

    def table(self) -> str:
        """Markdown: one row per configuration, each metric ours then the paper's."""
        paper = PAPER_RESULTS.get(self.dataset, {})
        columns = self.columns()
        header = ["Model", "Images"] + [f"{METRICS[m][0]} {tag}" for m in columns for tag in ("(ours)", "(paper)")]
        lines = [
            f"### {self.dataset}: preset `{self.preset}`, {self.clips} clips ({len(self.missing)} listed but missing)",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for score in self.scores:
            cells = [score.title, f"{score.images}" + (f" ({score.failed} failed)" if score.failed else "")]
            for metric in columns:
                ours = _format(metric, getattr(score, metric))
                if metric == "inception_score" and score.inception_std is not None:
                    ours += f" ± {score.inception_std:.2f}"
                cells += [ours, _format(metric, paper.get(score.config, {}).get(metric))]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", " ".join(f"{METRICS[m][0]}: {METRICS[m][2]}." for m in columns)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        paper = PAPER_RESULTS.get(self.dataset, {})
        return {
            "dataset": self.dataset,
            "preset": self.preset,
            "clips": self.clips,
            "missing": self.missing,
            "models": self.models,
            "configs": {s.config: {**asdict(s), "paper": paper.get(s.config, {})} for s in self.scores},
        }


def select_clips(dataset: Dataset, limit: int | None = None) -> list[Clip]:
    """The clips to evaluate: all, or `limit` spread evenly over the dataset's order (so every class of a
    class-ordered set shows up)."""
    clips = dataset.clips
    if not clips:
        raise Sound2ImgError(f"No {dataset.name} clip has its audio file ({len(dataset.missing)} missing); check --root.")
    if limit is None or limit >= len(clips):
        return clips
    if limit < 1:
        raise Sound2ImgError(f"--limit must be at least 1, got {limit}.")
    return [clips[i * len(clips) // limit] for i in range(limit)]


def has_objects(clip: Clip) -> bool:
    """Whether the clip's label names a sound class a detector can find (see `SOUND_OBJECTS`)."""
    return bool(clip.label and objects_of(clip.label))


def image_name(clip: Clip) -> str:
    """A file name for a clip's image: its id without an audio extension, never a sub-path."""
    name = clip.id[: -len(Path(clip.id).suffix)] if Path(clip.id).suffix.lower() in AUDIO_EXTENSIONS else clip.id
    return name.replace("/", "_").replace("\\", "_")


def render(
    pipe: Sound2Image,
    clips: list[Clip],
    configs: Iterable[Ablation],
    base: GenerationParams,
    out_dir: str | Path,
    *,
    rank: int = 0,
    world: int = 1,
    show_progress: bool = True,
) -> dict[tuple[str, str], str]:
    """Render every configuration's image of `clips[rank::world]`, skipping finished ones.

    Returns the clips that failed, as (configuration, clip id) → message. Processes with different ranks
    never write the same file, so shards can render side by side (`eval --render-only`)."""
    out_dir = Path(out_dir)
    dso = base.dso if base.dso is not None else pipe.preset.dso
    errors = {}
    for ablation in configs:
        params = ablation.params(base, dso)
        for clip in tqdm(clips[rank::world], desc=ablation.name + (f" {rank + 1}/{world}" if world > 1 else ""), disable=not show_progress):
            try:
                render_to(pipe, ensure_audio(clip), out_dir / ablation.name / image_name(clip), params)
            except Sound2ImgError as error:
                errors[ablation.name, clip.id] = str(error)
    return errors


def evaluate(
    pipe: Sound2Image,
    models: EvalModels,
    dataset: Dataset,
    configs: Iterable[Ablation],
    base: GenerationParams,
    out_dir: str | Path,
    *,
    limit: int | None = None,
    show_progress: bool = True,
) -> EvalReport:
    """Render what is not rendered yet, score every image, and write the three result files."""
    out_dir, configs = Path(out_dir), list(configs)
    clips = select_clips(dataset, limit)
    if (models.image_text is None and any(clip.captions for clip in clips)) or (models.detector is None and any(map(has_objects, clips))):
        raise Sound2ImgError("These clips need a scorer the evaluation models lack; load them with captions=True, objects=True.")
    errors = render(pipe, clips, configs, base, out_dir, show_progress=show_progress)
    report = EvalReport(dataset.name, pipe.preset.name, len(clips), dataset.missing, [], {"pipeline": pipe.models, "scorers": models.about})
    for ablation in configs:
        rows = [_score(models, clip, ablation, out_dir, errors.get((ablation.name, clip.id))) for clip in clips]
        report.results += rows
        report.scores.append(_summarise(ablation, rows, models, out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in report.results)
    (out_dir / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    (out_dir / "table.md").write_text(report.table(), encoding="utf-8")
    return report


def _score(models: EvalModels, clip: Clip, ablation: Ablation, out_dir: Path, error: str | None) -> dict:
    """One line of results.jsonl: the clip's rendered image and its scores, or why there is none."""
    row = {"config": ablation.name, "clip": clip.id, "audio": str(clip.path), "label": clip.label, "captions": clip.captions}
    if error is not None:
        return {**row, "error": error}
    target = out_dir / ablation.name / image_name(clip)
    png = target.with_name(target.name + ".png")
    sidecar = json.loads(target.with_name(target.name + ".json").read_text(encoding="utf-8"))
    row.update(image=png.relative_to(out_dir).as_posix(), caption=sidecar["caption"])
    with Image.open(png) as file:
        image = file.convert("RGB")
    if clip.captions:
        row["clip_score"] = caption_clip_score(models.image_text, image, clip.captions)
    if clip.label:
        found = models.detector.detect([image])[0]
        presence = object_presence(clip.label, found)
        if presence is not None:
            row.update(objects=found, object_found=presence, object_hit=all(presence.values()))
    return row


def _summarise(ablation: Ablation, rows: list[dict], models: EvalModels, out_dir: Path) -> ConfigScores:
    done = [row for row in rows if "error" not in row]
    scores = ConfigScores(ablation.name, ablation.title, images=len(done), failed=len(rows) - len(done))
    if not done:
        return scores
    captioned = [row["clip_score"] for row in done if "clip_score" in row]
    if captioned:
        scores.clip_score = sum(captioned) / len(captioned)
    hits = [row["object_hit"] for row in done if "object_hit" in row]
    if hits:
        scores.object_score, scores.object_clips = sum(hits) / len(hits), len(hits)
    scores.inception_score, scores.inception_std = inception_score(models.inception, [out_dir / row["image"] for row in done])
    return scores


def _format(metric: str, value: float | None) -> str:
    return "—" if value is None else METRICS[metric][1].format(value)
