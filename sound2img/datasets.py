"""Readers for the paper's evaluation sets in their published formats, and the Multi-ESC50 builder.

Nothing is downloaded: point `root` at a local copy. Accepted layouts (audio files may have any common
audio extension; a clip whose audio is missing is listed in `Dataset.missing`, never fatal):

- AudioCaps: `ROOT/test.csv` (`audiocap_id, youtube_id, start_time, caption`; several rows per clip) and
  audio named `<youtube_id>`, `Y<youtube_id>` (AudioSet's naming), `<youtube_id>_<start_time>` or
  `<audiocap_id>`, in `ROOT/` or `ROOT/audio/`.
- Clotho: `ROOT/clotho_captions_evaluation.csv` (`file_name, caption_1..caption_5`) and audio named
  `file_name` in `ROOT/`, `ROOT/audio/` or `ROOT/evaluation/`.
- UrbanSound8K: `ROOT/metadata/UrbanSound8K.csv` (or `ROOT/UrbanSound8K.csv`) and audio in
  `ROOT/audio/fold<N>/` or `ROOT/fold<N>/`; only the paper's four classes are kept.
- ESC-50: `ROOT/meta/esc50.csv` (or `ROOT/esc50.csv`) and audio in `ROOT/audio/` or `ROOT/`.
- Multi-ESC50 (paper Sec. 4.1): built from ESC-50, 7 pair classes × 100 clips, each the concatenation of a
  clip of the first class and a clip of the second, drawn with a fixed seed (see `MULTI_ESC50_PAIRS`);
  the files are written at once, or one by one through `ensure_audio` (`write=False`).
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import AUDIO_EXTENSIONS, load_audio
from .errors import Sound2ImgError

URBANSOUND_CLASSES = ("dog_bark", "children_playing", "car_horn", "gun_shot")

# The paper names one pair (crying baby + laughing) and the kinds: three pairs of two objects, four of an
# object over a background. Ours, chosen so that every object is a COCO class a detector can find:
MULTI_ESC50_PAIRS = (
    ("crying_baby", "laughing"),  # two objects: people
    ("dog", "cat"),  # two objects
    ("cow", "sheep"),  # two objects
    ("dog", "rain"),  # object and background
    ("train", "thunderstorm"),  # object and background
    ("airplane", "wind"),  # object and background
    ("chirping_birds", "sea_waves"),  # object and background
)


@dataclass
class Clip:
    """One evaluation item: its audio, its ground-truth captions (if any) and its class (if any)."""

    id: str
    path: Path
    captions: list[str] = field(default_factory=list)
    label: str | None = None
    parts: tuple[Path, Path] | None = None  # Multi-ESC50: the two ESC-50 files `path` concatenates


def ensure_audio(clip: Clip) -> Path:
    """The clip's audio file; a Multi-ESC50 clip built with `write=False` is written on first use."""
    if clip.parts is not None and not clip.path.is_file():
        _concatenate(*clip.parts, clip.path)
    return clip.path


@dataclass
class Dataset:
    name: str
    clips: list[Clip]
    missing: list[str]


def read(name: str, root: str | Path, **kwargs) -> Dataset:
    """The named dataset from `root` (see the module docstring for the layouts)."""
    readers = {"audiocaps": audiocaps, "clotho": clotho, "urbansound8k": urbansound8k, "esc50": esc50, "multi-esc50": multi_esc50}
    if name not in readers:
        raise Sound2ImgError(f"Unknown dataset {name!r}; choose one of {', '.join(readers)}.")
    root = Path(root)
    if not root.is_dir():
        raise Sound2ImgError(f"No dataset folder at {root}.")
    return readers[name](root, **kwargs)


def audiocaps(root: Path) -> Dataset:
    rows = _rows(_first_existing(root, "test.csv"))
    captions: dict[str, list[str]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)  # the file stems a clip's audio may have
    for row in rows:
        youtube_id = row["youtube_id"]
        captions[youtube_id].append(row["caption"])
        names[youtube_id] += [youtube_id, f"Y{youtube_id}", f"{youtube_id}_{row['start_time']}", row["audiocap_id"]]
    index = _audio_index(root, root / "audio")
    clips, missing = [], []
    for youtube_id, texts in captions.items():
        path = next((index[k] for k in names[youtube_id] if k in index), None)
        _add(clips, missing, youtube_id, path, captions=texts)
    return Dataset("audiocaps", clips, missing)


def clotho(root: Path) -> Dataset:
    rows = _rows(_first_existing(root, "clotho_captions_evaluation.csv"))
    clips, missing = [], []
    for row in rows:
        name = row["file_name"]
        path = _first_file(root, root / "audio", root / "evaluation", name=name)
        texts = [row[f"caption_{i}"] for i in range(1, 6) if row.get(f"caption_{i}")]
        _add(clips, missing, name, path, captions=texts)
    return Dataset("clotho", clips, missing)


def urbansound8k(root: Path) -> Dataset:
    rows = _rows(_first_existing(root, "metadata/UrbanSound8K.csv", "UrbanSound8K.csv"))
    clips, missing = [], []
    for row in rows:
        if row["class"] in URBANSOUND_CLASSES:
            path = _first_file(root / "audio" / f"fold{row['fold']}", root / f"fold{row['fold']}", name=row["slice_file_name"])
            _add(clips, missing, row["slice_file_name"], path, label=row["class"])
    return Dataset("urbansound8k", clips, missing)


def esc50(root: Path) -> Dataset:
    rows = _rows(_first_existing(root, "meta/esc50.csv", "esc50.csv"))
    clips, missing = [], []
    for row in rows:
        _add(clips, missing, row["filename"], _first_file(root / "audio", root, name=row["filename"]), label=row["category"])
    return Dataset("esc50", clips, missing)


def multi_esc50(root: Path, out_dir: str | Path | None = None, per_pair: int = 100, seed: int = 0, write: bool = True) -> Dataset:
    """Build Multi-ESC50 from an ESC-50 copy: `per_pair` concatenated clips for each of the 7 pairs.

    The audio is written to `out_dir` (default `ROOT/multi-esc50`) at the first clip's sample rate and kept:
    a second call with the same seed reads the same files. With `write=False` the draw is the same but each
    file is written only when `ensure_audio` asks for it (evaluating a subset writes only that subset).
    """
    source = esc50(root)
    by_class: dict[str, list[Clip]] = defaultdict(list)
    for clip in source.clips:
        by_class[clip.label].append(clip)
    out_dir = Path(out_dir or root / "multi-esc50")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    clips, missing = [], list(source.missing)
    for first, second in MULTI_ESC50_PAIRS:
        label = f"{first}+{second}"
        if not by_class[first] or not by_class[second]:
            missing.append(label)
            continue
        for i in range(per_pair):
            a, b = rng.choice(by_class[first]), rng.choice(by_class[second])
            path = out_dir / f"{label}-{i:03d}.wav"
            clips.append(Clip(id=path.stem, path=path, label=label, parts=(a.path, b.path)))
            if write:
                ensure_audio(clips[-1])
    return Dataset("multi-esc50", clips, missing)


def _concatenate(first: Path, second: Path, target: Path) -> None:
    one, two = load_audio(first), load_audio(second)
    rate = one.sample_rate
    samples = np.concatenate([one.samples, two.resampled(rate)])
    partial = target.with_name(target.stem + ".partial.wav")  # never a half-written clip under the real name
    sf.write(partial, samples, rate)
    partial.replace(target)


def _add(clips: list[Clip], missing: list[str], clip_id: str, path: Path | None, **fields) -> None:
    if path is None:
        missing.append(clip_id)
    else:
        clips.append(Clip(id=clip_id, path=path, **fields))


def _first_file(*folders: Path, name: str) -> Path | None:
    return next((folder / name for folder in folders if (folder / name).is_file()), None)


def _audio_index(*folders: Path) -> dict[str, Path]:
    return {p.stem: p for f in folders if f.is_dir() for p in sorted(f.iterdir()) if p.suffix.lower() in AUDIO_EXTENSIONS}


def _first_existing(root: Path, *names: str) -> Path:
    for name in names:
        if (root / name).is_file():
            return root / name
    raise Sound2ImgError(f"{root}: none of {', '.join(names)} found; see the accepted layouts in sound2img/datasets.py.")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
